"""The benchmark suite's plumbing (not its figures: benchmarks are not timed tests)."""

from __future__ import annotations

from pathlib import Path

from bench import run as bench_run

ROOT = Path(__file__).resolve().parents[2]


def test_both_benchmark_pages_carry_the_perf_table_block():
    """docs/benchmarks.md and bench/README.md, the files `python -m bench.run --write` refreshes, each hold one perf-table block."""
    assert [p.relative_to(ROOT).as_posix() for p in bench_run.DOCS] == ["docs/benchmarks.md", "bench/README.md"]
    for path in bench_run.DOCS:
        text = path.read_text(encoding="utf-8")
        assert text.count(bench_run.START) == 1 and text.count(bench_run.END) == 1, path


def test_the_readme_links_the_benchmarks_instead_of_carrying_them():
    """README.md links docs/benchmarks.md and holds no perf-table block of its own."""
    text = (ROOT / "README.md").read_text(encoding="utf-8")
    assert "(docs/benchmarks.md)" in text and bench_run.START not in text


def test_write_block_replaces_only_the_block(tmp_path):
    """write_block() swaps what stands between the markers and keeps the text around them."""
    doc = tmp_path / "README.md"
    doc.write_text(f"before\n{bench_run.START}\nold table\n{bench_run.END}\nafter\n", encoding="utf-8")
    bench_run.write_block(doc, "| new | table |\n", 3)
    text = doc.read_text(encoding="utf-8")
    assert text.startswith(f"before\n{bench_run.START}\nMeasured ") and text.endswith(f"| new | table |\n{bench_run.END}\nafter\n")
    assert "old table" not in text and "--runs 3" in text


def test_render_prints_ranges_over_runs():
    """render() prints each figure as its low–high range over the runs and judges a target on the median."""
    import io

    runs = [
        {"call": {"raw requests": {"median_us": 1000.0, "ratios": [1.0]}, "ailib default": {"median_us": 450.0, "ratios": [0.45, 0.46]}}},
        {"call": {"raw requests": {"median_us": 1100.0, "ratios": [1.0]}, "ailib default": {"median_us": 520.0, "ratios": [0.52]}}},
        {"call": {"raw requests": {"median_us": 1050.0, "ratios": [1.0]}, "ailib default": {"median_us": 480.0, "ratios": [0.48]}}},
    ]
    out = io.StringIO()
    bench_run.render(runs, out)
    text = out.getvalue()
    assert "| 450–520 µs | 0.46–0.52× |" in text
    assert "| ailib default client, per call | 0.46–0.52× | 0.48× | ≤ 0.55× | yes |" in text


def test_render_judges_the_import_a_user_pays():
    """The import figure of issue 23 (ailib + one client vs the dependencies + a Session) is a target row, ≤ 1.3×."""
    import io

    runs = [{"import": {"client_ratio": r, "client_ms": 80.0 * r, "session_ms": 80.0}} for r in (1.18, 1.22, 1.35)]
    out = io.StringIO()
    bench_run.render(runs, out)
    text = out.getvalue()
    assert (
        "| `import ailib` + one default client vs the dependencies + a `requests.Session()` | 1.18–1.35× | 1.22× | ≤ 1.30× | yes |" in text
    )
    assert 'one default client built (`AiClient("openai")`, nothing sent): 94–108 ms' in text
