"""Reports from records: significance marks, numbers equal to rqbench.stats, self-contained HTML, files."""

from __future__ import annotations

import base64
import io
import re
import shutil
from html.parser import HTMLParser
from pathlib import Path

import numpy as np
import pytest
from rich.console import Console

from rqbench.errors import RqbenchError
from rqbench.records import SCHEMA, append_record, read_records, write_per_query
from rqbench.report import (
    DOWN,
    MEASURE_NOTES,
    UP,
    build_report,
    fmt_ci,
    fmt_diff,
    fmt_p,
    render_html,
    render_markdown,
    render_terminal,
    write_report,
)
from rqbench.stats import compare_to_baseline

SUITE = "toy"
MEASURES = ["RR@10", "R@100", "Success@100"]
DEFINITIONS = {
    "RR@10": "RR@10: reciprocal rank of the first relevant document in the top 10, averaged over all "
             "judged queries (MS MARCO's MRR@10)",
    "R@100": "R@100: recall in the top 100 (trec_eval recall; NOT the hit rate)",
    "Success@100": "Success@100: hit rate in the top 100 (what RocketQA and DPR call 'Recall@k')",
}
N_QUERIES = 300
N_RESAMPLES = 2000
PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


def _per_query() -> dict[str, dict[str, dict[str, float]]]:
    """variant -> measure -> qid -> value: a baseline, one clearly better, one equal on average (pairs of
    queries moved by +d and -d), one clearly worse."""
    rng = np.random.default_rng(7)
    qids = [f"q{i:03d}" for i in range(N_QUERIES)]
    base = {
        "RR@10": rng.choice([0.0, 0.1, 0.2, 0.25, 1 / 3, 0.5, 1.0], size=N_QUERIES),
        "R@100": rng.choice([0.0, 0.25, 0.5, 0.75, 1.0], size=N_QUERIES),
    }
    base["Success@100"] = (base["R@100"] > 0).astype(float)
    swing = np.repeat(rng.uniform(0.05, 0.3, size=N_QUERIES // 2), 2) * np.tile([1.0, -1.0], N_QUERIES // 2)
    variants = {
        "bm25": base,
        "dense": {m: np.clip(x + rng.uniform(0.1, 0.4, N_QUERIES) * (rng.random(N_QUERIES) < 0.8), 0, 1)
                  for m, x in base.items()},
        "dense-same": {m: x + swing for m, x in base.items()},
        "dense-worse": {m: x * (rng.random(N_QUERIES) < 0.6) for m, x in base.items()},
    }
    variants["dense"]["Success@100"] = (variants["dense"]["R@100"] > 0).astype(float)
    return {v: {m: {q: float(x) for q, x in zip(qids, xs, strict=True)} for m, xs in by_m.items()}
            for v, by_m in variants.items()}


def _record(variant: str, per_query_file: str, per_query: dict[str, dict[str, float]], i: int) -> dict:
    metrics = {m: float(np.mean(list(per_query[m].values()))) for m in MEASURES}
    r100 = metrics["R@100"]
    s100 = metrics["Success@100"]
    cutoffs = [1, 10, 100, 1000]
    return {
        "schema": SCHEMA, "record_id": f"{i:032x}", "created": f"2025-01-0{i + 1}T10:00:00+00:00",
        "suite": SUITE, "suite_file": "suites/toy.toml", "suite_hash": "ab" * 32, "variant": variant,
        "backend": "bm25" if variant == "bm25" else "dense",
        "config": {"params": {}, "depth": 1000, "split": "test", "baseline": "bm25", "measures": MEASURES},
        "dataset": {"name": "toyset", "source": "data/toyset", "split": "test", "n_docs": 5000,
                    "n_queries": N_QUERIES,
                    "fingerprints": {"corpus": "c" * 64, "queries": "d" * 64, "qrels": "e" * 64}},
        "measures": DEFINITIONS, "metrics": metrics,
        "curves": {"R": {str(k): r100 * min(1.0, (k / 100) ** 0.3) for k in cutoffs},
                   "Success": {str(k): s100 * min(1.0, (k / 100) ** 0.2) for k in cutoffs}},
        "n_queries": N_QUERIES, "per_query_file": per_query_file, "run_file": f"runs/{variant}.trec",
        "stages": [{"kind": "index", "hash": f"{i}1" * 10, "cached": i % 2 == 0, "seconds": 0.01,
                    "built_seconds": 12.5},
                   {"kind": "retrieve", "hash": f"{i}2" * 10, "cached": False, "seconds": 3.25,
                    "built_seconds": 3.25},
                   {"kind": "evaluate", "hash": f"{i}3" * 10, "cached": False, "seconds": 0.4,
                    "built_seconds": 0.4}],
        "artifact_hashes": {"index": f"{i}1" * 10},
        "seed": 13,
        "env": {"rqbench": "0.1.0", "git": {"revision": "0123456789abcdef" * 2 + "01234567", "dirty": False},
                "python": "3.11.2", "platform": "Linux", "cpu": "Toy CPU", "cpu_count": 2, "gpu": None,
                "packages": {"torch": "2.13.0", "pyserini": "1.6.0", "faiss-cpu": "1.15.1"},
                "java": None, "seed": 13},
    }


@pytest.fixture(scope="module")
def records_path(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("results")
    path = None
    for i, (variant, pq) in enumerate(_per_query().items()):
        rel = write_per_query(root, SUITE, variant, f"{i:064x}", pq)
        path = append_record(root, _record(variant, rel, pq, i))
    assert path is not None
    return path


@pytest.fixture(scope="module")
def report(records_path: Path):
    return build_report(read_records(records_path), n_resamples=N_RESAMPLES)


def test_significance_marks(report) -> None:
    assert report.baseline == "bm25"  # from the records' config
    assert report.variants == ["bm25", "dense", "dense-same", "dense-worse"]
    assert report.measures == MEASURES
    for m in MEASURES:
        assert set(report.comparisons[m]) == {"dense", "dense-same", "dense-worse"}
        assert report.mark(m, "dense") == UP
        assert report.mark(m, "dense-worse") == DOWN
        assert report.mark(m, "dense-same") == ""
        assert report.mark(m, "bm25") == ""
        assert report.comparisons[m]["dense-same"].p_holm > 0.5


def test_numbers_equal_stats(records_path: Path, report) -> None:
    console = Console(record=True, width=400, color_system=None)
    render_terminal(report, console)
    terminal = console.export_text()
    markdown = render_markdown(report)
    for m in MEASURES:
        expected = compare_to_baseline({v: report.per_query[v][m] for v in report.variants}, "bm25", m,
                                       n_resamples=N_RESAMPLES, seed=0, alpha=0.05)
        assert report.comparisons[m] == expected
        for v, c in expected.items():
            assert fmt_diff(c.diff) in terminal  # the compact terminal cell: difference, then its CI below
            short = [f"{round(x, 3) or 0.0:+.3f}".replace("0.", ".") for x in (c.ci_low, c.ci_high)]
            assert f"[{short[0]},{short[1]}]" in terminal
            row = next(line for line in markdown.splitlines()
                       if line.startswith(f"| {v} | ") and fmt_ci(c) in line and fmt_p(c.p_holm) in line)
            assert f"| {fmt_diff(c.diff)} | {fmt_ci(c)} |" in row
            assert f"{c.wins}/{c.ties}/{c.losses}" in row
            assert fmt_p(c.t_p_holm) in row
            assert (UP in row) == (c.significant(0.05) and c.diff > 0)
    line = next(row for row in terminal.splitlines() if row.lstrip("│ ").startswith("dense-same"))
    assert UP not in line and DOWN not in line
    line = next(row for row in terminal.splitlines() if row.lstrip("│ ").startswith("dense "))
    assert line.count(UP) == len(MEASURES)


def test_markdown_contents(report) -> None:
    md = render_markdown(report, {"recall_curves": "figures/recall_curves.png"})
    for v in report.variants:
        assert v in md
    for m in MEASURES:
        assert f"| {m} |" in md or f" {m} |" in md
        assert DEFINITIONS[m].split(": ", 1)[1] in md
    for note in MEASURE_NOTES:
        assert note in md
    assert "trec_eval recall" in md and "hit rate" in md and "MRR@10" in md
    assert "Holm" in md and "randomization" in md and "t-test" in md and "bootstrap" in md
    assert "![" in md and "(figures/recall_curves.png)" in md
    assert "## Stage timings" in md and "| retrieve |" in md and "12.50" in md
    assert "## Reproducibility" in md and "0123456789ab" in md and "e" * 64 in md
    assert "2.13.0" in md and "1.6.0" in md and "Toy CPU" in md


class _Collector(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.tags: list[str] = []
        self.links: list[str] = []
        self.images: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.append(tag)
        for name, value in attrs:
            if name in {"src", "href"} and value is not None:
                self.links.append(value)
                if tag == "img":
                    self.images.append(value)


def test_html_self_contained(report) -> None:
    page = render_html(report)
    parser = _Collector()
    parser.feed(page)
    parser.close()
    assert "data:image/png;base64," in page
    assert "script" not in parser.tags and "link" not in parser.tags and "style" in parser.tags
    assert not [u for u in parser.links if u.startswith(("http:", "https:", "//"))]
    assert not re.search(r"url\(|@import", page)
    assert len(parser.images) == 1 + len(MEASURES)  # recall curves + one per-query plot per measure
    for src in parser.images:
        prefix = "data:image/png;base64,"
        assert src.startswith(prefix)
        assert base64.b64decode(src[len(prefix):], validate=True).startswith(PNG_SIGNATURE)
    for v in report.variants:
        assert v in page
    assert UP in page and "Success@k is the hit rate" in page


def test_write_report(records_path: Path, tmp_path: Path) -> None:
    out = tmp_path / "report"
    (out / "figures").mkdir(parents=True)
    (out / "figures" / "per_query_gone.png").write_bytes(b"stale")
    written = write_report(records_path, out, measures=["RR@10", "Success@100"])
    assert written["markdown"] == out / "report.md" and written["html"] == out / "report.html"
    assert written["markdown"].read_text(encoding="utf-8").startswith("# rqbench report: toy")
    assert "data:image/png;base64," in written["html"].read_text(encoding="utf-8")
    names = sorted(p.name for p in written["figures"])
    assert names == ["per_query_RR_10.png", "per_query_Success_100.png", "recall_curves.png"]
    for p in written["figures"]:
        assert p.parent == out / "figures" and p.read_bytes().startswith(PNG_SIGNATURE)
        assert f"(figures/{p.name})" in written["markdown"].read_text(encoding="utf-8")
    assert sorted(p.name for p in (out / "figures").iterdir()) == names  # stale figure removed
    assert not [p for p in out.rglob("*") if p.name.endswith(".tmp")]
    html_before = written["html"].read_bytes()
    write_report(records_path, out, measures=["RR@10", "Success@100"])
    assert written["html"].read_bytes() == html_before  # deterministic: no timestamps, same PNG bytes


def test_unknown_baseline_and_measure(records_path: Path) -> None:
    records = read_records(records_path)
    with pytest.raises(RqbenchError, match="did you mean 'dense'") as exc:
        build_report(records, baseline="dnse")
    assert "\n" not in str(exc.value) and "unknown baseline 'dnse'" in str(exc.value)
    with pytest.raises(RqbenchError, match=r"did you mean 'RR@10'"):
        build_report(records, measures=["RR@100"])


def test_no_baseline_and_missing_configured_baseline(records_path: Path) -> None:
    records = [r for r in read_records(records_path) if r["variant"] != "bm25"]
    report = build_report(records, n_resamples=100)
    assert report.baseline is None and report.comparisons == {}
    assert any("baseline 'bm25' has no record" in n for n in report.notes)
    md = render_markdown(report)
    assert "No baseline" in md and UP not in md.split("## Legend")[0]
    console = Console(file=io.StringIO(), width=200)
    render_terminal(report, console)
    explicit = build_report(records, baseline="dense", n_resamples=100)
    assert explicit.baseline == "dense" and set(explicit.comparisons["RR@10"]) == {"dense-same", "dense-worse"}


def test_torn_records_line(records_path: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """A torn last line (a killed writer) is skipped with a warning naming it; the intact records report."""
    broken = tmp_path / SUITE / "records.jsonl"
    broken.parent.mkdir(parents=True)
    lines = records_path.read_text(encoding="utf-8").splitlines(keepends=True)
    broken.write_text("".join(lines[:2]) + lines[2][: len(lines[2]) // 2], encoding="utf-8")
    shutil.copytree(records_path.parent / "perquery", broken.parent / "perquery")
    write_report(broken, tmp_path / "out")
    assert f"{broken}:3: the last line is torn" in capsys.readouterr().err
    assert (tmp_path / "out" / "report.md").is_file()
    # a broken line that is not the last one is still an error naming it
    broken.write_text(lines[0] + lines[1][: len(lines[1]) // 2] + "\n" + lines[2], encoding="utf-8")
    with pytest.raises(RqbenchError) as exc:
        write_report(broken, tmp_path / "out2")
    assert str(exc.value).startswith(f"{broken}:2: invalid JSON")
    assert not (tmp_path / "out2").exists()


def test_records_without_sidecar_location_and_single_variant(records_path: Path) -> None:
    records = read_records(records_path)
    unplaced = [{k: v for k, v in r.items() if k != "_path"} for r in records]  # as a pipeline returns them
    report = build_report(unplaced, n_resamples=100)
    assert report.baseline == "bm25" and not any(report.comparisons.values())
    assert any("per-query values not loaded" in n for n in report.notes)
    assert "data:image/png;base64," in render_html(report)  # recall curves still drawn
    only = build_report([r for r in records if r["variant"] == "bm25"], n_resamples=100)
    assert only.comparisons == {"RR@10": {}, "R@100": {}, "Success@100": {}}
    md = render_markdown(only)
    assert "## Comparisons" not in md and "no other variant" in md
    HTMLParser().feed(render_html(only))


def test_long_and_markup_variant_names(records_path: Path) -> None:
    """A grid variant's brackets (and any '|', '*', '<') print literally in Markdown and HTML; the HTML
    results cell holds the value, its mark and the difference with its CI; figures wrap long names."""
    from rqbench.report.figures import _wrap

    name = "dense[model=org/some-very-long-model-name_v2,pool=cls]|x*<y>"
    records = read_records(records_path)
    for r in records:
        if r["variant"] == "dense":
            r["variant"] = name
    report = build_report(records, n_resamples=200)
    md = render_markdown(report)
    escaped = r"dense\[model=org/some-very-long-model-name_v2,pool=cls\]\|x\*&lt;y>"
    assert f"| {escaped} | " in md and name not in md
    results = md.split("## Results")[1].split("##")[0]
    assert f"| {escaped} | {UP}\u00a0{report.metrics[name]['RR@10']:.4f} |" in results
    assert "| total |" not in md and "16.15" in md  # built seconds add up in the timing totals
    page = render_html(report)
    assert "dense[<wbr>model=org/<wbr>some-very-long-model-name_v2,<wbr>pool=cls]|x*&lt;y&gt;" in page
    c = report.comparison("RR@10", name)
    assert f"<span>{fmt_diff(c.diff)}</span> <span>{fmt_ci(c)}</span>" in page
    wrapped = _wrap(name, 24)
    assert max(len(line) for line in wrapped.split("\n")) <= 24 and wrapped.replace("\n", "") == name


# ------------------------------------------------------------------------------ several evaluation sets

SETS = {("toyset", "test"): ("t", 120, 0.25), ("other", "dev"): ("o", 80, -0.25)}  # qid prefix, queries, shift


def _set_values(prefix: str, n: int, shift: float, seed: int) -> dict[str, dict[str, dict[str, float]]]:
    """bm25 and dense on one evaluation set: dense is the baseline moved by `shift` on most queries."""
    rng = np.random.default_rng(seed)
    qids = [f"{prefix}{i:03d}" for i in range(n)]
    base = {"RR@10": rng.choice([0.0, 0.2, 0.5, 1.0], size=n), "R@100": rng.choice([0.0, 0.5, 1.0], size=n)}
    moved = {m: np.clip(x + shift * (rng.random(n) < 0.9), 0, 1) for m, x in base.items()}
    out = {}
    for v, by_m in {"bm25": base, "dense": moved}.items():
        by_m = {**by_m, "Success@100": (by_m["R@100"] > 0).astype(float)}
        out[v] = {m: {q: float(x) for q, x in zip(qids, xs, strict=True)} for m, xs in by_m.items()}
    return out


@pytest.fixture(scope="module")
def two_sets(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict]:
    """Records of 2 variants x 2 evaluation sets, one record per (variant, set), plus an older record of
    dense on the first set (superseded), in the order a suite writes them."""
    root = tmp_path_factory.mktemp("results-sets")
    values = {key: _set_values(prefix, n, shift, seed) for seed, (key, (prefix, n, shift))
              in enumerate(SETS.items())}
    stale = _set_values("t", 120, -0.4, 99)["dense"]  # worse than the baseline: must not be used
    order = [(("toyset", "test"), "dense", stale)]
    order += [(key, v, values[key][v]) for key in SETS for v in ("bm25", "dense")]
    path = None
    for i, ((name, split), variant, pq) in enumerate(order):
        rel = write_per_query(root, SUITE, variant, f"{i:012x}" + "0" * 52, pq)  # a sidecar per record
        record = _record(variant, rel, pq, i)
        n = len(pq["RR@10"])
        record["dataset"] = {**record["dataset"], "name": name, "split": split, "n_queries": n,
                             "fingerprints": {"corpus": name[0] * 64, "queries": split[0] * 64, "qrels": "e" * 64}}
        record["config"] = {**record["config"], "split": split}
        record["n_queries"] = n
        path = append_record(root, record)
    assert path is not None
    return path, values


def test_several_evaluation_sets(two_sets: tuple[Path, dict], tmp_path: Path) -> None:
    path, values = two_sets
    report = build_report(read_records(path), n_resamples=500)
    assert [s.label for s in report.sections] == ["toyset (test)", "other (dev)"]
    assert report.baseline == "bm25" and report.variants == ["dense", "bm25"]
    assert report.comparisons == {} and report.metrics == {}  # per set only
    for section, key, mark in zip(report.sets, SETS, (UP, DOWN), strict=True):
        assert section.eval_set == key and section.baseline == "bm25"
        assert set(section.variants) == {"bm25", "dense"}
        for m in MEASURES:
            # compared on this set's queries only, Holm within the set (one comparison per measure)
            expected = compare_to_baseline({v: values[key][v][m] for v in ("bm25", "dense")}, "bm25", m,
                                           n_resamples=500, seed=0, alpha=0.05)
            assert section.comparisons[m] == expected
            c = section.comparisons[m]["dense"]
            assert c.n == SETS[key][1] and set(section.per_query["dense"][m]) == set(values[key]["dense"][m])
            assert section.metrics["dense"][m] == pytest.approx(np.mean(list(values[key]["dense"][m].values())))
        for m in ("RR@10", "R@100"):  # (a shift down leaves Success@100 as it is)
            assert section.mark(m, "dense") == mark  # the stale, worse record of dense is not used
    md = render_markdown(report)
    assert md.count("## Stage timings") == 1 and md.count("## Reproducibility") == 1
    assert md.count("## Legend") == 1 and "### Results" in md and "\n## Results" not in md
    first, second = md.split("\n## toyset (test)\n")[1].split("\n## other (dev)\n")
    for text, section in zip((first, second), report.sets, strict=True):
        c = section.comparisons["RR@10"]["dense"]
        row = next(line for line in text.split("## Legend")[0].splitlines()
                   if line.startswith("| dense | ") and fmt_ci(c) in line)
        assert f"| {fmt_diff(c.diff)} | {fmt_ci(c)} |" in row and f"{c.wins}/{c.ties}/{c.losses}" in row
    assert "| dense, other (dev) | index |" in md  # timings once, a row per (variant, set)
    console = Console(record=True, width=200, color_system=None)
    render_terminal(report, console)
    terminal = console.export_text()
    assert "toy: toyset (test), 120 queries" in terminal and "toy: other (dev), 80 queries" in terminal

    written = write_report(path, tmp_path / "out", measures=["RR@10"], n_resamples=200)
    names = sorted(p.name for p in written["figures"])
    assert names == ["per_query_RR_10_other_dev.png", "per_query_RR_10_toyset_test.png",
                     "recall_curves_other_dev.png", "recall_curves_toyset_test.png"]
    md = written["markdown"].read_text(encoding="utf-8")
    assert md.index("## toyset (test)") < md.index("(figures/recall_curves_toyset_test.png)") < md.index(
        "## other (dev)") < md.index("(figures/per_query_RR_10_other_dev.png)") < md.index("## Legend")
    page = written["html"].read_text(encoding="utf-8")
    parser = _Collector()
    parser.feed(page)
    assert len(parser.images) == 4 and 'id="set-toyset_test"' in page and 'id="results-other_dev"' in page
    assert 'id="fig-per_query_RR_10_toyset_test"' in page and page.count('<section id="timings">') == 1


def test_evaluation_set_without_baseline(two_sets: tuple[Path, dict]) -> None:
    path, _ = two_sets
    records = [r for r in read_records(path) if not (r["variant"] == "bm25" and r["dataset"]["name"] == "other")]
    report = build_report(records, n_resamples=100)
    toy, other = report.sets
    assert toy.comparisons["RR@10"] and other.baseline is None and other.comparisons == {}
    assert any(n.startswith("other (dev): the baseline 'bm25' has no record") for n in report.notes)
    render_markdown(report)
