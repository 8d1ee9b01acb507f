"""Server side of the OpenAI chat-completions format."""

from __future__ import annotations

import json
from typing import Any, Optional

from ._faults import Reply
from ._mock_base import MockFormat, Refusal, chunks_of, int_below, sse, token_pieces

_ERROR_TYPES = {
    400: "invalid_request_error",
    401: "authentication_error",
    403: "permission_error",
    404: "not_found_error",
}
_ROLES = ("system", "assistant", "user", "function", "tool", "developer")


def _refuse(message: str, param: Optional[str], code: Optional[str]) -> Refusal:
    return 400, {"error": {"message": message, "type": "invalid_request_error", "param": param, "code": code}}


def _below(body: dict[str, Any], key: str, minimum: int) -> Optional[Refusal]:
    if int_below(body, key, minimum):
        value = body[key]
        return _refuse(
            f"Invalid '{key}': integer below minimum value. Expected a value >= {minimum}, but got {value} instead.",
            key,
            "integer_below_min_value",
        )
    return None


class OpenAIMock(MockFormat):
    name = "openai"
    base_path = "/v1"
    request_id_header = "x-request-id"

    def matches(self, method: str, path: str) -> bool:
        return method == "POST" and path.split("?", 1)[0].endswith("/chat/completions")

    def is_models(self, method: str, path: str) -> bool:
        return method == "GET" and path.split("?", 1)[0].endswith("/models")

    def validate(self, path: str, body: Any) -> Optional[Refusal]:
        if not isinstance(body, dict):
            return _refuse("We could not parse the JSON body of your request.", None, None)
        messages = body.get("messages")
        if messages is None:
            return _refuse("Missing required parameter: 'messages'.", "messages", "missing_required_parameter")
        if not isinstance(messages, list) or not messages:
            return _refuse(
                "Invalid 'messages': empty array. Expected an array with minimum length 1, but got an empty array instead.",
                "messages",
                "empty_array",
            )
        for i, m in enumerate(messages):
            role = m.get("role") if isinstance(m, dict) else None
            if role not in _ROLES:
                supported = ", ".join(f"'{r}'" for r in _ROLES[:-1]) + f", and '{_ROLES[-1]}'"
                return _refuse(f"Invalid value: '{role}'. Supported values are: {supported}.", f"messages[{i}].role", "invalid_value")
        for key in ("max_tokens", "max_completion_tokens", "n"):
            refusal = _below(body, key, 1)
            if refusal:
                return refusal
        return None

    def _finish(self, reply: Reply) -> str:
        return reply.finish_reason or ("tool_calls" if reply.tool_calls else "stop")

    def _usage(self, reply: Reply) -> dict[str, Any]:
        # The details as OpenAI always sends them (zeros included); cached and reasoning tokens are
        # parts of prompt_tokens and completion_tokens.
        return {
            "prompt_tokens": reply.prompt_tokens,
            "completion_tokens": reply.completion_tokens,
            "total_tokens": reply.prompt_tokens + reply.completion_tokens,
            "prompt_tokens_details": {"cached_tokens": reply.cached_tokens, "audio_tokens": 0},
            "completion_tokens_details": {
                "reasoning_tokens": reply.reasoning_tokens,
                "audio_tokens": 0,
                "accepted_prediction_tokens": 0,
                "rejected_prediction_tokens": 0,
            },
        }

    def success(self, reply: Reply, model: str, body: Any = None) -> dict[str, Any]:
        text = reply.text if (not reply.tool_calls or reply.text) and reply.refusal is None else None
        message: dict[str, Any] = {"role": "assistant", "content": text, "refusal": reply.refusal}
        if reply.tool_calls:
            message["tool_calls"] = [
                {"id": cid, "type": "function", "function": {"name": name, "arguments": _arguments(args)}}
                for cid, name, args in reply.tool_calls
            ]
        if reply.reasoning is not None:  # as DeepSeek (and OpenAI-compatible servers) show reasoning
            message["reasoning_content"] = reply.reasoning
        if reply.citations:
            message["annotations"] = _annotations(reply)
        n = _choices(body)
        top = _top_logprobs(body)
        logprobs = None
        if top is not None:  # asked for: one entry per token of the answer (its refusal's, when it refuses)
            refused = reply.refusal is not None
            entries = _logprob_entries(token_pieces((reply.refusal if refused else text) or ""), top)
            logprobs = {"content": None, "refusal": entries} if refused else {"content": entries, "refusal": None}
        return {
            "id": "chatcmpl-mock",
            "object": "chat.completion",
            "created": 1700000000,
            "model": model,
            "choices": [{"index": i, "message": message, "logprobs": logprobs, "finish_reason": self._finish(reply)} for i in range(n)],
            "usage": self._usage(reply),
        }

    def _chunk(
        self,
        model: str,
        delta: dict[str, Any],
        finish: Optional[str] = None,
        index: int = 0,
        usage: bool = False,
        logprobs: Optional[dict[str, Any]] = None,
    ) -> dict[str, Any]:
        chunk = {
            "id": "chatcmpl-mock",
            "object": "chat.completion.chunk",
            "created": 1700000000,
            "model": model,
            "choices": [{"index": index, "delta": delta, "logprobs": logprobs, "finish_reason": finish}],
        }
        if usage:  # with include_usage every chunk carries "usage": null until the last one
            chunk["usage"] = None
        return chunk

    def stream_events(self, reply: Reply, model: str, body: Any = None) -> tuple[list[bytes], list[bytes], list[bytes]]:
        options = body.get("stream_options") if isinstance(body, dict) else None
        usage = bool(isinstance(options, dict) and options.get("include_usage"))
        opening: list[bytes] = []
        content: list[bytes] = []
        closing: list[bytes] = []
        top = _top_logprobs(body)
        # Asked for logprobs, the API streams one token a chunk, each with its entry; the first chunk
        # has an empty list, the last none (as openai-python's recorded logprobs stream has them).
        opened: Optional[dict[str, Any]] = {"content": [], "refusal": None} if top is not None else None
        for c in range(_choices(body)):
            if reply.refusal is not None:  # as the API streams a refusal: refusal pieces instead of content
                first = {"role": "assistant", "content": None, "refusal": ""}
                opening.append(sse(self._chunk(model, first, index=c, usage=usage, logprobs=opened)))
                for piece, lp in _pieces(reply.refusal, top):
                    logprobs = None if lp is None else {"content": None, "refusal": [lp]}
                    content.append(sse(self._chunk(model, {"refusal": piece}, index=c, usage=usage, logprobs=logprobs)))
                closing.append(sse(self._chunk(model, {}, "stop", index=c, usage=usage)))
                continue
            # A tool-call answer opens with content null (and text, if any, before the calls), as the API streams it.
            first = {"role": "assistant", "content": "" if reply.text or not reply.tool_calls else None, "refusal": None}
            opening.append(sse(self._chunk(model, first, index=c, usage=usage, logprobs=opened)))
            if reply.reasoning is not None:  # DeepSeek streams its reasoning before the answer, content null
                thoughts = chunks_of(reply.reasoning)
                content.extend(sse(self._chunk(model, {"content": None, "reasoning_content": t}, index=c, usage=usage)) for t in thoughts)
            for piece, lp in _pieces(reply.text, top):
                logprobs = None if lp is None else {"content": [lp], "refusal": None}
                content.append(sse(self._chunk(model, {"content": piece}, index=c, usage=usage, logprobs=logprobs)))
            if reply.citations:  # the search models send the annotations in a delta after the text
                content.append(sse(self._chunk(model, {"annotations": _annotations(reply)}, index=c, usage=usage)))
            for i, (cid, name, args) in enumerate(reply.tool_calls):  # a call's header, then its arguments token by token
                head = {"index": i, "id": cid, "type": "function", "function": {"name": name, "arguments": ""}}
                content.append(sse(self._chunk(model, {"tool_calls": [head]}, index=c, usage=usage)))
                content.extend(
                    sse(self._chunk(model, {"tool_calls": [{"index": i, "function": {"arguments": piece}}]}, index=c, usage=usage))
                    for piece in token_pieces(_arguments(args))
                )
            closing.append(sse(self._chunk(model, {}, self._finish(reply), index=c, usage=usage)))
        if usage:  # only when asked for: a last chunk with no choices and the usage
            closing.append(
                sse(
                    {
                        "id": "chatcmpl-mock",
                        "object": "chat.completion.chunk",
                        "created": 1700000000,
                        "model": model,
                        "choices": [],
                        "usage": self._usage(reply),
                    }
                )
            )
        closing.append(b"data: [DONE]\n\n")
        return opening, content, closing

    def error_body(self, status: int, error_type: Optional[str], message: str) -> dict[str, Any]:
        if status == 429 and error_type is None:  # as the API says it: the limit reached as the type (Fault.rate_limited)
            return {"error": {"message": message, "type": "requests", "param": None, "code": "rate_limit_exceeded"}}
        etype = error_type or _ERROR_TYPES.get(status, "server_error" if status >= 500 else "invalid_request_error")
        return {"error": {"message": message, "type": etype, "param": None, "code": error_type}}

    def not_found(self, method: str, path: str) -> tuple[int, dict[str, Any]]:
        message = f"Invalid URL ({method} {path.split('?', 1)[0]})"
        return 404, {"error": {"message": message, "type": "invalid_request_error", "param": None, "code": None}}

    def error_event(self, error_type: str, message: str) -> Optional[bytes]:
        # OpenAI reports a failure inside a stream as a data line holding an error object.
        return sse({"error": {"message": message, "type": error_type, "param": None, "code": error_type}})

    def models(self) -> dict[str, Any]:
        return {
            "object": "list",
            "data": [
                {"id": "mock-model", "object": "model", "created": 1700000000, "owned_by": "mock"},
                {"id": "mock-model-large", "object": "model", "created": 1700000000, "owned_by": "mock"},
            ],
        }


# Tokens offered as the less likely alternatives in ``top_logprobs`` (made-up values throughout:
# the shape is that of openai-python's recorded logprobs tests, see tests/fixtures/openai/logprobs.source).
_ALTERNATIVES = (
    " the",
    " a",
    ",",
    ".",
    " and",
    "!",
    " to",
    " of",
    " I",
    " it",
    " is",
    " in",
    " you",
    " that",
    " for",
    " on",
    " with",
    " as",
    " be",
    " at",
    " this",
)


def _top_logprobs(body: Any) -> Optional[int]:
    """How many alternatives per token the request asked for (0 with ``logprobs: true`` alone); None: no logprobs."""
    if not isinstance(body, dict) or body.get("logprobs") is not True:
        return None
    top = body.get("top_logprobs")
    return top if isinstance(top, int) and not isinstance(top, bool) and 0 <= top <= 20 else 0


def _logprob_entries(tokens: list[str], top: int) -> list[dict[str, Any]]:
    """One ``{token, logprob, bytes, top_logprobs}`` entry per token; the token leads its own top list."""
    entries = []
    for i, token in enumerate(tokens):
        logprob = -round(0.0001 + ((i * 7919) % 1000) / 2000, 8)
        alternatives = [{"token": token, "logprob": logprob, "bytes": list(token.encode())}]
        others = (t for t in _ALTERNATIVES if t != token)
        for j in range(1, top):
            alt = next(others)
            alternatives.append({"token": alt, "logprob": round(logprob - 1.5 * j, 8), "bytes": list(alt.encode())})
        entries.append({"token": token, "logprob": logprob, "bytes": list(token.encode()), "top_logprobs": alternatives[:top]})
    return entries


def _pieces(text: str, top: Optional[int]) -> list[tuple[str, Optional[dict[str, Any]]]]:
    """How ``text`` streams: about 3 pieces without logprobs; one token a piece, each with its entry, with them."""
    if top is None:
        return [(piece, None) for piece in chunks_of(text)]
    tokens = token_pieces(text)
    return list(zip(tokens, _logprob_entries(tokens, top)))


def _arguments(args: Any) -> str:
    """Tool-call arguments as the API writes them: compact JSON (``{"city":"Paris"}``)."""
    return json.dumps(args, separators=(",", ":"), ensure_ascii=False)


def _choices(body: Any) -> int:
    n = body.get("n") if isinstance(body, dict) else None
    return n if isinstance(n, int) and not isinstance(n, bool) and 1 <= n <= 16 else 1


def _annotations(reply: Reply) -> list[dict[str, Any]]:
    """The reply's citations as OpenAI's ``url_citation`` annotations (character offsets)."""
    return [
        {"type": "url_citation", "url_citation": {"end_index": c.end, "start_index": c.start, "title": c.title, "url": c.url}}
        for c in reply.citations
    ]
