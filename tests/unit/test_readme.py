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


def test_every_relative_link_of_the_readme_and_docs_resolves():
    """Each relative link in README.md and docs/*.md names an existing file, or a heading of the same page."""
    import re

    def slug(heading: str) -> str:
        return re.sub(r"[^\w\- ]", "", heading.strip().lower()).replace(" ", "-")

    broken = []
    for page in [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]:
        text = re.sub(r"```.*?```", "", page.read_text(encoding="utf-8"), flags=re.S)  # code is not prose
        headings = {slug(h) for h in re.findall(r"^#+ (.*)$", text, re.M)}
        for link in re.findall(r"\]\(([^)\s]+)\)", text):
            path, _, anchor = link.partition("#")
            if link.startswith(("http://", "https://")):
                continue
            if (path and not (page.parent / path).exists()) or (not path and anchor not in headings):
                broken.append(f"{page.relative_to(ROOT)}: {link}")
    assert broken == []


def test_the_readme_links_the_reference_pages_and_speaks_no_internal_words():
    """README.md links docs/API.md, docs/architecture.md, docs/chaos.md and docs/benchmarks.md, and names no issue numbers or internal drafts."""
    import re

    readme = (ROOT / "README.md").read_text()
    for page in ("docs/API.md", "docs/architecture.md", "docs/chaos.md", "docs/benchmarks.md"):
        assert f"]({page})" in readme, page
    assert re.findall(r"\bissues? \d+|\bthe seed\b|seed-shaped", readme, re.I) == []


def test_user_facing_files_speak_no_internal_words():
    """The docs pages, examples and the package's own text name no issue numbers or internal drafts."""
    import re

    paths = [*ROOT.glob("docs/*.md"), *ROOT.glob("examples/**/*.py"), *ROOT.glob("ailib/**/*.py"), ROOT / "bench" / "README.md"]
    found = []
    for path in paths:
        for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
            if re.search(r"\bissues? \d+|\bthe seed\b|\bseed's|seed-shaped", line, re.I):
                found.append(f"{path.relative_to(ROOT)}:{number}: {line.strip()}")
    assert found == []
