"""An embedding call larger than a provider takes: split into parts, each part one call
through the pipeline (its own plan, failover, retries, limits and attempts), the vectors put
back in input order.

Parts are cut by the smallest per-request limits (count of inputs, tokens per request) of the
client's endpoints, so any target of the plan takes any part. A part that fails after its
retries and fallbacks fails the call with its own error (every attempt of the call in
``.attempts``); the parts before it are not sent again by anything here.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, Optional

import attrs

from .._embedding import EmbeddingRequest, EmbeddingResponse, Vectors
from .._response import Usage
from .._trace_api import NOOP_CALL, CallTrace
from ..errors import AiLibError, ProtocolError
from ..providers._embed import Limits, embed_format_for, estimate_text_tokens
from ..routing.endpoint import Target
from .embed_rules import embedding_model
from .pipeline import Pipeline

__all__ = ["embed", "split", "limits_of", "join"]


def limits_of(pipeline: Pipeline) -> Limits:
    """The smallest per-request limits over the client's endpoints (formats without
    embeddings are left out: a call there fails on its own)."""
    inputs, tokens = 2048, None
    for ep in pipeline.router.endpoints():
        try:
            lim = embed_format_for(ep.spec).limits
        except AiLibError:
            continue
        inputs = min(inputs, lim.inputs)
        if lim.tokens is not None:
            tokens = lim.tokens if tokens is None else min(tokens, lim.tokens)
    return Limits(inputs, tokens)


def split(texts: Sequence[str], limits: Limits) -> list[tuple[int, int]]:
    """``[start, end)`` ranges of ``texts``, each within ``limits`` (a text above the token
    limit on its own is a part of its own: the provider says what it thinks of it)."""
    parts: list[tuple[int, int]] = []
    start, used = 0, 0
    for i, text in enumerate(texts):
        n = estimate_text_tokens(text) if limits.tokens is not None else 0
        full = i - start >= limits.inputs or (limits.tokens is not None and i > start and used + n > limits.tokens)
        if full:
            parts.append((start, i))
            start, used = i, 0
        used += n
    if start < len(texts):
        parts.append((start, len(texts)))
    return parts


def join(responses: Sequence[EmbeddingResponse]) -> EmbeddingResponse:
    """Parts' responses as one, in order: their vectors, usage and attempts added up.
    ``ProtocolError`` if two parts came back with vectors of different sizes."""
    if len(responses) == 1:
        return responses[0]
    dims = {r.dimensions for r in responses if r.dimensions is not None}
    if len(dims) > 1:
        raise ProtocolError(f"the parts of one embedding call came back with vectors of different sizes: {sorted(dims)}")
    rows: list[Any] = []
    attempts: list[Any] = []
    prompt = 0
    cost: Optional[float] = None
    for r in responses:
        rows.extend(r.vectors.raw_rows())
        attempts.extend(r.attempts)
        prompt += r.usage.prompt_tokens
        if r.cost is not None:
            cost = (cost or 0.0) + r.cost
    last = responses[-1]
    return EmbeddingResponse(Vectors(rows), last.model, last.provider, Usage(prompt, 0, prompt), tuple(attempts), cost)


def embed(pipeline: Pipeline, request: EmbeddingRequest, deadline: float, *, cache: Optional[bool] = None) -> EmbeddingResponse:
    """``request`` in parts (see the module docstring), in the call's span and through the
    client's response cache (one entry per text; ``cache=False`` bypasses it) when it has them."""
    extras = pipeline.extras
    if extras is None or extras.idle():
        return _parts(pipeline, request, deadline, NOOP_CALL)
    ep = extras.primary
    provider, model = (
        ("", request.model) if ep is None else (ep.provider, embedding_model(Target(ep, ep.resolve_model(request.model)), request))
    )
    trace = extras.trace_call(request, provider, model)
    token = trace.activate()
    try:
        if extras.cache is not None and cache is not False:
            resp = _through_cache(pipeline, extras.cache, request, deadline, trace, provider, model)
        else:
            resp = _parts(pipeline, request, deadline, trace)
    except BaseException as err:
        trace.fail(err)
        raise
    finally:
        trace.deactivate(token)
    trace.finish(resp)
    return resp


def _through_cache(
    pipeline: Pipeline, cache: Any, request: EmbeddingRequest, deadline: float, trace: CallTrace, provider: str, model: str
) -> EmbeddingResponse:
    """The texts the cache holds from it (``cache.hit``), the others sent (and then stored)."""
    from ..cache._embed import embedding_keys, lookup_vectors, store_vectors

    keys = embedding_keys(request, provider=provider, model=model, scope=cache.scope)
    found = lookup_vectors(cache, keys, provider=provider)
    trace.cached(all(f is not None for f in found))
    missing = [i for i, f in enumerate(found) if f is None]
    if not missing:
        first = found[0]
        assert first is not None
        return EmbeddingResponse(
            Vectors([f[0] for f in found if f is not None]), first[1], first[2], Usage(), (), 0.0 if pipeline.prices else None
        )
    sent = _parts(pipeline, attrs.evolve(request, input=[request.input[i] for i in missing]), deadline, trace)
    rows = [Vectors([row]).tobytes() for row in sent.vectors.raw_rows()]
    store_vectors(cache, [keys[i] for i in missing], rows, model=sent.model, provider=sent.provider)
    if len(missing) == len(keys):
        return sent
    merged: list[Any] = [f[0] if f is not None else None for f in found]
    for i, row in zip(missing, rows):
        merged[i] = row
    return EmbeddingResponse(Vectors(merged), sent.model, sent.provider, sent.usage, sent.attempts, sent.cost)


def _parts(pipeline: Pipeline, request: EmbeddingRequest, deadline: float, trace: CallTrace) -> EmbeddingResponse:
    texts = request.input
    ranges = split(texts, limits_of(pipeline))
    if len(ranges) == 1:
        return pipeline.embed_part(request, deadline, trace)
    out: list[EmbeddingResponse] = []
    attempts: list[Any] = []
    for start, end in ranges:
        part = attrs.evolve(request, input=texts[start:end])
        try:
            resp = pipeline.embed_part(part, deadline, trace)
        except AiLibError as err:
            err.attempts = (*attempts, *err.attempts)
            raise
        attempts.extend(resp.attempts)
        out.append(resp)
    return join(out)
