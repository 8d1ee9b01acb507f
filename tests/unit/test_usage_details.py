"""Usage details (cached, cache-write, reasoning, billed tokens) from each format, and costs per kind of token.

The fixtures are in ``tests/fixtures/<format>/``; ``usage_sources.md`` there names where each shape comes from.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
import responses

from ailib import AiClient, AiClientBuilder, ChatCompletionRequest, ConfigurationError, ConnectionOptions, Message, Provider
from ailib._sse import SseEvent, SseParser
from ailib.call.usage import Price, PriceTable, UsageLedger
from ailib.providers._formats import get_wire_format
from ailib.types import ChatCompletionResponse, Choice, StreamChunk, Usage

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures"
TEXT = "It is sunny and 21 degrees in Paris."
KEY = "sk-ant-api03-test-key-0123456789"

# Anthropic's documented prices for Claude Sonnet 4.5, USD per million tokens (anthropic.com/pricing).
SONNET_INPUT, SONNET_OUTPUT, SONNET_CACHE_WRITE_5M, SONNET_CACHE_READ = 3.00, 15.00, 3.75, 0.30
SONNET_CACHE_WRITE_1H = 6.00
CACHE_USAGE = Usage(21 + 188 + 1557, 393, 21 + 188 + 1557 + 393, cached_tokens=1557, cache_write_tokens=188, cache_write_1h_tokens=0)


def load(fmt: str, name: str) -> Any:
    return json.loads((FIXTURES / fmt / f"{name}.json").read_text())


def sse_events(fmt: str, name: str) -> list[SseEvent]:
    parser = SseParser()
    return parser.feed((FIXTURES / fmt / f"{name}.txt").read_bytes()) + parser.flush()


def decode(fmt: str, data: Any) -> ChatCompletionResponse:
    return get_wire_format(fmt).decode(data, provider=fmt, model="m", headers={})


def stream(fmt: str, events: list[SseEvent]) -> list[StreamChunk]:
    decoder = get_wire_format(fmt).stream_decoder(provider=fmt, model="m")
    chunks = [c for e in events for c in decoder.feed(e)]
    decoder.finish()
    return chunks


def bill(usage: Any) -> float:
    """The bill for an Anthropic ``usage`` object, from Anthropic's documented Sonnet 4.5 prices
    (its cache writes by lifetime when it breaks them down, else all at the 5-minute rate)."""
    creation = usage.get("cache_creation") or {}
    write_1h = creation.get("ephemeral_1h_input_tokens", 0)
    write_5m = creation.get("ephemeral_5m_input_tokens", usage["cache_creation_input_tokens"] - write_1h)
    return (
        usage["input_tokens"] * SONNET_INPUT
        + write_5m * SONNET_CACHE_WRITE_5M
        + write_1h * SONNET_CACHE_WRITE_1H
        + usage["cache_read_input_tokens"] * SONNET_CACHE_READ
        + usage["output_tokens"] * SONNET_OUTPUT
    ) / 1e6


# -- decoding, per format ------------------------------------------------------------------------

DETAILED = {
    "openai": ("response_usage_details", "stream_usage_details", Usage(2006, 300, 2306, cached_tokens=1920, reasoning_tokens=256)),
    "anthropic": ("response_cache_usage", "stream_cache_usage", CACHE_USAGE),
    "gemini": ("response_usage_details", "stream_usage_details", Usage(2310, 11 + 482, 2803, cached_tokens=2048, reasoning_tokens=482)),
    "cohere": ("response_billed_units", "stream_billed_units", Usage(12, 11, 23)),
}


@pytest.mark.parametrize("fmt", DETAILED)
def test_body_usage_carries_the_details_the_format_reports(fmt: str) -> None:
    """A recorded-shape body's usage keeps cached, cache-write and reasoning counts (Cohere: its billed units)."""
    body, _, expected = DETAILED[fmt]
    resp = decode(fmt, load(fmt, body))
    assert (resp.text, resp.usage) == (TEXT, expected)


@pytest.mark.parametrize("fmt", DETAILED)
def test_stream_usage_carries_the_details_the_format_reports(fmt: str) -> None:
    """A recorded-shape stream's last chunk has the same usage, details included, as the body would."""
    _, events, expected = DETAILED[fmt]
    chunks = stream(fmt, sse_events(fmt, events))
    assert "".join(c.delta_text for c in chunks) == TEXT
    assert chunks[-1].usage == expected and all(c.usage is None for c in chunks[:-1])


def test_openai_usage_without_details_reports_none_not_zero() -> None:
    """A server that sends no *_details leaves the details None ("not reported")."""
    assert decode("openai", load("openai", "response_text")).usage == Usage(25, 11, 36)


def test_deepseek_cache_hits_are_cached_tokens() -> None:
    """DeepSeek's prompt_cache_hit_tokens is read as cached tokens (part of prompt_tokens)."""
    assert decode("openai", load("openai", "response_deepseek_cache")).usage == Usage(1500, 11, 1511, cached_tokens=1408)


def test_openai_details_win_over_deepseek_counts() -> None:
    """When both are sent, prompt_tokens_details.cached_tokens is the one read."""
    data = load("openai", "response_deepseek_cache")
    data["usage"]["prompt_tokens_details"] = {"cached_tokens": 1400}
    assert decode("openai", data).usage.cached_tokens == 1400


def test_malformed_details_are_not_reported() -> None:
    """A detail that is not a number, or details that are not objects, read as None rather than failing."""
    data = load("openai", "response_usage_details")
    data["usage"]["prompt_tokens_details"] = {"cached_tokens": "many"}
    data["usage"]["completion_tokens_details"] = ["reasoning_tokens"]
    assert decode("openai", data).usage == Usage(2006, 300, 2306)


def test_anthropic_stream_keeps_cache_counts_a_later_delta_leaves_out() -> None:
    """A message_delta with only output_tokens keeps message_start's cache reads and writes."""
    text = (FIXTURES / "anthropic" / "stream_cache_usage.txt").read_text()
    text = text.replace(
        '"usage":{"input_tokens":21,"cache_creation_input_tokens":188,"cache_read_input_tokens":1557,"output_tokens":393}',
        '"usage":{"output_tokens":393}',
    )
    parser = SseParser()
    events = parser.feed(text.encode()) + parser.flush()
    assert stream("anthropic", events)[-1].usage == CACHE_USAGE


def test_cohere_falls_back_to_tokens_without_billed_token_counts() -> None:
    """billed_units without token counts (only search units) leave the processed tokens as the counts."""
    data = load("cohere", "response_billed_units")
    data["usage"]["billed_units"] = {"search_units": 1}
    assert decode("cohere", data).usage == Usage(507, 13, 520)


# -- prices --------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "given",
    [
        (1, 2),
        [1, 2],
        {"input": 1, "output": 2},
        (1, 2, 0.5),
        (1, 2, 0.5, 3),
        {"input": 1, "output": 2, "cached_input": 0.5, "cache_write": 3},
    ],
)
def test_price_forms(given: Any) -> None:
    """A price is (input, output[, cached_input[, cache_write]]) or a dict of those kinds; unset kinds stay None."""
    price = PriceTable({"m": given}).lookup("p", "m")
    values = list(given.values()) if isinstance(given, dict) else list(given)
    assert price == Price(*[float(v) for v in values])


@pytest.mark.parametrize(
    "bad",
    [{"input": 1, "output": 2, "cache_read": 0.1}, (1, 2, 3, 4, 5), "12", {"input": 1, "output": 2, "cached_input": -1}, (1, 2, "x")],
)
def test_bad_per_kind_prices_are_configuration_errors(bad: Any) -> None:
    """Unknown kinds, too many values, strings and negative per-kind prices raise ConfigurationError."""
    with pytest.raises(ConfigurationError):
        PriceTable({"m": bad})


def test_unset_cache_prices_default_to_anthropic_rates() -> None:
    """Without cached_input/cache_write, reads cost 0.1 x input and writes 1.25 x input."""
    usage = Usage(1000, 100, 1100, cached_tokens=600, cache_write_tokens=300)
    cost = Price(2.0, 8.0).usage_cost(usage)
    assert cost == pytest.approx((100 * 2.0 + 600 * 0.2 + 300 * 2.5 + 100 * 8.0) / 1e6)


def test_given_cache_prices_are_used() -> None:
    """cached_input and cache_write, when given, price cached reads and cache writes."""
    usage = Usage(1000, 100, 1100, cached_tokens=600, cache_write_tokens=300)
    assert Price(2.0, 8.0, 1.0, 4.0).usage_cost(usage) == pytest.approx((100 * 2.0 + 600 * 1.0 + 300 * 4.0 + 100 * 8.0) / 1e6)


def test_reasoning_tokens_are_not_counted_twice() -> None:
    """Reasoning tokens are part of completion tokens: they cost the output price once."""
    with_reasoning = Usage(100, 50, 150, reasoning_tokens=40)
    assert Price(1.0, 4.0).usage_cost(with_reasoning) == Price(1.0, 4.0).usage_cost(Usage(100, 50, 150)) == pytest.approx(300 / 1e6)


def test_usage_without_details_costs_as_before() -> None:
    """Usage with no details costs prompt x input + completion x output, as before per-kind prices."""
    assert PriceTable({"m": (1.0, 3.0)}).cost("p", "m", Usage(10, 5, 15)) == pytest.approx((10 + 15) / 1e6)


def test_inconsistent_details_never_give_a_negative_uncached_part() -> None:
    """Cached counts larger than the prompt (a server's mistake) price no negative uncached input."""
    assert Price(1.0, 1.0, 0.5).usage_cost(Usage(10, 0, 10, cached_tokens=20)) == pytest.approx(20 * 0.5 / 1e6)


# -- the Anthropic cache bill --------------------------------------------------------------------


def anthropic_client(prices: Any) -> AiClient:
    opts = ConnectionOptions(api_key=KEY, base_url="https://api.anthropic.com", max_retries=0)
    return AiClientBuilder(Provider.ANTHROPIC).with_connection_options(opts).with_prices(prices).build()


@pytest.mark.parametrize(
    "prices",
    [
        {"claude-sonnet-4-5-20250929": (SONNET_INPUT, SONNET_OUTPUT)},
        {
            "anthropic/claude-sonnet-4-5-20250929": {
                "input": SONNET_INPUT,
                "output": SONNET_OUTPUT,
                "cached_input": SONNET_CACHE_READ,
                "cache_write": SONNET_CACHE_WRITE_5M,
            }
        },
    ],
    ids=["default-cache-rates", "per-kind-prices"],
)
@responses.activate
def test_anthropic_cache_cost_matches_the_bill(prices: Any) -> None:
    """The cost of the cache recording, plain and streamed, is Anthropic's bill from its documented prices within 1%."""
    body = load("anthropic", "response_cache_usage")
    expected = bill(body["usage"])
    url = "https://api.anthropic.com/v1/messages"
    responses.add(responses.POST, url, json=body, status=200)
    stream_body = (FIXTURES / "anthropic" / "stream_cache_usage.txt").read_bytes()
    responses.add(responses.POST, url, body=stream_body, status=200, content_type="text/event-stream")
    request = ChatCompletionRequest("claude-sonnet-4-5-20250929", [Message.user("Weather in Paris?")])
    with anthropic_client(prices) as client:
        resp = client.chat_completion(request)
        with client.chat_completion_stream(request) as s:
            list(s)
        (total,) = client.usage_totals().values()
    assert resp.usage == s.usage == CACHE_USAGE
    assert resp.cost == pytest.approx(expected, rel=0.01) and s.cost == pytest.approx(expected, rel=0.01)
    assert total.cost == pytest.approx(2 * expected, rel=0.01)
    assert (total.cached_tokens, total.cache_write_tokens, total.reasoning_tokens) == (2 * 1557, 2 * 188, 0)


CACHE_USAGE_1H = Usage(
    14 + 3296 + 2048, 287, 14 + 3296 + 2048 + 287, cached_tokens=2048, cache_write_tokens=3296, cache_write_1h_tokens=2048
)


@pytest.mark.parametrize(
    "prices",
    [
        {"claude-sonnet-4-5-20250929": (SONNET_INPUT, SONNET_OUTPUT)},
        {
            "anthropic/claude-sonnet-4-5-20250929": {
                "input": SONNET_INPUT,
                "output": SONNET_OUTPUT,
                "cached_input": SONNET_CACHE_READ,
                "cache_write": SONNET_CACHE_WRITE_5M,
                "cache_write_1h": SONNET_CACHE_WRITE_1H,
            }
        },
    ],
    ids=["default-cache-rates", "per-kind-prices"],
)
@responses.activate
def test_anthropic_1h_cache_writes_cost_what_anthropic_bills(prices: Any) -> None:
    """A turn writing the cache with both lifetimes costs Anthropic's bill (5m at 1.25 x, 1h at 2 x input) within 1%, plain and streamed."""
    body = load("anthropic", "response_cache_usage_1h")
    expected = bill(body["usage"])
    assert expected != pytest.approx(bill({**body["usage"], "cache_creation": {}}), rel=0.01)  # the lifetimes matter here
    url = "https://api.anthropic.com/v1/messages"
    responses.add(responses.POST, url, json=body, status=200)
    stream_body = (FIXTURES / "anthropic" / "stream_cache_usage_1h.txt").read_bytes()
    responses.add(responses.POST, url, body=stream_body, status=200, content_type="text/event-stream")
    request = ChatCompletionRequest("claude-sonnet-4-5-20250929", [Message.user("Weather in Paris?")])
    with anthropic_client(prices) as client:
        resp = client.chat_completion(request)
        with client.chat_completion_stream(request) as s:
            list(s)
        (total,) = client.usage_totals().values()
    assert resp.usage == s.usage == CACHE_USAGE_1H
    assert resp.cost == pytest.approx(expected, rel=0.01) and s.cost == pytest.approx(expected, rel=0.01)
    assert (total.cache_write_tokens, total.cache_write_1h_tokens) == (2 * 3296, 2 * 2048)


def test_anthropic_stream_takes_a_later_lifetime_breakdown() -> None:
    """A message_delta that repeats cache_creation replaces message_start's breakdown; one without it keeps it."""
    text = (FIXTURES / "anthropic" / "stream_cache_usage_1h.txt").read_text()
    with_breakdown = text.replace(
        '"cache_read_input_tokens":2048,"output_tokens":287}',
        '"cache_read_input_tokens":2048,"cache_creation":{"ephemeral_5m_input_tokens":3000,"ephemeral_1h_input_tokens":296},"output_tokens":287}',
    )
    assert with_breakdown != text
    for body, write_1h in ((text, 2048), (with_breakdown, 296)):
        parser = SseParser()
        events = parser.feed(body.encode()) + parser.flush()
        assert stream("anthropic", events)[-1].usage.cache_write_1h_tokens == write_1h


def test_1h_cache_writes_without_their_own_price_cost_twice_input() -> None:
    """Unset, a 1-hour write costs 2 x input and the rest of the writes 1.25 x; cache_write_1h, when given, prices the 1-hour part."""
    usage = Usage(1000, 100, 1100, cached_tokens=200, cache_write_tokens=500, cache_write_1h_tokens=300)
    assert Price(2.0, 8.0).usage_cost(usage) == pytest.approx((300 * 2.0 + 200 * 0.2 + 200 * 2.5 + 300 * 4.0 + 100 * 8.0) / 1e6)
    priced = PriceTable({"m": {"input": 2.0, "output": 8.0, "cache_write_1h": 5.0}}).cost("p", "m", usage)
    assert priced == pytest.approx((300 * 2.0 + 200 * 0.2 + 200 * 2.5 + 300 * 5.0 + 100 * 8.0) / 1e6)


def test_1h_count_above_the_writes_is_capped() -> None:
    """A 1-hour count larger than the writes (a server's mistake) prices no more than the writes, all at the 1-hour rate."""
    usage = Usage(100, 0, 100, cache_write_tokens=40, cache_write_1h_tokens=90)
    assert Price(1.0, 1.0).usage_cost(usage) == pytest.approx((60 * 1.0 + 40 * 2.0) / 1e6)


def test_mock_reports_cache_writes_by_lifetime() -> None:
    """MockProvider's Anthropic usage breaks cache writes down by lifetime, as the API does; ailib reads it."""
    from ailib.testing import Fault, MockProvider, Reply

    with MockProvider("anthropic", api_key=KEY) as mock, AiClient(mock.provider(api_key=KEY)) as client:
        mock.enqueue(Fault("ok", reply=Reply("hi", prompt_tokens=100, cache_write_tokens=60, cache_write_1h_tokens=40)))
        resp = client.chat_completion(ChatCompletionRequest("claude-sonnet-4-5", [Message.user("hi")]))
        body = resp.raw
    assert body["usage"]["cache_creation"] == {"ephemeral_5m_input_tokens": 20, "ephemeral_1h_input_tokens": 40}
    assert (resp.usage.cache_write_tokens, resp.usage.cache_write_1h_tokens) == (60, 40)


# -- totals and round trips ----------------------------------------------------------------------


def test_ledger_sums_details_and_counts_unreported_as_zero() -> None:
    """usage_totals() adds cached, cache-write and reasoning tokens; a detail not reported adds 0."""
    ledger = UsageLedger()
    ledger.add("p", "m", Usage(100, 30, 130, cached_tokens=60, reasoning_tokens=12), None)
    ledger.add("p", "m", Usage(50, 10, 60, cached_tokens=5, cache_write_tokens=20), None)
    ledger.add("p", "m", Usage(1, 1, 2), None)
    t = ledger.snapshot()[("p", "m")]
    assert (t.calls, t.prompt_tokens, t.cached_tokens, t.cache_write_tokens, t.reasoning_tokens) == (3, 151, 65, 20, 12)


def test_response_dict_round_trip_keeps_the_details() -> None:
    """to_dict/from_dict keep usage details; a dict written before they existed still loads."""
    from ailib import Message as M

    resp = ChatCompletionResponse("r", "m", "p", (Choice(0, M.assistant("hi"), "stop"),), CACHE_USAGE)
    assert ChatCompletionResponse.from_dict(json.loads(json.dumps(resp.to_dict()))).usage == CACHE_USAGE
    old = dict(resp.to_dict(), usage={"prompt_tokens": 1, "completion_tokens": 2, "total_tokens": 3})
    assert ChatCompletionResponse.from_dict(old).usage == Usage(1, 2, 3)


def test_mock_script_replies_take_usage_details() -> None:
    """A scripted reply (mock-server ``/_mock/script``) may set cached, cache-write and reasoning tokens."""
    from ailib.testing import Reply
    from ailib.testing._script import reply_from_json

    obj = {"text": "x", "prompt_tokens": 9, "cached_tokens": 4, "cache_write_tokens": 2, "cache_write_1h_tokens": 1, "reasoning_tokens": 1}
    expected = Reply("x", prompt_tokens=9, cached_tokens=4, cache_write_tokens=2, cache_write_1h_tokens=1, reasoning_tokens=1)
    assert reply_from_json(obj) == expected


def test_gemini_tool_use_prompt_tokens_are_prompt_tokens() -> None:
    """toolUsePromptTokenCount (input from Gemini's own tools) joins prompt tokens, so prompt + completion is the total."""
    data = load("gemini", "response_usage_details")
    data["usageMetadata"].update(toolUsePromptTokenCount=90, totalTokenCount=2893)
    usage = decode("gemini", data).usage
    assert (usage.prompt_tokens, usage.completion_tokens, usage.total_tokens) == (2400, 493, 2893)


def test_xai_reasoning_outside_completion_tokens_counts_as_completion() -> None:
    """A live xAI answer counts reasoning outside completion_tokens (its total adds them): they become completion tokens."""
    data = json.loads((FIXTURES / "openai" / "replay" / "xai_tool_call.json").read_text())
    u = data["usage"]
    assert u["total_tokens"] == u["prompt_tokens"] + u["completion_tokens"] + u["completion_tokens_details"]["reasoning_tokens"]
    assert decode("openai", data).usage == Usage(307, 26 + 255, 588, cached_tokens=244, reasoning_tokens=255)


def test_reasoning_inside_completion_tokens_is_not_added_twice() -> None:
    """OpenAI and DeepSeek count reasoning inside completion_tokens (total = prompt + completion): kept as sent."""
    data = json.loads((FIXTURES / "openai" / "replay" / "deepseek_reasoning.json").read_text())
    assert decode("openai", data).usage == Usage(18, 345, 363, cached_tokens=0, reasoning_tokens=315)


def test_anthropic_thinking_tokens_are_the_reasoning_tokens() -> None:
    """Anthropic's output_tokens_details.thinking_tokens (anthropic-sdk-python's OutputTokensDetails; made-up counts)
    is reasoning_tokens, in a body and from a stream's message_delta, and stays part of completion_tokens."""
    wire = get_wire_format("anthropic")
    usage = {"input_tokens": 12, "output_tokens": 300, "output_tokens_details": {"thinking_tokens": 220}}
    body = {"id": "msg_1", "model": "claude-x", "content": [{"type": "text", "text": "4"}], "stop_reason": "end_turn", "usage": usage}
    assert wire.decode(body, provider="anthropic", model="m", headers={}).usage == Usage(12, 300, 312, reasoning_tokens=220)
    decoder = wire.stream_decoder(provider="anthropic", model="m")
    start = {"type": "message_start", "message": {"id": "msg_1", "model": "claude-x", "usage": {"input_tokens": 12, "output_tokens": 1}}}
    delta = {
        "type": "message_delta",
        "delta": {"stop_reason": "end_turn"},
        "usage": {"output_tokens": 300, "output_tokens_details": {"thinking_tokens": 220}},
    }
    chunks = [c for e in (start, delta, {"type": "message_stop"}) for c in decoder.feed(SseEvent(e["type"], json.dumps(e)))]
    assert chunks[-1].usage == Usage(12, 300, 312, reasoning_tokens=220)
