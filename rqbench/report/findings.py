"""A person's reading of a report ("findings"): Markdown written beside the records, shown in the report under
its own heading and marked as written by hand, since everything else in a report is generated from records.

The HTML side understands the Markdown such a note needs (paragraphs, `-` bullets, `**bold**`, `*italic*`,
`` `code` ``); anything else shows as the text it is. Everything is escaped first, so a note cannot inject
markup into the page.
"""

from __future__ import annotations

import html
import re
from pathlib import Path

from rqbench.errors import RqbenchError

HEADING = "Findings"
MARK = ("Written by the person who ran the suite, from the figures in this report; everything else here is "
        "generated from the records.")
_INLINE = [(re.compile(r"`([^`]+)`"), r"<code>\1</code>"),
           (re.compile(r"\*\*([^*]+)\*\*"), r"<strong>\1</strong>"),
           (re.compile(r"(?<![*\w])\*([^*\s][^*]*)\*(?!\w)"), r"<em>\1</em>")]


def read_findings(path: Path) -> str:
    """The note's text (UTF-8, not empty); a missing or unreadable file is a one-line error."""
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise RqbenchError("no such findings file", path) from None
    except UnicodeDecodeError as exc:
        raise RqbenchError(f"findings file is not UTF-8 text (byte {exc.start})", path) from None
    except OSError as exc:
        raise RqbenchError(f"cannot read findings file: {exc.strerror}", path) from None
    if not text.strip():
        raise RqbenchError("findings file is empty", path)
    return text.strip() + "\n"


def findings_markdown(text: str) -> list[str]:
    """The report's Markdown section (the note as written, below the heading and the mark)."""
    return ["", f"## {HEADING}", "", f"*{MARK}*", "", *text.rstrip("\n").split("\n")]


def findings_section_html(text: str) -> str:
    """The report page's section: heading, the mark, the note."""
    return (f'<section id="findings">\n<h2>{HEADING}</h2>\n<p class="key"><em>{html.escape(MARK)}</em></p>\n'
            f"{findings_html(text)}\n</section>\n\n")


def findings_html(text: str) -> str:
    """The note as HTML: blank-line separated blocks; a block of `- ` lines is a list."""
    blocks = [b for b in re.split(r"\n\s*\n", text.strip()) if b.strip()]
    out: list[str] = []
    for block in blocks:
        lines = block.split("\n")
        if lines[0].lstrip().startswith(("- ", "* ")):
            items: list[str] = []
            for line in lines:  # a line not starting with a bullet continues the item before it
                stripped = line.strip()
                if stripped.startswith(("- ", "* ")) or not items:
                    items.append(stripped[2:] if stripped.startswith(("- ", "* ")) else stripped)
                else:
                    items[-1] += " " + stripped
            out.append("<ul>" + "".join(f"<li>{_inline(i)}</li>" for i in items) + "</ul>")
        elif (m := re.match(r"(#{1,4})\s+(.*)", lines[0])) and len(lines) == 1:
            level = min(len(m.group(1)) + 2, 6)  # below the section's own h2
            out.append(f"<h{level}>{_inline(m.group(2))}</h{level}>")
        else:
            out.append("<p>" + _inline(" ".join(line.strip() for line in lines)) + "</p>")
    return "\n".join(out)


def _inline(text: str) -> str:
    escaped = html.escape(text, quote=False)
    for pattern, repl in _INLINE:
        escaped = pattern.sub(repl, escaped)
    return escaped
