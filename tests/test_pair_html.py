"""The query-by-query comparison page (`rqbench.pair.html`): built from real TREC DL 2019 runs, checked as a
string (sections, tables, figure, escaping, offline), then opened in headless chromium."""

from __future__ import annotations

import re
from html.parser import HTMLParser
from pathlib import Path

import pytest

from rqbench.pair.detail import PairDetail, pair_detail
from rqbench.pair.html import to_html
from rqbench.types import ScoredDoc, read_qrels, read_trec_run, sort_ranking

N, TOP = 6, 3
EXTERNAL = re.compile(r"""(?:src|href|action)\s*=\s*["']?\s*(?:https?:)?//|url\(\s*["']?(?:https?:)?//|@import""", re.I)
WTL = re.compile(r"(\d+) wins / (\d+) ties / (\d+) losses")


@pytest.fixture(scope="module")
def detail(data_root: Path) -> PairDetail:
    """BM25 against TAS-B on DL 2019, with query and passage texts read from the TSV files."""
    root = data_root / "msmarco-dl19"
    runs = {"bm25": read_trec_run(root / "runs" / "bm25.dl19.trec"),
            "tasb": read_trec_run(root / "runs" / "d-bert-kd-tasb.dl19.trec")}
    needed = {d.docid for run in runs.values() for ranking in run.values() for d in sort_ranking(ranking, TOP)}
    corpus = {}
    with open(root / "collection.tsv", encoding="utf-8") as f:
        for line in f:
            docid, _, text = line.rstrip("\n").partition("\t")
            if docid in needed:
                corpus[docid] = text
    with open(root / "queries.dl19.tsv", encoding="utf-8") as f:
        queries = dict(line.rstrip("\n").split("\t", 1) for line in f if line.strip())
    return pair_detail(runs, read_qrels(root / "qrels.dl19.txt"), "nDCG@10", label="msmarco-dl19 (dl19)",
                       queries=queries, corpus=corpus, n=N, top=TOP, n_resamples=1000)


class _Dom(HTMLParser):
    """What the tests read from a page: query sections, side-by-side tables (rows, cells), figures, summary."""

    def __init__(self, text: str) -> None:
        super().__init__()
        self.tags: list[str] = []
        self.qids: list[str] = []
        self.tables: list[list[int]] = []  # per side-by-side table: passage cells per body row
        self.figures: list[dict] = []  # {"class", "svg": count, "rect": count}
        self.summary = ""
        self._in: dict[str, bool] = {"tbody": False, "summary": False}
        self._figure: dict | None = None
        self.feed(text)

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        a = dict(attrs)
        classes = (a.get("class") or "").split()
        self.tags.append(tag)
        if tag == "section" and "query" in classes:
            self.qids.append(a.get("data-qid") or "")
        elif tag == "table" and "side-by-side" in classes:
            self.tables.append([])
        elif tag == "tbody":
            self._in["tbody"] = True
        elif tag == "tr" and self._in["tbody"] and self.tables:
            self.tables[-1].append(0)
        elif tag == "td" and self._in["tbody"] and self.tables:
            self.tables[-1][-1] += 1
        elif tag == "p" and "summary" in classes:
            self._in["summary"] = True
        elif tag == "figure":
            self._figure = {"class": a.get("class", ""), "svg": 0, "rect": 0}
            self.figures.append(self._figure)
        elif tag in ("svg", "rect") and self._figure is not None:
            self._figure[tag] += 1

    def handle_startendtag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.handle_starttag(tag, attrs)

    def handle_endtag(self, tag: str) -> None:
        if tag == "tbody":
            self._in["tbody"] = False
        elif tag == "p":
            self._in["summary"] = False
        elif tag == "figure":
            self._figure = None

    def handle_data(self, data: str) -> None:
        if self._in["summary"]:
            self.summary += data


def _check_structure(dom: _Dom, detail: PairDetail) -> None:
    """Sections, tables, figure and summary numbers agree with `detail`."""
    c = detail.comparison
    assert dom.qids == [q.qid for q in detail.queries]
    assert len(dom.tables) == len(detail.queries)
    assert all(rows == [2] * detail.top for rows in dom.tables), dom.tables  # `top` rows, A and B in each
    figures = [f for f in dom.figures if "diff-figure" in f["class"].split()]
    assert len(figures) == 1 and figures[0]["svg"] == 1
    assert figures[0]["rect"] == sum(abs(d) > 1e-12 for d in detail.diffs.values())
    assert WTL.search(dom.summary).groups() == (str(c.wins), str(c.ties), str(c.losses)), dom.summary
    assert f"{c.n} queries" in dom.summary


def test_page_from_real_runs(detail: PairDetail) -> None:
    page = to_html(detail)
    c = detail.comparison
    assert len(detail.queries) == N and c.wins + c.ties + c.losses == c.n == len(detail.diffs)
    _check_structure(_Dom(page), detail)
    assert f"<title>bm25 vs tasb on {detail.measure}</title>" in page and "msmarco-dl19 (dl19)" in page
    assert f"{c.ci_low:+.4f} to {c.ci_high:+.4f}" in page
    for q in detail.queries:
        assert f"{q.diff:+.4f}" in page and (q.text == "" or q.text.split()[0] in page)
    assert not EXTERNAL.search(page), EXTERNAL.search(page)
    assert "<link" not in page and "<img" not in page and "<script" not in page


def test_escaping_missing_passages_and_edge_cases() -> None:
    odd = 'what is <b> & "c"?'
    long_text = "<i>long</i> & " + "word " * 200
    qrels = {"q1": {"d&1": 2, "d2": 0, "d3": 1}, "q2": {"d2": 1}}
    run_a = {"q1": [ScoredDoc("d&1", 3.0), ScoredDoc("d2", 2.0), ScoredDoc("dx", 1.0)], "q2": [ScoredDoc("d2", 1.0)]}
    run_b = {"q1": [ScoredDoc("d2", 1.0)], "q2": [ScoredDoc("d2", 1.0)]}  # B returns one passage for q1
    detail = pair_detail({"A<1>": run_a, "B&co": run_b}, qrels, "nDCG@10", queries={"q1": odd, "q2": "x"},
                         corpus={"d&1": long_text, "d2": "a <script>alert(1)</script> & b"}, n=4, top=3,
                         n_resamples=200)
    page = to_html(detail)
    dom = _Dom(page)
    _check_structure(dom, detail)
    assert dom.qids == ["q1"] and detail.comparison.wins == 1 and detail.comparison.ties == 1  # q2: a tie
    assert "what is &lt;b&gt; &amp; &quot;c&quot;?" in page and "A&lt;1&gt; vs B&amp;co" in page
    assert "&lt;script&gt;alert(1)&lt;/script&gt; &amp; b" in page and "<script" not in page and "<i>" not in page
    assert "d&amp;1" in page and "grade 2" in page and "not judged" in page  # dx is not judged
    assert page.count('<td class="passage missing">–</td>') == 2  # B's ranks 2 and 3
    assert "<details" in page and page.count("word") > 200  # truncated, the whole text kept in <details>

    same = pair_detail({"A": run_a, "B": run_a}, qrels, "nDCG@10", n=4, top=2, n_resamples=100)
    page = to_html(same)  # every difference 0: no bars, no sections, still a plot and a note
    dom = _Dom(page)
    _check_structure(dom, same)
    assert dom.qids == [] and "0 wins / 2 ties / 0 losses" in dom.summary and "no dataset given" in page


def test_page_in_headless_chromium(detail: PairDetail, tmp_path: Path, dump_dom) -> None:
    page = tmp_path / "pair.html"
    page.write_text(to_html(detail), encoding="utf-8")
    done = dump_dom(page)
    dom = _Dom(done)
    _check_structure(dom, detail)
    assert "svg" in dom.tags and "section" in dom.tags
