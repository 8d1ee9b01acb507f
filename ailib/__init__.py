"""ailib: one client API over many LLM providers, with reliability around every call.

``import ailib`` loads the public surface: the client and builder classes, types, errors,
options and the default policies. The call machinery (assembly, pipeline, transport,
routing, state) loads with the first client built, and everything else on first use (PEP
562 ``__getattr__`` below): Redis, Prometheus, tqdm, batches, the CLI, the testing kit,
tracing, caches, hedging, rate limits, streams and the native wire formats (Anthropic,
Gemini, Cohere).
``from ailib import X`` and ``__all__`` work for every public name either way.
"""

from typing import TYPE_CHECKING, Any

from ._builder import AiClientBuilder
from ._embedding import EmbeddingRequest, EmbeddingResponse, Vectors
from ._version import __version__ as __version__
from .client import AiClient
from .errors import (
    AiLibError,
    AllProvidersFailedError,
    AuthenticationError,
    BudgetExceededError,
    CircuitOpenError,
    ClientClosedError,
    ConfigurationError,
    ContentFilteredError,
    ContextLengthExceededError,
    DeadlineExceededError,
    InvalidRequestError,
    LocalRateLimitError,
    ModelNotFoundError,
    NetworkError,
    ProtocolError,
    ProviderError,
    QuotaExceededError,
    RateLimitExceeded,
    StreamInterruptedError,
    StructuredOutputError,
    TimeoutError,
)
from .options import ConnectionOptions
from .providers import CustomProviderBuilder, Provider
from .reliability.circuit import CircuitBreakerPolicy, CircuitState
from .reliability.retry import RetryPolicy
from .types import (
    Attempt,
    ChatCompletionRequest,
    ChatCompletionResponse,
    Choice,
    Citation,
    Content,
    Message,
    ReasoningPart,
    Role,
    ServerToolPart,
    StreamChunk,
    Tool,
    ToolCall,
    ToolCallDelta,
    Usage,
)

# Public names imported on first use: name -> module that defines (or re-exports) it.
_LAZY = {
    "ChatStream": "ailib.call.stream",  # the stream machinery: loaded by the first stream
    "RedisStateStore": "ailib.state.redis",  # `import ailib` never imports redis
    "MemoryStateStore": "ailib.state",
    "HedgePolicy": "ailib.reliability.hedge",
    "RateLimitPolicy": "ailib.reliability.ratelimit",  # and the limiter: only a rate-limited client loads them
    "FallbackChain": "ailib.routing",
    "HealthCheck": "ailib.routing",
    "LoadBalancingStrategy": "ailib.routing",
    "ModelArray": "ailib.routing",
    "ModelEndpoint": "ailib.routing",
}

if TYPE_CHECKING:  # what type checkers and IDEs see
    from .call.stream import ChatStream
    from .reliability.hedge import HedgePolicy
    from .reliability.ratelimit import RateLimitPolicy
    from .routing import FallbackChain, HealthCheck, LoadBalancingStrategy, ModelArray, ModelEndpoint
    from .state import MemoryStateStore
    from .state.redis import RedisStateStore


def __getattr__(name: str) -> Any:
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module 'ailib' has no attribute {name!r}")
    import importlib

    value = getattr(importlib.import_module(module), name)
    globals()[name] = value  # the next lookup is a plain module attribute
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(_LAZY))


__all__ = [
    "AiClient",
    "AiClientBuilder",
    "ChatStream",
    "ConnectionOptions",
    "CustomProviderBuilder",
    "Provider",
    "RetryPolicy",
    "CircuitBreakerPolicy",
    "CircuitState",
    "RateLimitPolicy",
    "HedgePolicy",
    "MemoryStateStore",
    "RedisStateStore",
    "FallbackChain",
    "HealthCheck",
    "LoadBalancingStrategy",
    "ModelArray",
    "ModelEndpoint",
    "Role",
    "Content",
    "Message",
    "Tool",
    "ToolCall",
    "ToolCallDelta",
    "ReasoningPart",
    "Citation",
    "ServerToolPart",
    "ChatCompletionRequest",
    "ChatCompletionResponse",
    "EmbeddingRequest",
    "EmbeddingResponse",
    "Vectors",
    "Choice",
    "Usage",
    "StreamChunk",
    "Attempt",
    "AiLibError",
    "ConfigurationError",
    "InvalidRequestError",
    "ContextLengthExceededError",
    "ContentFilteredError",
    "AuthenticationError",
    "ModelNotFoundError",
    "RateLimitExceeded",
    "QuotaExceededError",
    "TimeoutError",
    "DeadlineExceededError",
    "NetworkError",
    "ProviderError",
    "ProtocolError",
    "StreamInterruptedError",
    "StructuredOutputError",
    "CircuitOpenError",
    "LocalRateLimitError",
    "BudgetExceededError",
    "ClientClosedError",
    "AllProvidersFailedError",
]
