"""The repository's docs/ folder as pages: Markdown rendered to HTML, links between the files kept working.

Only files that exist in docs/ are served, looked up by name in a listing made at request time, so no path from the
URL ever reaches the file system.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

import markdown

from app.paths import PROJECT_ROOT

DOCS = PROJECT_ROOT / "docs"
_MD_LINK = re.compile(r'href="(?!https?://|#|/)([A-Za-z0-9_-]+)\.md(#[^"]*)?"')


@dataclass(frozen=True)
class Page:
    name: str
    title: str
    html: str


def page_names(folder: Path = DOCS) -> list[str]:
    return sorted(path.stem for path in folder.glob("*.md"))


def _title(text: str, name: str) -> str:
    for line in text.splitlines():
        if line.startswith("# "):
            return line[2:].strip()
    return name


def titles(folder: Path = DOCS) -> list[tuple[str, str]]:
    """(name, title) of every page."""
    return [(name, _title((folder / f"{name}.md").read_text(), name)) for name in page_names(folder)]


def render(name: str, folder: Path = DOCS) -> Page | None:
    """The page, or None when docs/ has no such file."""
    if name not in page_names(folder):
        return None
    text = (folder / f"{name}.md").read_text()
    html = markdown.markdown(text, extensions=["tables", "fenced_code", "toc"])
    html = _MD_LINK.sub(lambda m: f'href="/docs/{m.group(1)}{m.group(2) or ""}"', html)
    return Page(name=name, title=_title(text, name), html=html)
