"""Markdown outputs never carry raw HTML from a variant name, a suite name or a passage text (Jupyter and
GitHub render Markdown, raw HTML included): report.md, compare's queries.md and the API objects'
`_repr_markdown_`. Checked on the text itself (no `<tag` survives, for renderers that do not honour a
backslash before `<`) and through a CommonMark renderer with tables (markdown-it-py, rich's own)."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from html.parser import HTMLParser
from pathlib import Path

from markdown_it import MarkdownIt

import rqbench
from rqbench.report import build_report, render_markdown
from rqbench.report.mdtext import md_cell, md_code, md_text

IMG = "<img src=x onerror=alert(1)>"
SCRIPT = "<script>alert(1)</script>"
QIDS = [f"q{i}" for i in range(8)]


class _Tags(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.tags: set[str] = set()

    def handle_starttag(self, tag: str, attrs: list) -> None:
        if tag != "img" or not dict(attrs).get("src", "").startswith("figures/"):  # not a report's own figure
            self.tags.add(tag)


def rendered_tags(md: str) -> set[str]:
    """The elements a CommonMark renderer (raw HTML allowed, GFM tables on) makes of `md`."""
    parser = _Tags()
    parser.feed(MarkdownIt("commonmark").enable("table").render(md))
    return parser.tags


def assert_no_markup(md: str) -> None:
    """No tag outside code spans (a path in backticks shows literally everywhere), none once rendered."""
    text = re.sub(r"(`+)(.+?)\1", "", md)
    assert "<img" not in text and "<script" not in text and "<b>" not in text, "raw HTML in the Markdown text"
    assert not rendered_tags(md) & {"img", "script", "b", "i"}, "a name or text renders as HTML"


def _records(suite: str = f"toy{SCRIPT}") -> list[dict]:
    names = ["bm25", IMG, "x|y<b>z</b>"]
    out = []
    for i, name in enumerate(names):
        per_query = {q: 0.1 * ((i + k) % 4) + 0.2 * i for k, q in enumerate(QIDS)}
        out.append({"schema": 1, "variant": name, "suite": suite, "n_queries": len(QIDS),
                    "dataset": {"name": "toyset", "split": "test"}, "metrics": {"RR@10": 0.5},
                    "per_query": {"RR@10": per_query},
                    "suite_notes": [f"a note with {SCRIPT}"],
                    "suite_contrasts": [{"name": "c<i>1</i>", "a": IMG, "b": "bm25", "expect": "a>b",
                                         "claim": f"the {IMG} claim", "measures": None, "evaluations": None}]})
    return out


def test_md_text_escapes_html_and_markdown() -> None:
    assert md_text(IMG) == "&lt;img src=x onerror=alert(1)>"
    assert md_text("a &amp; b & c") == "a &amp;amp; b & c"  # an entity shows as typed
    assert md_text("*[x]*_y_") == r"\*\[x\]\*\_y\_" and md_text("md0_inbatch") == "md0_inbatch"
    assert md_text("two\nlines") == "two lines" and md_cell("a|b\nc") == r"a\|b c"
    assert md_code("a`b") == "``a`b``" and md_code("x") == "`x`"


def test_report_markdown_escapes_names_notes_and_contrasts() -> None:
    report = build_report(_records(), baseline="bm25", n_resamples=50)
    md = render_markdown(report)
    assert_no_markup(md)
    assert md.startswith("# rqbench report: toy&lt;script>alert(1)&lt;/script>\n")
    assert "&lt;img src=x onerror=alert(1)>" in md and r"x\|y&lt;b>z&lt;/b>" in md
    # a '|' in a name never splits a table row: every row of the results table has its two cells
    results = md.split("## Results")[1].split("\n\n")[1].splitlines()
    assert len(results) == 5 and all(line.count(" | ") == 1 for line in results)
    assert report._repr_markdown_() == md  # what Jupyter shows


def test_api_compare_and_drilldown_escape_in_jupyter(tmp_path: Path) -> None:
    qrels = {q: {"rel": 1} for q in QIDS}
    from rqbench.types import ScoredDoc

    def run(rank: int) -> dict:
        return {q: [ScoredDoc(f"d{j}" if j != rank else "rel", 10.0 - j) for j in range(1, 5)] for q in QIDS}

    runs = {IMG: run(1), SCRIPT: run(3)}
    assert_no_markup(rqbench.compare(qrels, runs, ["RR@10"], n_resamples=50)._repr_markdown_())
    detail = rqbench.drilldown(qrels, runs, "RR@10", n=2)
    assert_no_markup(detail._repr_markdown_())
    assert detail.b == IMG and "&lt;img" in detail.to_markdown()  # the first run is the baseline, as in compare


def test_compare_queries_md_escapes_names_and_passage_texts(tmp_path: Path) -> None:
    """`rqbench compare --dataset DIR --out OUT`: queries.md shows the texts and names literally."""
    data = tmp_path / "evilset"
    (data / "qrels").mkdir(parents=True)
    (data / "corpus.jsonl").write_text("".join(
        f'{{"_id": "d{i}", "text": "passage {i} {SCRIPT} | cell"}}\n' for i in range(4)), encoding="utf-8")
    (data / "queries.jsonl").write_text("".join(f'{{"_id": "{q}", "text": "query {IMG}"}}\n' for q in QIDS),
                                        encoding="utf-8")
    (data / "qrels" / "test.tsv").write_text("query-id\tcorpus-id\tscore\n" + "".join(
        f"{q}\td{i % 4}\t1\n" for i, q in enumerate(QIDS)), encoding="utf-8")
    paths = []
    for name, shift in (("base<b>bold.trec", 0), (f"cand{IMG}.trec", 1)):
        lines = [f"{q} Q0 d{(i + shift + r) % 4} {r + 1} {10 - r} t\n" for i, q in enumerate(QIDS) for r in range(4)]
        paths.append(tmp_path / name)
        paths[-1].write_text("".join(lines), encoding="utf-8")
    proc = subprocess.run([sys.executable, "-m", "rqbench.cli", "compare", *map(str, paths), "--dataset", str(data),
                           "-m", "RR@10", "--detail", "4", "--out", str(tmp_path / "cmp")], capture_output=True,
                          text=True, env={**os.environ, "COLUMNS": "80"}, timeout=120)
    assert proc.returncode == 0, proc.stderr
    queries = (tmp_path / "cmp" / "queries.md").read_text(encoding="utf-8")
    assert_no_markup(queries)
    assert "query &lt;img src=x onerror=alert(1)>" in queries and r"&lt;/script> \| cell" in queries
    assert_no_markup((tmp_path / "cmp" / "report.md").read_text(encoding="utf-8"))
    assert "&lt;script&gt;" in (tmp_path / "cmp" / "queries.html").read_text(encoding="utf-8")  # HTML as before
