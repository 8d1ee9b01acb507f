"""An embedding call larger than a provider takes: split into parts, each part one call
through the pipeline (its own plan, failover, retries, limits and attempts), the vectors put
back in input order.

Parts are cut by the smallest per-request limits (count of inputs, tokens per request) of the
client's endpoints, so any target of the plan takes any part. A part that fails after its
retries and fallbacks fails the call with its own error (every attempt of the call in
``.attempts``); the parts before it are not sent again by anything here. ``run_parts`` takes
the parts already done (the batch runner's checkpoint) and a callback per finished part.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, Callable, Optional

import attrs

from .._embedding import EmbeddingRequest, EmbeddingResponse, Vectors
from .._response import Usage
from ..errors import AiLibError, ProtocolError
from ..providers._embed import Limits, embed_format_for, estimate_text_tokens
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


def embed(
    pipeline: Pipeline,
    request: EmbeddingRequest,
    deadline: float,
    *,
    done: Optional[dict[int, EmbeddingResponse]] = None,
    on_part: Optional[Callable[[int, tuple[int, int], EmbeddingResponse], None]] = None,
) -> EmbeddingResponse:
    """``request`` in parts (see the module docstring). ``done``: part index -> response of the
    parts already answered (not sent again); ``on_part(index, (start, end), response)`` hears
    of each part answered here, before the next is sent."""
    texts = request.input
    ranges = split(texts, limits_of(pipeline))
    if len(ranges) == 1 and not done:
        resp = pipeline.embed_part(request, deadline)
        if on_part is not None:
            on_part(0, ranges[0], resp)
        return resp
    out: list[EmbeddingResponse] = []
    attempts: list[Any] = []
    for index, (start, end) in enumerate(ranges):
        found = done.get(index) if done else None
        if found is not None:
            resp = found
        else:
            part = attrs.evolve(request, input=texts[start:end])
            try:
                resp = pipeline.embed_part(part, deadline)
            except AiLibError as err:
                err.attempts = (*attempts, *err.attempts)
                raise
            if on_part is not None:
                on_part(index, (start, end), resp)
        attempts.extend(resp.attempts)
        out.append(resp)
    return join(out)
