"""Batch shards (parse, share, merge) and the progress line's rate and cost, without a network."""

from __future__ import annotations

import json
import sys

import pytest

from ailib import ConfigurationError
from ailib.batch import merge_outputs, parse_shard, shard_from_env, shard_indices
from ailib.batch._progress import Reporter


@pytest.mark.parametrize("spec, expected", [(None, None), ("0/4", (0, 4)), ("3/4", (3, 4)), ((1, 2), (1, 2)), ([0, 1], (0, 1))])
def test_parse_shard_accepts_k_of_n(spec, expected):
    """'K/N' strings and (k, n) pairs with 0 <= k < n parse to (k, n); None means the whole input."""
    assert parse_shard(spec) == expected


@pytest.mark.parametrize("spec", ["4/4", "-1/4", "1/0", "1-4", "a/b", (1,), (True, 2), (0.5, 2)])
def test_parse_shard_rejects_everything_else(spec):
    """Out-of-range, malformed or non-integer shards raise ConfigurationError."""
    with pytest.raises(ConfigurationError):
        parse_shard(spec)


def test_shards_partition_the_input_deterministically():
    """The N shares are disjoint, cover every index, and interleave (index % N == K)."""
    shares = [shard_indices(10, (k, 3)) for k in range(3)]
    assert shares == [[0, 3, 6, 9], [1, 4, 7], [2, 5, 8]]
    assert shard_indices(4, None) == [0, 1, 2, 3]


def _write(path, records):
    path.write_text("".join(json.dumps(r, separators=(",", ":")) + "\n" for r in records))


def test_merge_orders_by_input_index_and_keeps_lines_verbatim(tmp_path):
    """merge_outputs writes each request's line unchanged, in input order, whatever the file order."""
    a, b, out = tmp_path / "a", tmp_path / "b", tmp_path / "out"
    recs = [{"key": f"k{i}#0", "index": i, "response": {"id": str(i)}} for i in range(5)]
    _write(a, [recs[1], recs[3]])
    _write(b, [recs[4], recs[0], recs[2]])
    assert merge_outputs([a, b], out) == 5
    assert out.read_text() == "".join(json.dumps(r, separators=(",", ":")) + "\n" for r in recs)


def test_merge_refuses_a_missing_request(tmp_path):
    """A gap in the input indices (a shard not finished or not given) is a ConfigurationError, and nothing is written."""
    a, out = tmp_path / "a", tmp_path / "out"
    _write(a, [{"key": "k0#0", "index": 0, "response": {}}, {"key": "k2#0", "index": 2, "response": {}}])
    with pytest.raises(ConfigurationError, match="request 1"):
        merge_outputs([a], out)
    assert not out.exists()


def test_plain_progress_line_shows_rate_failures_and_cost(monkeypatch, capsys):
    """Without tqdm, the one-line summary names done/total, failures, the rate and the cost so far."""
    monkeypatch.setitem(sys.modules, "tqdm", None)
    rep = Reporter(True, total=3, done=0, failed=0, skipped=0)
    rep.update(failed=False, cost=0.25)
    rep.update(failed=True)
    rep.update(failed=False, cost=0.5)
    rep.close()
    last = capsys.readouterr().err.strip().splitlines()[-1]
    assert last.startswith("ailib batch: 3/3 done, 1 failed, ")
    assert "req/s" in last and last.endswith("$0.7500")


def test_tqdm_bar_shows_the_cost(capsys):
    """With tqdm, the bar's postfix carries the failures and the cost."""
    rep = Reporter(True, total=2, done=0, failed=0, skipped=0)
    rep.update(failed=False, cost=0.125)
    rep.update(failed=True)
    rep.close()
    err = capsys.readouterr().err
    assert "failed=1" in err and "cost=$0.1250" in err


@pytest.mark.parametrize(
    ("env", "text", "message"),
    [
        ({"SLURM_ARRAY_TASK_ID": "4", "SLURM_ARRAY_TASK_STEP": "2", "SLURM_ARRAY_TASK_COUNT": "3"}, "auto", "step 1"),
        ({"JOB_COMPLETION_INDEX": "3", "AILIB_SHARD_COUNT": "3"}, "auto", "does not fit 3 shards"),
        ({"JOB_COMPLETION_INDEX": "x"}, "auto/2", "JOB_COMPLETION_INDEX must be a whole number"),
    ],
)
def test_shard_from_env_refuses_what_does_not_name_one_shard(env, text, message):
    """A Slurm array with a step, an index past the count, or a non-number is a ConfigurationError saying which."""
    with pytest.raises(ConfigurationError, match=message):
        shard_from_env(text, env)


def test_shard_from_env_prefers_the_count_given_after_auto():
    """`auto/N` wins over AILIB_SHARD_COUNT and SLURM_ARRAY_TASK_COUNT; a Slurm index counts from SLURM_ARRAY_TASK_MIN."""
    env = {"SLURM_ARRAY_TASK_ID": "11", "SLURM_ARRAY_TASK_MIN": "10", "SLURM_ARRAY_TASK_COUNT": "4", "AILIB_SHARD_COUNT": "3"}
    assert shard_from_env("auto/8", env) == (1, 8)
    assert shard_from_env("auto", env) == (1, 3)


def test_merge_keeps_the_response_when_an_error_line_for_it_comes_later_in_one_file(tmp_path):
    """Within one shard file the last line per request wins, except that a response is never superseded (as a resume reads it)."""
    a, out = tmp_path / "a", tmp_path / "out"
    ok = {"key": "k0#0", "index": 0, "response": {"id": "ok"}}
    _write(a, [{"key": "k0#0", "index": 0, "error": {"type": "X"}}, ok, {"key": "k0#0", "index": 0, "error": {"type": "Y"}}])
    assert merge_outputs([a], out) == 1
    assert json.loads(out.read_text()) == ok
