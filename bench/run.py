"""ailib against its peers, every figure side by side in one run: ``python -m bench.run --runs 3``.

Each run is a fresh process that starts its own local endpoints (nginx when installed, else
the Python fast server; SSE streams always from the Python server), builds every client and
measures, finely interleaved (every client in every cycle, order rotated):

- per call: raw ``requests.Session().post(json=...)`` (the baseline), tuned requests, the
  urllib3 pool (the floor), openai-python, and ailib: default client, full stack (3-endpoint
  round robin + limiter + breaker + retry + hedging armed but not firing), hedged (armed, no
  hedge fired); wall time and this process's CPU time per call, each with a ratio to the
  baseline per interleaved cycle;
- ailib's own call path alone (``path``): CPU per call through a transport that hands back the
  answer at once, no network;
- SSE streams of 201 events, chunked (one chunk per event) and Content-Length framed, against
  ``requests`` ``iter_lines()`` + ``json.loads``;
- throughput from 16 and 64 threads sharing one client, against a shared requests Session;
- ``import`` time: ``import ailib`` plus one default client built against importing its
  dependencies plus one ``requests.Session()`` (alternating), and ``import ailib`` against the
  import of its own dependencies in the same process; resident memory after 50 calls; each in
  fresh interpreters.

The parent prints one markdown table with every figure as its range over the runs (low–high,
never a single best run) and a table of the performance targets. ``--quick`` is for development.
"""

from __future__ import annotations

import argparse
import io
import json
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any, Optional, TextIO

if __package__ in (None, ""):  # python bench/run.py
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
    __package__ = "bench"

from ._measure import interleaved, interleaved_throughput, run_child
from ._peers import EXPECT_CALL, EXPECT_STREAM, Peers, check, litellm_available, openai_available
from ._servers import Servers

ROOT = Path(__file__).resolve().parents[1]
SECTIONS = ("call", "path", "hedge", "stream", "threads", "import", "memory")

# call/stream: (rounds, seconds per client per round, seconds per block, warm-up calls);
# threads: (rounds, seconds per measurement); import: fresh interpreters for ailib (peers: a third).
# hedge: back-to-back pairs (hedged, unhedged) per transport.
FULL = {
    "call": (5, 0.3, 0.03, 50),
    "path": (5, 0.2, 0.02, 200),
    "hedge": 2000,
    "stream": (5, 0.3, 0.06, 4),
    "threads": (3, 0.4),
    "import": 6,
}
QUICK = {
    "call": (3, 0.1, 0.02, 20),
    "path": (3, 0.1, 0.02, 100),
    "hedge": 500,
    "stream": (3, 0.1, 0.05, 2),
    "threads": (2, 0.25),
    "import": 3,
}

CALL_ROWS = ["raw requests", "tuned requests", "urllib3 pool", "openai-python", "ailib default", "ailib full stack", "ailib hedged"]
STREAM_ROWS = ["raw requests", "urllib3 pool", "openai-python", "ailib default"]
THREAD_ROWS = ["raw requests", "tuned requests", "urllib3 pool", "openai-python", "ailib default", "ailib full stack"]


# -- one run (a child process) ------------------------------------------------------------------------


def _call_clients(peers: Peers, with_openai: bool) -> dict[str, Any]:
    clients = {
        "raw requests": peers.raw_requests(),
        "tuned requests": peers.tuned_requests(),
        "urllib3 pool": peers.urllib3_pool(),
        "openai-python": peers.openai_call() if with_openai else None,
        "ailib default": peers.ailib_call("default"),
        "ailib full stack": peers.ailib_call("full"),
        "ailib hedged": peers.ailib_call("hedged"),
    }
    return {k: v for k, v in clients.items() if v is not None}


def _stream_clients(peers: Peers, framing: str, with_openai: bool) -> dict[str, Any]:
    clients = {
        "raw requests": peers.stream_iter_lines(framing),
        "urllib3 pool": peers.stream_urllib3(framing),
        "openai-python": peers.stream_openai(framing) if with_openai else None,
        "ailib default": peers.stream_ailib(framing),
    }
    return {k: v for k, v in clients.items() if v is not None}


# The import a user pays (issue 23): `import ailib` and one default OpenAI client built (a dummy
# key and a loopback base URL from the environment, as README's `AiClient("openai")`; nothing is
# sent), against importing its dependencies and making one `requests.Session()`. Each in a fresh
# interpreter, the two alternating (A, B, A, B, ...); a run's ratio is the median of the pairs'.
CLIENT_ENV = {"OPENAI_API_KEY": "sk-bench-dummy-key", "OPENAI_BASE_URL": "http://127.0.0.1:9/v1"}
CLIENT_BUILD = "import time; t=time.perf_counter(); import ailib; c=ailib.AiClient('openai'); print(time.perf_counter()-t); c.close()"
SESSION_BUILD = (
    "import time; t=time.perf_counter(); import requests, urllib3, tenacity, attrs; s=requests.Session(); "
    "print(time.perf_counter()-t); s.close()"
)


def _import_figures(repeats: int, with_openai: bool) -> dict[str, Any]:
    """Fresh interpreters, alternating: ailib + one client against its deps + a Session; ailib after
    its deps in one process; each peer alone."""
    import compileall

    import ailib

    compileall.compile_dir(os.path.dirname(ailib.__file__), quiet=1)  # measure from .pyc, like installed peers
    ours = (
        "import time; t=time.perf_counter(); import requests, urllib3, tenacity, attrs; a=time.perf_counter()-t;"
        "import ailib; ailib.AiClient; b=time.perf_counter()-t; print(a, b)"
    )
    alone = "import time; t=time.perf_counter(); import {m}; print(time.perf_counter()-t)"
    codes = {"requests": alone.format(m="requests"), "urllib3": alone.format(m="urllib3")}
    if with_openai:
        codes["openai"] = alone.format(m="openai")
    deps: list[float] = []
    total: list[float] = []
    client: list[float] = []
    session: list[float] = []
    peers: dict[str, list[float]] = {k: [] for k in codes}
    for i in range(repeats):
        client.append(run_child(CLIENT_BUILD, env=CLIENT_ENV)[0])
        session.append(run_child(SESSION_BUILD)[0])
        a, b = run_child(ours)
        deps.append(a)
        total.append(b)
        if i % 3 == 0:  # peers' imports are context, not a target: a third as many (openai's is slow)
            for name, code in codes.items():
                peers[name].append(run_child(code)[0])
    return {
        "deps_ms": statistics.median(deps) * 1e3,
        "ailib_ms": statistics.median(total) * 1e3,
        "ratio": statistics.median(b / a for a, b in zip(deps, total)),
        "client_ms": statistics.median(client) * 1e3,
        "session_ms": statistics.median(session) * 1e3,
        "client_ratio": statistics.median(a / b for a, b in zip(client, session)),
        "peers_ms": {k: statistics.median(v) * 1e3 for k, v in peers.items()},
    }


_RSS = (
    "def _rss():\n"
    "    with open('/proc/self/status') as f:\n"
    "        for line in f:\n"
    "            if line.startswith('VmRSS:'):\n"
    "                return int(line.split()[1]) / 1024\n"
    "    import resource; return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024\n"
)


def _memory_figures(json_port: int, with_openai: bool) -> dict[str, float]:
    """Resident MB of a fresh process after building one client and making 50 calls."""
    make = {
        "raw requests": "p.raw_requests()",
        "urllib3 pool": "p.urllib3_pool()",
        "openai-python": "p.openai_call()" if with_openai else None,
        "ailib default": "p.ailib_call('default')",
        "ailib full stack": "p.ailib_call('full')",
    }
    out = {"python": run_child(_RSS + "print(_rss())")[0]}
    for name, expr in make.items():
        if expr is None:
            continue
        code = (
            _RSS
            + f"from bench._peers import Peers\np = Peers({json_port}, {json_port})\nfn = {expr}\nfor _ in range(50): fn()\nprint(_rss())"
        )
        out[name] = run_child(code)[0]
    return out


def one_run(sections: tuple[str, ...], quick: bool, use_nginx: bool) -> dict[str, Any]:
    plan = QUICK if quick else FULL
    with_openai = openai_available() is not None
    result: dict[str, Any] = {"load": [os.getloadavg()[0]] if hasattr(os, "getloadavg") else []}
    with Servers(use_nginx=use_nginx) as servers:
        result["server"] = servers.json_server
        peers = Peers(servers.json_port, servers.python_port)
        try:
            if "call" in sections:
                clients = _call_clients(peers, with_openai)
                for name, fn in clients.items():
                    check(name, fn, EXPECT_CALL)
                rounds, per_round, block, warmup = plan["call"]
                result["call"] = interleaved(
                    clients, "raw requests", rounds=rounds, round_seconds=per_round, block_seconds=block, warmup=warmup
                )
            if "path" in sections:  # ailib's own call path, no network: a transport with a canned answer
                clients = {
                    f"ailib {k}" if k != "full" else "ailib full stack": peers.ailib_in_process(k) for k in ("default", "full", "hedged")
                }
                for name, fn in clients.items():
                    check(f"{name} (in process)", fn, EXPECT_CALL)
                rounds, per_round, block, warmup = plan["path"]
                result["path"] = interleaved(
                    clients, "ailib default", rounds=rounds, round_seconds=per_round, block_seconds=block, warmup=warmup
                )
            if "hedge" in sections:  # hedged (no hedge fired) minus unhedged, median of back-to-back pairs
                from .bench_hedge_overhead import run as hedge_pairs

                result["hedge"] = {
                    "loopback_us": hedge_pairs(plan["hedge"], port=servers.json_port)["difference_us"],
                    "in_process_us": hedge_pairs(plan["hedge"], in_process=True)["difference_us"],
                }
            if "stream" in sections:
                rounds, per_round, block, warmup = plan["stream"]
                for framing in ("chunked", "length"):
                    clients = _stream_clients(peers, framing, with_openai)
                    for name, fn in clients.items():
                        check(f"{name} ({framing} stream)", fn, EXPECT_STREAM)
                    result[f"stream_{framing}"] = interleaved(
                        clients, "raw requests", rounds=rounds, round_seconds=per_round, block_seconds=block, warmup=warmup
                    )
            if "threads" in sections:
                rounds, seconds = plan["threads"]
                clients = {k: v for k, v in _call_clients(peers, with_openai).items() if k in THREAD_ROWS}
                for threads in (16, 64):
                    result[f"threads_{threads}"] = interleaved_throughput(
                        clients, "raw requests", threads=threads, rounds=rounds, seconds=seconds
                    )
        finally:
            peers.close()
        if "memory" in sections:
            result["memory"] = _memory_figures(servers.json_port, with_openai)
    if "import" in sections:
        result["import"] = _import_figures(plan["import"], with_openai)
    if hasattr(os, "getloadavg"):
        result["load"].append(os.getloadavg()[0])
    result["at"] = time.time()
    return result


# -- the parent: runs, ranges, tables -----------------------------------------------------------------


def _rng(xs: list[float], fmt: str, unit: str = "") -> str:
    xs = [x for x in xs if x is not None]
    if not xs:
        return "—"
    lo, hi = min(xs), max(xs)
    a, b = format(lo, fmt), format(hi, fmt)
    return f"{a}{unit}" if a == b else f"{a}–{b}{unit}"


def _get(runs: list[dict], *path: str) -> list[float]:
    out = []
    for r in runs:
        v: Any = r
        for p in path:
            if not isinstance(v, dict) or p not in v:
                v = None
                break
            v = v[p]
        if v is not None:
            out.append(statistics.median(v) if isinstance(v, list) else v)
    return out


ROW_LABEL = {
    "raw requests": "raw requests (`Session().post(json=)`; streams: `iter_lines()` + `json.loads`) — baseline",
    "tuned requests": "tuned requests (`trust_env=False`, body and headers prepared once)",
    "urllib3 pool": "urllib3 pool (the floor; streams: whole body, split, `json.loads`)",
    "openai-python": "openai-python",
    "ailib default": "ailib, default client",
    "ailib full stack": "ailib, full stack (3-endpoint round robin, limiter, breaker, retry, hedging armed)",
    "ailib hedged": "ailib, hedged (armed, no hedge fired)",
}
IMPORT_OF = {"raw requests": "requests", "tuned requests": "requests", "urllib3 pool": "urllib3", "openai-python": "openai"}


def render(runs: list[dict], out: TextIO) -> None:
    n = len(runs)
    servers = sorted({r.get("server", "?") for r in runs})
    oa = openai_available()
    ll = litellm_available()
    loads = [x for r in runs for x in r.get("load", [])]
    cpus = os.cpu_count() or 1
    if loads:
        busy = "loaded by other jobs" if max(loads) > 0.5 * cpus else "otherwise idle"
        load = f"1-minute load average {min(loads):.1f}–{max(loads):.1f} during the runs ({busy})"
    else:
        load = "load average unknown"
    print(
        f"Python {platform.python_version()} on {platform.system()} {platform.machine()}, {cpus} CPUs, {load}; "
        f"JSON endpoint: {', '.join(servers)}; SSE: Python asyncio server; openai-python {oa or 'not installed'}; "
        f"{n} run(s), each figure low–high over the runs (a run's ratio: the median of its rounds, each the median of its cycles).\n",
        file=out,
    )
    print(
        "| client | per call | × raw requests | client CPU per call | CPU × raw | call path alone, CPU | 16 threads × shared Session "
        "| 64 threads × shared Session | chunked SSE, 201 events | × iter_lines | Content-Length SSE | × iter_lines "
        "| import | RSS after 50 calls |",
        file=out,
    )
    print("|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|", file=out)
    rows = list(dict.fromkeys(CALL_ROWS + STREAM_ROWS + THREAD_ROWS))
    for row in rows:
        cells = [
            _rng(_get(runs, "call", row, "median_us"), ".0f", " µs"),
            _rng(_get(runs, "call", row, "ratios"), ".2f", "×"),
            _rng(_get(runs, "call", row, "cpu_us"), ".0f", " µs"),
            _rng(_get(runs, "call", row, "cpu_ratios"), ".2f", "×"),
            _rng(_get(runs, "path", row, "cpu_us"), ".0f", " µs"),
            _rng(_get(runs, "threads_16", row, "ratios"), ".2f", "×"),
            _rng(_get(runs, "threads_64", row, "ratios"), ".2f", "×"),
            _rng(_get(runs, "stream_chunked", row, "median_us"), ".0f", " µs"),
            _rng(_get(runs, "stream_chunked", row, "ratios"), ".2f", "×"),
            _rng(_get(runs, "stream_length", row, "median_us"), ".0f", " µs"),
            _rng(_get(runs, "stream_length", row, "ratios"), ".2f", "×"),
        ]
        if row.startswith("ailib"):
            cells.append(_rng(_get(runs, "import", "ailib_ms"), ".0f", " ms") if row == "ailib default" else "")
        else:
            cells.append(_rng(_get(runs, "import", "peers_ms", IMPORT_OF.get(row, "")), ".0f", " ms") if row in IMPORT_OF else "")
        cells.append(_rng(_get(runs, "memory", row), ".1f", " MB"))
        print(f"| {ROW_LABEL[row]} | " + " | ".join(cells) + " |", file=out)
    litellm = f"LiteLLM {ll}: not measured by this suite yet" if ll else "LiteLLM: not installed (see bench/README.md)"
    print(f"| {litellm} |" + " |" * 13, file=out)
    py = _rng(_get(runs, "memory", "python"), ".1f", " MB")
    print(
        f"\nClient CPU: this process's CPU time per call (every thread of the client; the server is another "
        f"process), steadier than wall time on a loaded machine. Call path alone: the same client's CPU per "
        f"call through a transport that hands back the canned answer at once (`with_transport`), i.e. "
        f"routing, limiter, breaker, retry, encode, decode and records without any network. "
        f"Throughput: calls/s of 16 or 64 threads sharing one client, ratio to a shared `requests.Session()` "
        f"in the same round. Import: fresh interpreters; ailib's includes its dependencies "
        f"(requests, urllib3, tenacity, attrs: {_rng(_get(runs, 'import', 'deps_ms'), '.0f', ' ms')}); "
        f'`import ailib` + one default client built (`AiClient("openai")`, nothing sent): '
        f"{_rng(_get(runs, 'import', 'client_ms'), '.0f', ' ms')}, against the dependencies + one `requests.Session()`: "
        f"{_rng(_get(runs, 'import', 'session_ms'), '.0f', ' ms')} (alternating fresh interpreters). "
        f"RSS: a fresh interpreter after building the client and making 50 calls (bare interpreter: {py}).\n",
        file=out,
    )
    targets = [
        ("ailib default client, per call", _get(runs, "call", "ailib default", "ratios"), 0.55, "≤"),
        ("ailib full stack, per call", _get(runs, "call", "ailib full stack", "ratios"), 0.65, "≤"),
        ("ailib hedged (no hedge fired), per call", _get(runs, "call", "ailib hedged", "ratios"), None, ""),
        ("ailib default client, client CPU per call", _get(runs, "call", "ailib default", "cpu_ratios"), None, ""),
        ("ailib full stack, client CPU per call", _get(runs, "call", "ailib full stack", "cpu_ratios"), None, ""),
        ("chunked 201-event SSE vs iter_lines + json.loads", _get(runs, "stream_chunked", "ailib default", "ratios"), 1.15, "≤"),
        ("Content-Length 201-event SSE vs iter_lines + json.loads", _get(runs, "stream_length", "ailib default", "ratios"), None, ""),
        ("64-thread throughput vs a shared requests Session", _get(runs, "threads_64", "ailib default", "ratios"), 2.0, "≥"),
        ("`import ailib` vs its dependencies", _get(runs, "import", "ratio"), 1.15, "≤"),
        (
            "`import ailib` + one default client vs the dependencies + a `requests.Session()`",
            _get(runs, "import", "client_ratio"),
            1.3,
            "≤",
        ),
    ]
    hedge = [(label, _get(runs, "hedge", key)) for label, key in (("loopback", "loopback_us"), ("in process", "in_process_us"))]
    for where, xs in hedge:
        targets.append((f"hedged (no hedge fired) minus unhedged, {where}", xs, 10.0 if where == "loopback" else None, "µs"))
    print("| target | measured, low–high | median of runs | goal | met |", file=out)
    print("|---|---:|---:|---:|---|", file=out)
    for label, xs, goal, op in targets:
        if not xs:
            continue
        med = statistics.median(xs)
        if op == "µs":  # a difference in µs per call, at most ``goal``
            met = "" if goal is None else ("yes" if med <= goal else "**no**")
            goal_s = "" if goal is None else f"≤ {goal:.0f} µs"
            print(f"| {label} | {_rng(xs, '+.1f', ' µs')} | {med:+.1f} µs | {goal_s} | {met} |", file=out)
            continue
        met = "" if goal is None else ("yes" if (med <= goal if op == "≤" else med >= goal) else "**no**")
        goal_s = "" if goal is None else f"{op} {goal:.2f}×"
        print(f"| {label} | {_rng(xs, '.2f', '×')} | {med:.2f}× | {goal_s} | {met} |", file=out)


def main(argv: Optional[list[str]] = None, out: TextIO = sys.stdout) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.run", description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--runs", type=int, default=3, help="independent runs (fresh processes); default 3")
    parser.add_argument("--quick", action="store_true", help="short rounds, for development only")
    parser.add_argument("--only", default=",".join(SECTIONS), help=f"comma-separated sections of {','.join(SECTIONS)}")
    parser.add_argument("--no-nginx", action="store_true", help="use the Python server even when nginx is installed")
    parser.add_argument("--json", metavar="PATH", help="also write every run's raw figures here")
    parser.add_argument("--write", action="store_true", help="also put the tables into docs/benchmarks.md and bench/README.md")
    parser.add_argument("--from-json", metavar="PATH", help="print (and --write) the tables of runs saved with --json; measure nothing")
    parser.add_argument("--one-run", metavar="PATH", help=argparse.SUPPRESS)  # a child: its figures as JSON to PATH
    args = parser.parse_args(argv)
    sections = tuple(s for s in args.only.split(",") if s)
    unknown = set(sections) - set(SECTIONS)
    if unknown:
        parser.error(f"unknown section(s) {sorted(unknown)}; choose from {','.join(SECTIONS)}")
    if args.one_run:
        Path(args.one_run).write_text(json.dumps(one_run(sections, args.quick, not args.no_nginx)))
        return 0
    runs: list[dict] = []
    if args.from_json:
        runs = json.loads(Path(args.from_json).read_text())
        return _report(runs, args, out)
    env = dict(os.environ)
    env["PYTHONPATH"] = str(ROOT) + (os.pathsep + env["PYTHONPATH"] if env.get("PYTHONPATH") else "")
    with tempfile.TemporaryDirectory(prefix="ailib-bench-") as tmp:
        for i in range(args.runs):
            figures = Path(tmp) / f"run{i}.json"
            child = [sys.executable, "-m", "bench.run", "--one-run", str(figures), "--only", ",".join(sections)]
            child += ["--quick"] if args.quick else []
            child += ["--no-nginx"] if args.no_nginx else []
            t = time.monotonic()
            proc = subprocess.run(child, capture_output=True, text=True, cwd=str(ROOT), env=env)
            if proc.returncode != 0:
                print(f"run {i + 1} failed:\n{proc.stderr[-3000:]}", file=sys.stderr)
                return 1
            runs.append(json.loads(figures.read_text()))
            print(f"run {i + 1}/{args.runs}: {time.monotonic() - t:.0f} s", file=sys.stderr, flush=True)
    if args.json:
        Path(args.json).write_text(json.dumps(runs, indent=1))
    return _report(runs, args, out)


def _report(runs: list[dict], args: argparse.Namespace, out: TextIO) -> int:
    text = io.StringIO()
    render(runs, text)
    out.write(text.getvalue())
    if args.write:
        for path in DOCS:
            write_block(path, text.getvalue(), len(runs), max((r.get("at", 0.0) for r in runs), default=0.0))
    return 0


START, END = "<!-- perf-table:start -->", "<!-- perf-table:end -->"
DOCS = (ROOT / "docs" / "benchmarks.md", ROOT / "bench" / "README.md")  # the files whose perf-table block --write refreshes


def write_block(path: Path, tables: str, runs: int, at: float = 0.0) -> None:
    """Replace what stands between the perf-table markers of ``path`` with ``tables``."""
    doc = path.read_text(encoding="utf-8")
    head, _, rest = doc.partition(START)
    _, _, tail = rest.partition(END)
    if not rest or END not in rest:
        raise SystemExit(f"{path}: no {START} ... {END} block")
    stamp = time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime(at or None))
    path.write_text(
        f"{head}{START}\nMeasured {stamp} by `python -m bench.run --runs {runs}`. {tables.strip()}\n{END}{tail}", encoding="utf-8"
    )


if __name__ == "__main__":
    sys.exit(main())
