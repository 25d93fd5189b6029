"""A person's reading of a report ("findings"): Markdown written beside the records, shown in the report under
its own heading and marked as written by hand, since everything else in a report is generated from records.

The HTML side understands the Markdown such a note needs (paragraphs, `-` bullets, `**bold**`, `*italic*`,
`` `code` ``, ```` ``` ```` fenced blocks); anything else shows as the text it is. Everything is escaped
first, so a note cannot inject markup into the page.
"""

from __future__ import annotations

import html
import re
from pathlib import Path

from rqbench.errors import RqbenchError

HEADING = "Findings"
MARK = ("Written by the person who ran the suite, from the figures in this report; everything else here is "
        "generated from the records.")
_EMPHASIS = [(re.compile(r"\*\*([^*]+)\*\*"), r"<strong>\1</strong>"),
             (re.compile(r"(?<![*\w])\*([^*\s][^*]*)\*(?!\w)"), r"<em>\1</em>")]
_HEADING = re.compile(r"(#{1,4})\s+(.*)")
_BULLET = re.compile(r"[-*] ")


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
    """The report's Markdown section: the note as written, its headings moved below the section's own
    (`#` -> `###`), as the HTML shows them."""
    lines = []
    for fenced, part in _fenced_parts(text.rstrip("\n")):
        lines += part if fenced else [("##" + line if _HEADING.match(line) else line) for line in part]
    return ["", f"## {HEADING}", "", f"*{MARK}*", "", *lines]


def _fenced_parts(text: str) -> list[tuple[bool, list[str]]]:
    """The note's lines cut into (inside a ``` fence, lines) parts, each fence's own lines with it; an
    unclosed fence runs to the end, as in CommonMark."""
    parts: list[tuple[bool, list[str]]] = [(False, [])]
    for line in text.split("\n"):
        if line.lstrip().startswith("```"):
            if parts[-1][0]:  # the closing fence
                parts[-1][1].append(line)
                parts.append((False, []))
                continue
            parts.append((True, []))
        parts[-1][1].append(line)
    return [(fenced, lines) for fenced, lines in parts if lines]


def findings_section_html(text: str) -> str:
    """The report page's section: heading, the mark, the note."""
    return (f'<section id="findings">\n<h2>{HEADING}</h2>\n<p class="key"><em>{html.escape(MARK)}</em></p>\n'
            f"{findings_html(text)}\n</section>\n\n")


def findings_html(text: str) -> str:
    """The note as HTML: a heading line, a run of `- ` lines (a list, continuation lines joined to their item)
    or a run of other lines (a paragraph); blank lines separate blocks."""
    out: list[str] = []
    for fenced, part in _fenced_parts(text.strip()):
        if fenced:  # shown as written, without its fence lines
            body = part[1:-1] if len(part) > 1 and part[-1].lstrip().startswith("```") else part[1:]
            out.append("<pre><code>" + html.escape("\n".join(body), quote=False) + "</code></pre>")
            continue
        for block in re.split(r"\n\s*\n", "\n".join(part).strip()):
            out += [_block_html(kind, lines) for kind, lines in _runs(block.split("\n"))]
    return "\n".join(out)


def _runs(lines: list[str]) -> list[tuple[str, list[str]]]:
    """Consecutive lines grouped as ("heading", [line]), ("list", items) or ("text", lines)."""
    runs: list[tuple[str, list[str]]] = []
    for line in lines:
        stripped = line.strip()
        if not stripped:
            continue
        if _HEADING.match(line):
            runs.append(("heading", [line]))
        elif _BULLET.match(stripped):
            if runs and runs[-1][0] == "list":
                runs[-1][1].append(stripped[2:])
            else:
                runs.append(("list", [stripped[2:]]))
        elif runs and runs[-1][0] == "list":  # a continuation line of the item before it
            runs[-1][1][-1] += " " + stripped
        elif runs and runs[-1][0] == "text":
            runs[-1][1].append(stripped)
        else:
            runs.append(("text", [stripped]))
    return runs


def _block_html(kind: str, lines: list[str]) -> str:
    if kind == "heading":
        m = _HEADING.match(lines[0])
        assert m is not None
        level = min(len(m.group(1)) + 2, 6)  # below the section's own h2
        return f"<h{level}>{_inline(m.group(2))}</h{level}>"
    if kind == "list":
        return "<ul>" + "".join(f"<li>{_inline(item)}</li>" for item in lines) + "</ul>"
    return "<p>" + _inline(" ".join(lines)) + "</p>"


def _inline(text: str) -> str:
    """Escaped text with `code` spans (left as they are inside) and **bold** / *italic* outside them."""
    parts = re.split(r"(`[^`]+`)", text)
    out = []
    for part in parts:
        if len(part) > 2 and part.startswith("`") and part.endswith("`") and part.strip("`"):
            out.append(f"<code>{html.escape(part[1:-1], quote=False)}</code>")
            continue
        escaped = html.escape(part, quote=False)
        for pattern, repl in _EMPHASIS:
            escaped = pattern.sub(repl, escaped)
        out.append(escaped)
    return "".join(out)
