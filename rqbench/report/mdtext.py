"""Plain text made safe for Markdown: what a variant name, a note or a passage text shows in report.md,
queries.md or a notebook (Jupyter renders Markdown, raw HTML included) is the text itself, never markup.

`<` becomes `&lt;` (no tag, comment or autolink can open; every CommonMark and Python-Markdown renderer
decodes the entity, where a backslash before `<` is not an escape for all of them), an `&` that would
start an entity becomes `&amp;`, and the characters that start emphasis, links or code get a backslash.
`md_cell` also keeps a table cell in its row (`|` escaped, newlines as spaces)."""

from __future__ import annotations

import re
from typing import Any

# "_" only where it could open or close emphasis, not inside a word ("md0_inbatch" stays readable)
_MD_SPECIAL = re.compile(r"[\\`*\[\]]|(?<![A-Za-z0-9])_|_(?![A-Za-z0-9])")
_ENTITY = re.compile(r"&(?=#?[A-Za-z0-9]+;)")  # an "&" that a renderer would read as an entity


def md_text(text: Any) -> str:
    """Plain text (a variant name, a note, a definition, a passage) escaped so Markdown shows it literally;
    line breaks become spaces (a name or note never starts a block of its own)."""
    out = _ENTITY.sub("&amp;", " ".join(str(text).splitlines()))
    return _MD_SPECIAL.sub(lambda m: "\\" + m.group(0), out).replace("<", "&lt;")


def md_cell(text: Any) -> str:
    """A Markdown table cell from Markdown text (plain text goes through `md_text` first): pipes escaped,
    no newlines."""
    return " ".join(str(text).replace("|", "\\|").splitlines())


def md_code(text: Any) -> str:
    """`text` as a code span (a path, a hash): fenced with more backticks than it holds, on one line."""
    s = " ".join(str(text).splitlines())
    fence = "`" * (max((len(run) for run in re.findall(r"`+", s)), default=0) + 1)
    pad = " " if s.startswith("`") or s.endswith("`") else ""
    return f"{fence}{pad}{s}{pad}{fence}"
