"""An embedding call's plan: each target's embedding model, and only targets whose vectors
match the first one's size."""

from __future__ import annotations

from typing import Optional

from .._embedding import EmbeddingRequest
from ..providers._embed import default_embedding_model, known_dimensions
from ..routing.endpoint import Target
from ..types import AUTO_MODELS

__all__ = ["embedding_plan", "embedding_model"]


def embedding_model(target: Target, request: EmbeddingRequest) -> str:
    """The target's model for an embedding: ``auto`` (which routing resolved to the chat
    default) becomes the provider's default embedding model."""
    ep = target.endpoint
    if ep.model is None and target.model == ep.spec.default_model and (request.model in AUTO_MODELS or target.condition is not None):
        return default_embedding_model(ep.spec) or target.model
    return target.model


def embedding_plan(plan: list[Target], request: EmbeddingRequest) -> list[Target]:
    """``plan`` with embedding models, less the targets known to give vectors of another size
    than the first target's (with ``request.dimensions``, the size each would give)."""
    out: list[Target] = []
    first: Optional[int] = None
    for i, target in enumerate(plan):
        model = embedding_model(target, request)
        if model != target.model:
            target = Target(target.endpoint, model, target.condition, target.label)
        size = known_dimensions(model, request.dimensions)
        if i == 0:
            first = size
        elif first is not None and size is not None and size != first:
            continue
        out.append(target)
    return out
