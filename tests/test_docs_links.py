"""Every relative link in README.md, the docs pages and the model card leads to a file of the repository."""

from __future__ import annotations

import re
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
LINK = re.compile(r"\]\(([^)\s]+)\)")
# Pages another open issue is writing; the coordinator removes an entry once that branch is merged.
PENDING: dict[str, str] = {}


def documents() -> list[Path]:
    return [REPO / "README.md", *sorted((REPO / "docs").glob("*.md")), REPO / "experiments" / "README.md",
            REPO / "spectraframe" / "weights" / "MODEL_CARD.md"]


def broken_links(document: Path) -> list[str]:
    broken = []
    for target in LINK.findall(document.read_text(encoding="utf-8")):
        if re.match(r"[a-z]+:", target) or target.startswith("#"):
            continue  # a web address, or a place in the same page
        path = (document.parent / target.split("#")[0]).resolve()
        pending = path.is_relative_to(REPO) and path.relative_to(REPO).as_posix() in PENDING
        if not path.exists() and not pending:
            broken.append(target)
    return broken


def test_every_relative_link_resolves() -> None:
    broken = {doc.relative_to(REPO).as_posix(): links for doc in documents() if (links := broken_links(doc))}
    assert broken == {}


def test_a_broken_link_is_found(tmp_path) -> None:
    page = tmp_path / "page.md"
    (tmp_path / "there.md").write_text("")
    page.write_text("[ok](there.md) [web](https://example.org) [here](#top) [gone](missing.md#part) ![pic](no.png)")
    assert broken_links(page) == ["missing.md#part", "no.png"]
