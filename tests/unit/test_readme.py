"""The README states what the code does: provider table and test command."""

from __future__ import annotations

from pathlib import Path

from ailib.providers._registry import markdown_table

ROOT = Path(__file__).resolve().parents[2]


def test_provider_table_matches_the_registry():
    """The README's provider table is exactly the one generated from the registry."""
    text = (ROOT / "README.md").read_text()
    table = text.split("<!-- providers:start -->\n", 1)[1].split("\n<!-- providers:end -->", 1)[0]
    assert table == markdown_table()


def test_ci_runs_the_readme_test_command():
    """.ci/run calls the README's test command."""
    readme = (ROOT / "README.md").read_text()
    assert "bash scripts/test" in readme
    assert "bash scripts/test" in (ROOT / ".ci" / "run").read_text()
