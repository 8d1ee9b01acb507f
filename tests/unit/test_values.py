"""Every value class of ailib, found by walking the package, is made by ``ailib._value`` and keeps
attrs' contract: repr shows every field, ``==``/``hash`` agree, and a pickle round trip is equal."""

from __future__ import annotations

import copy
import dataclasses
import importlib
import pickle
import pkgutil
from typing import Any, Callable

import attrs
import pytest
from attrs.exceptions import FrozenInstanceError

import ailib
from ailib._value import is_value, mutable_value, value

# Non-attrs classes that look like data holders (only ``__init__``, or only slots) but hold live
# state or are runtime objects, not values. A new entry needs a reason as good as these.
LIVE = {
    "ailib._value._Plan": "the value machinery's own per-class cache",
    "ailib._response.ResponseHeaders": "a read-only Mapping over a response's HTTP headers, filtered when first read",
    "ailib._tracing._Api": "handles to the OpenTelemetry API",
    "ailib.call.pipeline._Life": "a client's open/closed flag, shared by its views",
    "ailib.call.spec.CallSpec": "one call's description, made per call on the hot path; holds its live span and body memo",
    "ailib.call.branch.Branch": "one line of attempts of a call in flight: its log, cancel token and observer",
    "ailib.call.race._Runner": "one target's branch in a race, its state changed under the race's lock",
    "ailib.call.extras._Where": "a cache replay's stand-in for a Target (per call)",
    "ailib.call.extras._Provider": "a cache replay's stand-in for an Endpoint (per call)",
    "ailib.providers.anthropic._Block": "a stream decoder's growing tool-call block",
    "ailib.routing.health._Status": "an endpoint's health verdict and its probe lock",
    "ailib.routing.router.Stats": "an endpoint's live routing statistics",
    "ailib.state.redis._scripts.Scripts": "a Redis client's registered scripts",
}
_BOOKKEEPING = {"__module__", "__qualname__", "__doc__", "__slots__", "__annotations__", "__dict__", "__weakref__"}
_BOOKKEEPING |= {"__firstlineno__", "__static_attributes__", "__annotate_func__", "__annotations_cache__"}


def _classes() -> dict[str, type]:
    """Every class defined in a module of ailib (nested classes too), by qualified name."""
    modules = [ailib]
    for info in pkgutil.walk_packages(ailib.__path__, "ailib."):
        if info.name != "ailib.__main__":  # runs the command line
            modules.append(importlib.import_module(info.name))
    found: dict[str, type] = {}

    def walk(owner: Any, module: str) -> None:
        for obj in vars(owner).values():
            if isinstance(obj, type) and obj.__module__ == module and f"{module}.{obj.__qualname__}" not in found:
                found[f"{module}.{obj.__qualname__}"] = obj
                walk(obj, module)

    for m in modules:
        walk(m, m.__name__)
    return found


CLASSES = _classes()
VALUES = sorted(name for name, cls in CLASSES.items() if attrs.has(cls))


def _looks_like_a_value(cls: type) -> bool:
    """A dataclass or NamedTuple, compares by value by hand, or holds data and does nothing else (slots or ``__init__`` only)."""
    if dataclasses.is_dataclass(cls) or (issubclass(cls, tuple) and hasattr(cls, "_fields")):
        return True
    own = vars(cls)
    if own.get("__eq__", object.__eq__) is not object.__eq__:
        return True
    slots = own.get("__slots__", ())
    fields = {slots} if isinstance(slots, str) else set(slots)
    plain = set(own) <= _BOOKKEEPING | fields | {"__init__"}
    return plain and ("__init__" in own or bool(fields)) and not issubclass(cls, BaseException)


def test_every_attrs_class_is_made_by_value():
    """No class of ailib is a bare attrs class: each goes through ailib._value (so none compares by identity by accident)."""
    assert len(VALUES) >= 40
    assert [name for name in VALUES if not is_value(CLASSES[name])] == []


def test_no_hand_written_value_class_is_left():
    """A class comparing by value by hand, or a slots/__init__-only data holder, is a value class, unless it is live state listed in LIVE."""
    suspects = sorted(name for name, cls in CLASSES.items() if not attrs.has(cls) and _looks_like_a_value(cls))
    assert [name for name in suspects if name not in LIVE] == []


def test_every_live_entry_names_a_class() -> None:
    """LIVE names only classes that exist, so a removed class cannot leave an exemption behind."""
    assert [name for name in LIVE if name not in CLASSES] == []


def _samples() -> dict[str, Callable[[], Any]]:
    """One instance of each value class, with a field or two away from its default, and a dict where a field takes one."""
    from ailib import (
        ChatCompletionRequest,
        ChatCompletionResponse,
        Choice,
        CircuitBreakerPolicy,
        Citation,
        ConnectionOptions,
        Content,
        HedgePolicy,
        Message,
        RateLimitPolicy,
        ReasoningPart,
        RetryPolicy,
        ServerToolPart,
        StreamChunk,
        Tool,
        ToolCall,
        ToolCallDelta,
        Usage,
    )
    from ailib._assembly import Config
    from ailib._sse import SseEvent
    from ailib.batch._progress import BatchProgress
    from ailib.batch._run import BatchContext
    from ailib.batch._wire import Status
    from ailib.cache._entry import CachedAnswer
    from ailib.call.usage import Price, UsageTotal
    from ailib.errors import Attempt, RateLimitExceeded
    from ailib.providers._registry import PROVIDERS, Provider
    from ailib.providers._urls import BaseUrl
    from ailib.reliability.circuit import Permit
    from ailib.routing._topology import Topology
    from ailib.routing.endpoint import ArrayStep, Endpoint, Target, build_endpoint
    from ailib.routing.fallback import FallbackStep, always, is_timeout
    from ailib.routing.health import HealthCheck
    from ailib.routing.model_array import LoadBalancingStrategy, ModelEndpoint
    from ailib.state.memory import EndpointState
    from ailib.state.redis._objects import _SharedPermit
    from ailib.testing import Fault
    from ailib.testing._faults import Reply, ReplyCitation
    from ailib.testing._mock_transport import MockResponse
    from ailib.testing._owner import Route
    from ailib.transport import Deadlines, HttpRequest, HttpResponse

    key = "sk-test-values-0123456789"
    opts = ConnectionOptions(api_key=key, timeout=5.0, proxy="http://u:pw@proxy:8080", extra_headers={"X-Team": "a"})

    def endpoint(name: str = "openai") -> Endpoint:
        return build_endpoint(Provider.OPENAI, opts, name=name, model="gpt-4o-mini")

    def citation() -> Citation:
        raw = {"type": "char_location", "cited_text": "sky", "document_index": 0, "document_title": "d", "start_char_index": 4}
        return Citation("anthropic", "char_location", "sky", "https://x/d", "d", 0, 2, 0, "d", 1, raw)

    def server_tool() -> ServerToolPart:
        raw = {"type": "server_tool_use", "id": "srvtoolu_1", "name": "web_search", "input": {"query": "q"}}
        return ServerToolPart("anthropic", "server_tool_use", "srvtoolu_1", "web_search", {"query": "q"}, raw, 0, 2)

    def message() -> Message:
        return Message.assistant(
            "hi", tool_calls=[ToolCall("c1", "f", {"x": 1})], citations=[citation()], server_tool_parts=[server_tool()]
        )

    def response() -> ChatCompletionResponse:
        return ChatCompletionResponse(
            "r1",
            "gpt",
            "openai",
            (Choice(0, message(), "stop"),),
            Usage(1, 2, 3),
            raw={"id": "r1"},
            headers={"x-request-id": "req_1"},
            parsed={"answer": 4},
        )

    samples: dict[str, Callable[[], Any]] = {
        "ailib._assembly.Config": lambda: Config(provider="openai", chain=["anthropic"], options=opts, deadline=9.0),
        "ailib._message.Content": lambda: Content.image_url("https://x/cat.png", detail="low", cache_control={"type": "ephemeral"}),
        "ailib._message.ToolCall": lambda: ToolCall("c1", "lookup", {"q": "x"}),
        "ailib._message.ToolCallDelta": lambda: ToolCallDelta(0, "c1", "lookup", '{"q"'),
        "ailib._message.ReasoningPart": lambda: ReasoningPart("anthropic", "thinking", "let me see", "sig==", index=0),
        "ailib._message.Tool": lambda: Tool.function(
            "lookup", "find", {"type": "object", "properties": {"q": {"type": "string"}}}, strict=True
        ),
        "ailib._message.Message": message,
        "ailib._message.Citation": citation,
        "ailib._message.ServerToolPart": server_tool,
        "ailib._response.Usage": lambda: Usage(
            10, 6, 16, cached_tokens=4, cache_write_tokens=2, reasoning_tokens=3, cache_write_1h_tokens=1
        ),
        "ailib._response.Choice": lambda: Choice(
            0, message(), "refusal", "I can't help with that.", {"type": "refusal"}, {"content": [], "refusal": []}
        ),
        "ailib._response.ChatCompletionResponse": response,
        "ailib._response.StreamChunk": lambda: StreamChunk(
            delta_text="d",
            tool_call_deltas=(ToolCallDelta(0),),
            provider="p",
            refusal="no",
            choice_index=1,
            raw={"id": "c1"},
            citations=(citation(),),
            server_tool_parts=(server_tool(),),
        ),
        "ailib._sse.SseEvent": lambda: SseEvent("delta", '{"a":1}', "7"),
        "ailib.batch._progress.BatchProgress": lambda: BatchProgress(3, 1, 9, 1.5, 2.0, cost=0.01),
        "ailib.batch._run.BatchContext": lambda: BatchContext((endpoint(),), None),
        "ailib.batch._wire.Status": lambda: Status("in_progress", done=False, counts={"total": 3}),
        "ailib.cache._entry.CachedAnswer": lambda: CachedAnswer(response(), ("h", "i")),
        "ailib.call.usage.Price": lambda: Price(0.15, 0.6, 0.015, 0.1875, 0.3),
        "ailib.call.usage.UsageTotal": lambda: UsageTotal(
            calls=2, prompt_tokens=3, cost=0.5, cached_tokens=2, cache_write_tokens=1, reasoning_tokens=1, cache_write_1h_tokens=1
        ),
        "ailib.errors.Attempt": lambda: Attempt("openai", "gpt", 1.7e9, 0.25, "error", RateLimitExceeded("slow down"), True, "ep", 0.5),
        "ailib.options.ConnectionOptions": lambda: opts,
        "ailib.providers._registry.ProviderSpec": lambda: attrs.evolve(PROVIDERS[Provider.OPENAI], api_key=key, headers={"X-A": "1"}),
        "ailib.reliability.circuit.CircuitBreakerPolicy": lambda: CircuitBreakerPolicy(failure_ratio=0.5, failure_status=[500, 503]),
        "ailib.providers._urls.BaseUrl": lambda: BaseUrl("https://gw.example/v1", "api_key=k&v=1", "Basic dTpwdw=="),
        "ailib.reliability.circuit.Permit": lambda: Permit(3, 7, 1234.5),
        "ailib.state.redis._objects._SharedPermit": lambda: _SharedPermit(3),
        "ailib.reliability.hedge.HedgePolicy": lambda: HedgePolicy(delay="p95", max_hedges=2),
        "ailib.reliability.ratelimit.RateLimitPolicy": lambda: RateLimitPolicy(requests_per_second=2, burst=4),
        "ailib.reliability.retry.RetryPolicy": lambda: RetryPolicy(
            max_attempts=5, retry_on_status=[503], failover_after=2.0, max_attempts_by_error={ValueError: 2}
        ),
        "ailib.routing._topology.Topology": lambda: Topology(
            (endpoint(),),
            (Target(endpoint("b"), "m2", always, "always"),),
            endpoint("c"),
            LoadBalancingStrategy.WEIGHTED,
            frozenset({"b"}),
            "m1",
        ),
        "ailib.routing.endpoint.Endpoint": endpoint,
        "ailib.routing.endpoint.Target": lambda: Target(endpoint(), "gpt-4o", is_timeout, "on_timeout"),
        "ailib.routing.endpoint.ArrayStep": lambda: ArrayStep.of(
            (endpoint("a"), endpoint("b")), LoadBalancingStrategy.WEIGHTED, always, "always"
        ),
        "ailib.routing.fallback.FallbackStep": lambda: FallbackStep("anthropic/claude-3-haiku", is_timeout, "on_timeout"),
        "ailib.routing.health.HealthCheck": lambda: HealthCheck("/health", 10.0, 2.0),
        "ailib.routing.model_array.ModelEndpoint": lambda: ModelEndpoint(
            "a", "http://u:pw@127.0.0.1:9/v1", model="m", weight=2.0, options=opts
        ),
        "ailib.state.memory.EndpointState": EndpointState,
        "ailib.testing._faults.Reply": lambda: Reply(
            "hi", (("c1", "f", {"x": 1}),), citations=(ReplyCitation(0, 2, "https://x/s", "S", "hello"),), web_search="hi"
        ),
        "ailib.testing._faults.ReplyCitation": lambda: ReplyCitation(0, 2, "https://x/s", "S", "hello"),
        "ailib.testing._faults.Fault": lambda: Fault.http_status(429, retry_after="2"),
        "ailib.testing._mock_transport.MockResponse": lambda: MockResponse(json={"ok": True}, headers={"X-A": "1"}, events=["a", "b"]),
        "ailib.testing._owner.Route": lambda: Route("GET", "/x", always),
        "ailib.transport._types.HttpRequest": lambda: HttpRequest(
            "POST", "http://h/v1?key=k", {"Authorization": f"Bearer {key}"}, b"{}", proxy="http://u:pw@p"
        ),
        "ailib.transport._types.HttpResponse": lambda: HttpResponse(200, {"content-type": "application/json"}, b"{}"),
        "ailib.transport._types.Deadlines": lambda: Deadlines(1.0, 2.0, 3.0, attempt_end=9.0),
        "ailib.types.ChatCompletionRequest": lambda: ChatCompletionRequest(
            "m",
            [{"role": "user", "content": "hi"}],
            temperature=0.5,
            stop="x",
            tool_choice={"type": "auto"},
            extra={"seed": 1},
            n=2,
            cached_content="cachedContents/c1",
        ),
    }
    return samples


SAMPLES = _samples()


def test_every_value_class_has_a_sample():
    """Each value class found has an entry in the samples table (a new class needs one), and no entry is stale."""
    assert sorted(set(VALUES) - set(SAMPLES)) == []
    assert sorted(set(SAMPLES) - set(VALUES)) == []


@pytest.mark.parametrize("name", VALUES)
def test_value_class_contract(name):
    """repr shows every field, no key; == and hash agree; evolve, copy and a pickle round trip give an equal value."""
    cls = CLASSES[name]
    obj = SAMPLES[name]()
    assert type(obj) is cls
    fields = attrs.fields(cls)
    text = repr(obj)
    shown = (f"{f.name}={f.repr(getattr(obj, f.name)) if callable(f.repr) else repr(getattr(obj, f.name))}" for f in fields)
    assert text == f"{cls.__name__}({', '.join(shown)})"
    assert "sk-test-values-0123456789" not in text and ":pw@" not in text and "dTpwdw==" not in text and "key=k" not in text

    for again in (attrs.evolve(obj), copy.copy(obj), copy.deepcopy(obj), pickle.loads(pickle.dumps(obj))):
        assert type(again) is cls
        assert again == obj and not (again != obj)
        assert repr(again) == text
    assert obj.__eq__(object()) is NotImplemented and obj != object()

    field = fields[0]
    if cls.__hash__ is None:  # a mutable value: unhashable, as attrs makes it
        with pytest.raises(TypeError):
            hash(obj)
        return
    assert hash(pickle.loads(pickle.dumps(obj))) == hash(obj) == hash(attrs.evolve(obj))
    with pytest.raises(FrozenInstanceError):
        setattr(obj, field.name, getattr(obj, field.name))


def test_value_methods_match_the_ones_attrs_generates():
    """repr, ==, != and hash of a value class agree with attrs' own on formatted, eq=False, eq_key, NaN and odd fields."""

    class Loud:
        def __eq__(self, other: object) -> Any:
            return "truthy"

        def __hash__(self) -> int:
            return 7

    def fields() -> dict[str, Any]:
        return {
            "a": attrs.field(),
            "b": attrs.field(default="x", repr=lambda v: f"<{v}>"),
            "raw": attrs.field(default=None, eq=False),
            "key": attrs.field(default="K", eq=str.lower),
        }

    generated = attrs.make_class("Thing", fields(), frozen=True, slots=True)
    made = value(type("Thing", (), fields()))
    cases = [
        ((1,), (1,)),
        ((1,), (2,)),
        ((1, "y"), (1, "z")),
        ((1, "x", 1), (1, "x", 2)),
        ((1, "x", None, "AB"), (1, "x", None, "ab")),
        ((1, "x", None, "AB"), (1, "x", None, "ac")),
        ((float("nan"),), (float("nan"),)),
        ((Loud(),), (Loud(),)),
        (((1, ("k", (2, None))),), ((1, ("k", (2, None))),)),
    ]
    for left, right in cases:
        g1, g2, m1, m2 = generated(*left), generated(*right), made(*left), made(*right)
        assert repr(m1) == repr(g1)
        assert (m1 == m2) == (g1 == g2) and type(m1 == m2) is type(g1 == g2)
        assert (m1 != m2) == (g1 != g2)
        assert (hash(m1) == hash(m2)) == (hash(g1) == hash(g2))
        assert m1.__eq__(g1) is NotImplemented


def test_value_shows_a_cycle_as_dots():
    """A value that contains itself (through a list) shows the inner occurrence as ..., like attrs."""
    thing = value(type("Thing", (), {"a": attrs.field()}))
    box: list[Any] = []
    t = thing(box)
    box.append(t)
    assert repr(t) == "Thing(a=[...])"


def test_value_refuses_hidden_fields_and_own_equality():
    """value rejects a field left out of repr and a class writing its own __eq__ or __repr__: the rules hold for every class."""
    with pytest.raises(TypeError, match="left out of repr"):
        value(type("Hidden", (), {"secret": attrs.field(repr=False)}))
    for method in ("__eq__", "__hash__", "__repr__"):
        with pytest.raises(TypeError, match=method):
            value(type("Own", (), {"a": attrs.field(), method: lambda self, *a: 0}))


def test_mutable_value_is_unhashable_and_assignable():
    """mutable_value makes an attrs define class: fields may be assigned, equality by value, no hash."""
    tally = mutable_value(type("Tally", (), {"n": attrs.field(default=0)}))
    t = tally()
    t.n += 1
    assert t == tally(1) and t != tally(2) and repr(t) == "Tally(n=1)"
    with pytest.raises(TypeError, match="unhashable"):
        hash(t)
