"""The public surface matches API.md."""

from __future__ import annotations

import re
from pathlib import Path

import ailib

ROOT = Path(__file__).resolve().parents[2]
API_MD = ROOT / "docs" / "API.md"  # the contract travels with the repository; no test reads outside it

# Names API.md promises at top level; checked against ailib.__all__ once they exist.
TOP_LEVEL = """Provider ConnectionOptions CustomProviderBuilder Role Content Message Tool ToolCall
ChatCompletionRequest ChatCompletionResponse Usage Attempt StreamChunk AiClient AiClientBuilder
RetryPolicy AiLibError ConfigurationError InvalidRequestError ContextLengthExceededError
ContentFilteredError AuthenticationError ModelNotFoundError RateLimitExceeded TimeoutError
DeadlineExceededError NetworkError ProviderError ProtocolError StreamInterruptedError
CircuitOpenError LocalRateLimitError AllProvidersFailedError ModelArray ModelEndpoint
LoadBalancingStrategy FallbackChain HealthCheck CircuitBreakerPolicy RateLimitPolicy HedgePolicy""".split()


def test_all_covers_the_contract_names():
    """Every API.md name implemented so far is exported in ailib.__all__ and importable."""
    for name in TOP_LEVEL:
        assert name in ailib.__all__, name
        assert getattr(ailib, name) is not None


def test_all_has_no_dangling_names():
    """Every name in __all__ exists."""
    for name in ailib.__all__:
        assert hasattr(ailib, name), name


def test_contract_file_names_are_all_known():
    """Each backticked CamelCase name API.md lists is exported by ailib, or by the submodule whose section names it."""
    import ailib.metrics
    import ailib.testing

    assert API_MD.exists(), f"the contract should be in the repository at {API_MD}"
    text = API_MD.read_text()
    named = set(re.findall(r"`([A-Z][A-Za-z]+)[(`.]", text))
    in_submodules = {name for module in (ailib.testing, ailib.metrics) for name in module.__all__}
    not_ours = {"Path"}  # pathlib.Path, named where a cache may be a SQLite path
    missing = named - set(ailib.__all__) - in_submodules - not_ours
    assert not missing, f"API.md names not exported: {sorted(missing)}"


def test_no_test_reads_outside_the_repository():
    """No test module names a path above the repository (such as ../shared), so a clone stands alone."""
    offenders = []
    for path in (ROOT / "tests").rglob("*.py"):
        if path == Path(__file__).resolve():
            continue  # this file spells the patterns out
        text = path.read_text(encoding="utf-8")
        if re.search(r"parents\[(?:[3-9]|\d\d)\]|[\"']\.\./|/work/shared", text):
            offenders.append(str(path.relative_to(ROOT)))
    assert not offenders, offenders
