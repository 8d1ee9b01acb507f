"""Server side of the Gemini format (``:generateContent``, ``:streamGenerateContent?alt=sse``)."""

from __future__ import annotations

from typing import Any, Optional
from urllib.parse import unquote

from ._faults import Reply, mock_signature
from ._mock_base import MockFormat, Refusal, chunks_of, int_below, sse

_STATUS_NAMES = {
    400: "INVALID_ARGUMENT",
    401: "UNAUTHENTICATED",
    403: "PERMISSION_DENIED",
    404: "NOT_FOUND",
    409: "ABORTED",
    429: "RESOURCE_EXHAUSTED",
    500: "INTERNAL",
    503: "UNAVAILABLE",
    504: "DEADLINE_EXCEEDED",
}
# Error types other formats' tests use → (HTTP code, Gemini status).
_GENERIC_TYPES = {
    "overloaded_error": (503, "UNAVAILABLE"),
    "rate_limit_error": (429, "RESOURCE_EXHAUSTED"),
    "api_error": (500, "INTERNAL"),
    "invalid_request_error": (400, "INVALID_ARGUMENT"),
    "authentication_error": (401, "UNAUTHENTICATED"),
    "permission_error": (403, "PERMISSION_DENIED"),
    "not_found_error": (404, "NOT_FOUND"),
}
_FINISH_REASONS = {"stop": "STOP", "tool_calls": "STOP", "length": "MAX_TOKENS", "content_filter": "SAFETY"}
_METHODS = (":generateContent", ":streamGenerateContent")


def _refuse(message: str) -> Refusal:
    return 400, {"error": {"code": 400, "message": message, "status": "INVALID_ARGUMENT"}}


class GeminiMock(MockFormat):
    name = "gemini"
    base_path = ""

    def validate(self, path: str, body: Any) -> Optional[Refusal]:
        if not isinstance(body, dict):
            return _refuse("Invalid JSON payload received.")
        contents = body.get("contents")
        if not isinstance(contents, list) or not contents:
            return _refuse("* GenerateContentRequest.contents: contents is not specified\n")
        for c in contents:
            role = c.get("role") if isinstance(c, dict) else None
            if role not in (None, "", "user", "model", "function"):
                return _refuse("Please use a valid role: user, model.")
        config = body.get("generationConfig") or body.get("generation_config") or {}
        if isinstance(config, dict):
            for key, field in (("maxOutputTokens", "max_output_tokens"), ("candidateCount", "candidate_count")):
                if int_below(config, key, 1):
                    return _refuse(f"* GenerateContentRequest.generation_config.{field}: {field} must be positive.\n")
        return None

    def matches(self, method: str, path: str) -> bool:
        return method == "POST" and path.split("?", 1)[0].endswith(_METHODS)

    def is_models(self, method: str, path: str) -> bool:
        return method == "GET" and path.split("?", 1)[0].endswith(("/v1beta/models", "/v1/models"))

    def is_stream(self, path: str, body: Any) -> bool:
        return ":streamGenerateContent" in path

    def model_of(self, path: str, body: Any) -> str:
        route = unquote(path.split("?", 1)[0]).rsplit(":", 1)[0]
        return route.split("/models/", 1)[1] if "/models/" in route else route.rsplit("/", 1)[-1]

    def _usage(self, reply: Reply) -> dict[str, int]:
        # promptTokenCount includes cachedContentTokenCount; candidatesTokenCount leaves out
        # thoughtsTokenCount; Gemini omits the two details when there are none.
        usage = {
            "promptTokenCount": reply.prompt_tokens,
            "candidatesTokenCount": reply.completion_tokens - reply.reasoning_tokens,
            "totalTokenCount": reply.prompt_tokens + reply.completion_tokens,
        }
        if reply.cached_tokens:
            usage["cachedContentTokenCount"] = reply.cached_tokens
        if reply.reasoning_tokens:
            usage["thoughtsTokenCount"] = reply.reasoning_tokens
        return usage

    def _finish(self, reply: Reply) -> str:
        common = reply.finish_reason or "stop"
        return _FINISH_REASONS.get(common, common.upper())

    def _response(
        self,
        parts: list[dict[str, Any]],
        model: str,
        *,
        finish: Optional[str] = None,
        usage: Optional[dict[str, int]] = None,
        n: int = 1,
    ) -> dict[str, Any]:
        # With candidateCount n, every chunk holds each candidate by its index (the same answer for each).
        candidates = []
        for index in range(n):
            cand: dict[str, Any] = {"content": {"parts": [dict(p) for p in parts], "role": "model"}, "index": index}
            if finish:
                cand["finishReason"] = finish
            candidates.append(cand)
        data: dict[str, Any] = {"candidates": candidates}
        if usage:
            data["usageMetadata"] = usage
        data["modelVersion"] = model
        data["responseId"] = "mock-response-1"
        return data

    def _call_parts(self, reply: Reply) -> list[dict[str, Any]]:
        # Gemini's functionCall carries no id: the client synthesises one.
        return [{"functionCall": {"name": name, "args": args}} for _cid, name, args in reply.tool_calls]

    def success(self, reply: Reply, model: str, body: Any = None) -> dict[str, Any]:
        parts: list[dict[str, Any]] = [{"text": reply.reasoning, "thought": True}] if reply.reasoning is not None else []
        parts += [{"text": reply.text}] if reply.text else []
        parts.extend(self._call_parts(reply))
        if reply.reasoning is not None:  # Gemini 3 signs the first call, else the last part
            signed = next((p for p in parts if "functionCall" in p), parts[-1])
            signed["thoughtSignature"] = mock_signature(reply.reasoning)
        data = self._response(parts, model, finish=self._finish(reply), usage=self._usage(reply), n=_candidates(body))
        _ground(data, reply)
        return data

    def stream_events(self, reply: Reply, model: str, body: Any = None) -> tuple[list[bytes], list[bytes], list[bytes]]:
        partial_usage = {"promptTokenCount": reply.prompt_tokens, "totalTokenCount": reply.prompt_tokens}
        n = _candidates(body)
        content = []
        if reply.reasoning is not None:
            thoughts = chunks_of(reply.reasoning) or [""]
            content += [sse(self._response([{"text": piece, "thought": True}], model, usage=partial_usage, n=n)) for piece in thoughts]
        content += [sse(self._response([{"text": piece}], model, usage=partial_usage, n=n)) for piece in chunks_of(reply.text)]
        for i, part in enumerate(self._call_parts(reply)):
            if i == 0 and reply.reasoning is not None:
                part["thoughtSignature"] = mock_signature(reply.reasoning)
            content.append(sse(self._response([part], model, usage=partial_usage, n=n)))
        last: dict[str, Any] = {"text": ""}
        if reply.reasoning is not None and not reply.tool_calls:  # the signature of a text answer comes last
            last["thoughtSignature"] = mock_signature(reply.reasoning)
        final = self._response([last], model, finish=self._finish(reply), usage=self._usage(reply), n=n)
        _ground(final, reply)  # grounding comes with the finishing chunk, for the whole answer
        closing = [sse(final)]
        return [], content, closing

    def _status(self, status: int, error_type: Optional[str]) -> str:
        if error_type in _GENERIC_TYPES:
            return _GENERIC_TYPES[error_type][1]
        return error_type or _STATUS_NAMES.get(status, "INTERNAL" if status >= 500 else "FAILED_PRECONDITION")

    def error_body(self, status: int, error_type: Optional[str], message: str) -> dict[str, Any]:
        return {"error": {"code": status, "message": message, "status": self._status(status, error_type)}}

    def error_event(self, error_type: str, message: str) -> Optional[bytes]:
        # Gemini ends a failed stream with a data line holding its error object.
        code, status = _GENERIC_TYPES.get(error_type, (500, error_type))
        return sse({"error": {"code": code, "message": message, "status": status}})

    def models(self) -> dict[str, Any]:
        return {
            "models": [
                {
                    "name": f"models/{name}",
                    "version": "001",
                    "displayName": display,
                    "description": "A MockProvider model.",
                    "inputTokenLimit": 1048576,
                    "outputTokenLimit": 8192,
                    "supportedGenerationMethods": ["generateContent", "countTokens"],
                }
                for name, display in (("mock-model", "Mock Model"), ("mock-model-large", "Mock Model Large"))
            ]
        }


def _ground(data: dict[str, Any], reply: Reply) -> None:
    """The reply's citations as Gemini's ``groundingMetadata`` on the candidate: each cited source a
    ``groundingChunks`` web entry, each span a ``groundingSupports`` segment (UTF-8 byte offsets)."""
    if not reply.citations and reply.web_search is None:
        return
    urls: list[str] = []
    chunks: list[dict[str, Any]] = []
    supports: list[dict[str, Any]] = []
    for c in reply.citations:
        if c.url not in urls:
            urls.append(c.url)
            chunks.append({"web": {"uri": c.url, "title": c.title}})
        segment: dict[str, Any] = {"endIndex": len(reply.text[: c.end].encode()), "text": reply.text[c.start : c.end]}
        if c.start:  # proto3 leaves a zero out
            segment = {"startIndex": len(reply.text[: c.start].encode()), **segment}
        supports.append({"segment": segment, "groundingChunkIndices": [urls.index(c.url)]})
    meta: dict[str, Any] = {}
    if reply.web_search is not None:
        meta["webSearchQueries"] = [reply.web_search]
    meta["groundingChunks"] = chunks
    meta["groundingSupports"] = supports
    for candidate in data["candidates"]:  # every candidate answers the same reply
        candidate["groundingMetadata"] = meta


def _candidates(body: Any) -> int:
    """``generationConfig.candidateCount`` of the request (1 when absent or out of range)."""
    config = body.get("generationConfig") or body.get("generation_config") if isinstance(body, dict) else None
    n = (config.get("candidateCount") or config.get("candidate_count")) if isinstance(config, dict) else None
    return n if isinstance(n, int) and not isinstance(n, bool) and 1 <= n <= 8 else 1
