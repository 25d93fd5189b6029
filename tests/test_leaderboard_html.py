"""The leaderboard's HTML page: escaping, absent cells and markers (fast, no browser), then the page opened
in headless chromium: the DOM after its scripts ran, sorted from the URL fragment, figures, no network."""

from __future__ import annotations

import re
from html.parser import HTMLParser
from pathlib import Path
from urllib.parse import urlencode

from rqbench.board.html import to_html
from rqbench.board.model import Cell, Column, Leaderboard, System

SETS = ("scifact (test)", "nfcorpus (test)")
MEASURES = ("nDCG@10", "RR@10")
ODD = "<x>&y"  # a name that must be escaped
# system -> one value per column (SETS x MEASURES); None: not evaluated there
VALUES = {
    "dense": (0.70, 0.75, 0.35, 0.55),
    "bm25": (0.66, 0.70, 0.32, 0.50),
    ODD: (0.60, 0.65, 0.30, 0.45),
    "sparse-x": (0.50, 0.80, None, 0.42),
}
EXTERNAL = re.compile(r"""(?:src|href|action)\s*=\s*["']?\s*(?:https?:)?//|url\(\s*["']?(?:https?:)?//|@import""", re.I)


def _board() -> Leaderboard:
    columns = [Column(d, m) for d in SETS for m in MEASURES]
    cells = {}
    for j, col in enumerate(columns):
        present = sorted(((v[j], name) for name, v in VALUES.items() if v[j] is not None), reverse=True)
        for rank, (value, name) in enumerate(present, 1):
            cells[(name, col)] = Cell(
                value=value, rank=rank, groups="a" if rank <= 2 else "b", n_queries=300,
                missing=3 if (name, col) == ("sparse-x", Column(SETS[0], "RR@10")) else 0,
                sd=0.012 if name == "dense" else None,
                paired=(name, col) != (ODD, Column(SETS[1], "RR@10")),
            )
    means: dict[str, dict[str, float]] = {}
    for m in MEASURES:
        js = [j for j, c in enumerate(columns) if c.measure == m]
        means[m] = {n: sum(v[j] for j in js) / len(js) for n, v in VALUES.items() if None not in [v[j] for j in js]}
    systems = [
        System("dense", description="a dense retriever", about={"model size": "110M"}, seeds=(1, 2, 3),
               cost={"train_s": 3600.0, "index_s": 200.0}, hardware="AMD EPYC + NVIDIA H200"),
        System("bm25", about={"notes": "Lucene defaults"}, cost={"index_s": 12.5, "search_qps": 300.0},
               hardware="AMD EPYC"),
        System(ODD, about={"paper": "A & B <2021>", "url": "https://example.org/paper"}),
        System("sparse-x"),
    ]
    return Leaderboard(columns=columns, systems=systems, cells=cells, means=means, sort_key="mean nDCG@10",
                       notes=["sparse-x: <not> evaluated on nfcorpus"], conflicts=["bm25 & co: two runs"])


class _Dom(HTMLParser):
    """What the tests read from a page: tags, sort keys, row order, figures, text."""

    def __init__(self, text: str) -> None:
        super().__init__()
        self.tags: list[str] = []
        self.sort_keys: list[str] = []
        self.rows: list[str] = []
        self.figures: list[dict] = []  # {"class", "measure", "svg": count}
        self.text: list[str] = []
        self._figure: dict | None = None
        self.feed(text)

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        a = dict(attrs)
        self.tags.append(tag)
        if tag == "th" and "data-sort" in a:
            self.sort_keys.append(a["data-sort"] or "")
        elif tag == "tr" and "data-system" in a:
            self.rows.append(a["data-system"] or "")
        elif tag == "figure":
            self._figure = {"class": a.get("class", ""), "measure": a.get("data-measure"), "svg": 0}
            self.figures.append(self._figure)
        elif tag == "svg" and self._figure is not None:
            self._figure["svg"] += 1

    def handle_endtag(self, tag: str) -> None:
        if tag == "figure":
            self._figure = None

    def handle_data(self, data: str) -> None:
        self.text.append(data)


def test_page_escapes_marks_and_stays_offline() -> None:
    page = to_html(_board())
    dom = _Dom(page)
    assert "<title>rqbench leaderboard</title>" in page
    assert "&lt;x&gt;&amp;y" in page and "<x>" not in page and "x" not in dom.tags
    assert "A &amp; B &lt;2021&gt;" in page and "&lt;not&gt; evaluated" in page and "bm25 &amp; co" in page
    assert "Systems that share a letter in a column are not significantly different (paired randomization test" in page
    sparse_row = re.search(r'<tr data-system="sparse-x">.*?</tr>', page).group(0)
    for key in ("nfcorpus (test) nDCG@10", "mean nDCG@10", "train_s", "hardware"):  # absent: a dash, no value
        assert f'data-col="{key}" data-value="">–</td>' in sparse_row
    assert "3 of 300 queries have no value for this system: scored 0" in page
    assert "leaving out the first search (which loads the model or starts the JVM)" in page  # what queries/s is
    assert "no per-query values: not in the tie groups" in page
    assert "3 seeds" in page and "± 0.0120" in page and "<sup class=\"groups\">a</sup>" in page
    assert dom.rows == list(VALUES)
    assert {"rank", "system", "mean nDCG@10", "train_s", "index_s", "search_qps", "hardware"} <= set(dom.sort_keys)
    assert not EXTERNAL.search(page), EXTERNAL.search(page)
    assert "<link" not in page and "<img" not in page and "<script src" not in page


def test_page_in_headless_chromium(tmp_path: Path, dump_dom) -> None:
    board = _board()
    page = tmp_path / "board.html"
    page.write_text(to_html(board), encoding="utf-8")

    def rows(key: str = "", direction: str = "") -> list[str]:
        fragment = urlencode({"sort": key, "dir": direction}) if key else ""
        dom = _Dom(dump_dom(page, fragment))
        assert sorted(dom.rows) == sorted(VALUES)
        return dom.rows

    dom = _Dom(dump_dom(page))
    assert "table" in dom.tags and "x" not in dom.tags and ODD in "".join(dom.text)
    assert {c.label for c in board.columns} | {"rank", "system", "mean RR@10"} <= set(dom.sort_keys)
    assert dom.rows == list(VALUES)  # the board's order when no sort is asked
    measure_figs = [f for f in dom.figures if "measure-figure" in f["class"].split()]
    assert [f["measure"] for f in measure_figs] == list(MEASURES) and all(f["svg"] >= 1 for f in measure_figs)
    assert not EXTERNAL.search(page.read_text(encoding="utf-8"))

    assert rows("scifact (test) nDCG@10", "asc") == ["sparse-x", ODD, "bm25", "dense"]
    assert rows("nfcorpus (test) nDCG@10", "asc") == [ODD, "bm25", "dense", "sparse-x"]  # absent last
    assert rows("mean RR@10", "desc") == ["dense", "sparse-x", "bm25", ODD]
    assert rows("index_s", "desc") == ["dense", "bm25", ODD, "sparse-x"]  # no cost: last, in board order


def test_a_queries_per_second_that_includes_loading_is_marked() -> None:
    from dataclasses import replace

    from rqbench.board.cost import LOAD_IN_SEARCH, LOAD_NOTE, record_cost

    # a record built before retrieve timed its first search apart: its queries/s includes the load
    old = {"n_queries": 50, "stages": [{"role": "retrieve", "kind": "retrieve", "built_seconds": 25.0}]}
    new = {"n_queries": 50, "stages": [{"role": "retrieve", "kind": "retrieve", "built_seconds": 25.0,
                                        "search_seconds": 5.0}]}
    assert record_cost(old) == {"search_qps": 2.0, LOAD_IN_SEARCH: 1.0} and record_cost(new) == {"search_qps": 10.0}
    board = _board()
    assert "‡" not in board.to_markdown() and LOAD_NOTE not in to_html(board)
    bm25 = next(s for s in board.systems if s.name == "bm25")
    marked = replace(board, systems=[replace(s, cost={**s.cost, LOAD_IN_SEARCH: 1.0}) if s is bm25 else s
                                     for s in board.systems])
    text = marked.to_markdown()
    assert "| 300.00‡ |" in text and LOAD_NOTE in text
    page = to_html(marked)
    assert LOAD_NOTE in page
    assert re.search(r'300<span class="flag" title="this queries/s includes the first search', page)
