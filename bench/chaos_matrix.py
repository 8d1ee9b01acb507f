"""Render the chaos suite's fault matrix (tests/chaos/matrix.py) as a markdown table.

    python bench/chaos_matrix.py            print the table
    python bench/chaos_matrix.py --write    refresh docs/chaos.md and bench/README.md between their markers
    python bench/chaos_matrix.py --check    exit 1 when either file differs from the table

The table is the suite's own case list, so the docs cannot drift from the tests:
``tests/chaos/test_docs.py`` fails when a file differs from the rendering.
"""

from __future__ import annotations

import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
DOCS = (ROOT / "docs" / "chaos.md", ROOT / "bench" / "README.md")


def main(argv: list[str]) -> int:
    sys.path.insert(0, str(ROOT))
    from tests.chaos.matrix import block, render, replace_block

    table = render()
    if "--write" in argv:
        for path in DOCS:
            text = path.read_text(encoding="utf-8")
            new = replace_block(text, table)
            if new != text:
                path.write_text(new, encoding="utf-8")
                print(f"updated {path.relative_to(ROOT)}")
        return 0
    if "--check" in argv:
        stale = [p for p in DOCS if block(p.read_text(encoding="utf-8")) != table]
        for path in stale:
            print(f"{path.relative_to(ROOT)}: the fault matrix is stale; run python bench/chaos_matrix.py --write")
        return 1 if stale else 0
    sys.stdout.write(table)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
