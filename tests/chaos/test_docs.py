"""The fault matrix in the docs is the suite's own table, and the table is well-formed."""

from __future__ import annotations

from pathlib import Path

import pytest

from .matrix import CASES, block, render
from .test_matrix import PARAMS

ROOT = Path(__file__).resolve().parents[2]


@pytest.mark.parametrize("doc", ["docs/chaos.md", "bench/README.md"])
def test_documented_matrix_is_the_rendered_suite(doc: str) -> None:
    """The table between the chaos-matrix markers equals render() (refresh: python bench/chaos_matrix.py --write)."""
    assert block((ROOT / doc).read_text(encoding="utf-8")) == render()


def test_chaos_matrix_write_refreshes_the_files_that_carry_it() -> None:
    """`bench/chaos_matrix.py --write` writes exactly the documents this test checks, docs/chaos.md first."""
    from bench.chaos_matrix import DOCS

    assert [p.relative_to(ROOT).as_posix() for p in DOCS] == ["docs/chaos.md", "bench/README.md"]


def test_readme_links_the_matrix_and_no_longer_carries_it() -> None:
    """README.md links docs/chaos.md under 'What happens on a failure' and holds no copy of the table."""
    text = (ROOT / "README.md").read_text(encoding="utf-8")
    section = text.split("## What happens on a failure\n", 1)[1].split("\n## ", 1)[0]
    assert "(docs/chaos.md)" in section and "<!-- chaos-matrix:start -->" not in text


def test_every_cell_of_the_table_is_a_collected_test() -> None:
    """Each non-n/a cell of every row is run once per wire format, and row ids are unique."""
    assert len({c.id for c in CASES}) == len(CASES)
    cells = sum(1 for c in CASES for out in (c.plain, c.stream) if out is not None)
    assert all(c.plain is not None or c.stream is not None for c in CASES)
    assert len(PARAMS) == cells * 4
