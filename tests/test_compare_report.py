"""Reports from run files (rqbench.run_files), the report options (test, correction, pairs), the JSON / CSV /
LaTeX exports and the terminal tables (names, titles and values never cut on a piped console)."""

from __future__ import annotations

import csv
import io
import json
import re
from pathlib import Path

import ir_measures
import pytest
from rich.console import Console

from rqbench.errors import RqbenchError
from rqbench.report import (
    DOWN,
    UP,
    build_report,
    legend_lines,
    render_html,
    render_markdown,
    render_terminal,
    report_to_csv,
    report_to_json,
    report_to_latex,
    write_report_folder,
)
from rqbench.report.export import CSV_COLUMNS, latex_escape
from rqbench.report.format import pairwise_rows
from rqbench.run_files import compare_runs, records_from_runs, run_names
from rqbench.stats import paired_compare
from rqbench.types import read_qrels, read_trec_run

MEASURES = ["RR@10", "nDCG@10", "R@5"]
N_RESAMPLES = 500
# the judged document's rank per query (None: not retrieved); run "c" does not answer q4 and has an
# unjudged query qx, which is ignored
RANKS = {
    "a": {"q1": 1, "q2": 2, "q3": 1, "q4": 4},
    "b": {"q1": 2, "q2": 2, "q3": 1, "q4": 1},
    "c": {"q1": None, "q2": 1, "q3": 3, "qx": 1},
}
RR = {"a": [1.0, 0.5, 1.0, 0.25], "b": [0.5, 0.5, 1.0, 1.0], "c": [0.0, 1.0, 1 / 3, 0.0]}  # by hand
QIDS = ["q1", "q2", "q3", "q4"]


def _write_runs(folder: Path) -> tuple[Path, dict[str, Path]]:
    """qrels: one relevant document 'rel' per query (grade 1) plus 'top' (grade 2) that no run retrieves;
    each run ranks five documents, 'rel' at the rank RANKS says."""
    qrels = folder / "qrels.txt"
    qrels.write_text("".join(f"{q} 0 rel 1\n{q} 0 top 2\n{q} 0 bad 0\n" for q in QIDS), encoding="utf-8")
    paths = {}
    for name, ranks in RANKS.items():
        lines = []
        for q, rank in ranks.items():
            docs = [f"n{i}" for i in range(1, 6)]
            if rank is not None:
                docs[rank - 1] = "rel"
            lines += [f"{q} Q0 {d} {i} {10.0 - i} {name}\n" for i, d in enumerate(docs, start=1)]
        paths[name] = folder / f"{name}.trec"
        paths[name].write_text("".join(lines), encoding="utf-8")
    return qrels, paths


@pytest.fixture(scope="module")
def files(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict[str, Path]]:
    return _write_runs(tmp_path_factory.mktemp("runs"))


def _report(files: tuple[Path, dict[str, Path]], **options):
    qrels, paths = files
    return compare_runs(qrels, list(paths.values()), MEASURES, n_resamples=N_RESAMPLES, **options)


def test_values_equal_ir_measures_and_hand_computed_differences(files) -> None:
    qrels_path, paths = files
    report = _report(files)
    assert report.variants == ["a", "b", "c"] and report.baseline == "a" and report.measures == MEASURES
    qrels = list(ir_measures.read_trec_qrels(str(qrels_path)))
    for name, path in paths.items():
        expected = ir_measures.calc_aggregate([ir_measures.parse_measure(m) for m in MEASURES], qrels,
                                              list(ir_measures.read_trec_run(str(path))))
        assert report.metrics[name] == {str(m): pytest.approx(v, abs=1e-12) for m, v in expected.items()}
        assert [report.per_query[name]["RR@10"][q] for q in QIDS] == pytest.approx(RR[name])
    assert report.metrics["c"]["RR@10"] == pytest.approx(sum(RR["c"]) / 4)  # q4 unanswered counts 0; qx ignored
    assert any("run 'c': 1 queries have no qrels" in n for n in report.notes)
    assert any("run 'c' answers 3 of the 4 judged queries" in n for n in report.notes)
    b = report.comparisons["RR@10"]["b"]  # b - a per query: -0.5, 0, 0, +0.75
    assert b.diff == pytest.approx(0.0625) and (b.wins, b.ties, b.losses) == (1, 2, 1) and b.n == 4
    c = report.comparisons["RR@10"]["c"]  # c - a: -1, +0.5, -2/3, -0.25
    assert c.diff == pytest.approx((-1 + 0.5 - 2 / 3 - 0.25) / 4) and (c.wins, c.ties, c.losses) == (1, 0, 3)
    system = report.meta["datasets"][0]
    assert system["fingerprints"]["qrels"] and system["n_queries"] == 4
    records = records_from_runs(read_qrels(qrels_path), {"a": read_trec_run(paths["a"])}, ["MRR@10"],
                                dataset_label="toy", split="test", run_paths={"a": paths["a"]})
    import hashlib

    assert records[0]["system"] == {"name": "a", "run": hashlib.sha256(paths["a"].read_bytes()).hexdigest()}
    assert records[0]["metrics"] == {"RR@10": pytest.approx(sum(RR["a"]) / 4)}  # the alias, canonical
    assert records[0]["evaluation"] == {"name": "toy", "dataset": "toy", "split": "test"}


def test_inline_per_query_records_build_comparisons(files) -> None:
    qrels_path, paths = files
    runs = {n: read_trec_run(p) for n, p in paths.items()}
    records = records_from_runs(read_qrels(qrels_path), runs, MEASURES, dataset_label="toy", split=None,
                                run_paths=paths)
    assert all("_path" not in r and "per_query" in r for r in records)
    report = build_report(records, baseline="b", n_resamples=N_RESAMPLES)
    assert set(report.comparisons["RR@10"]) == {"a", "c"}
    assert not any("per-query values not loaded" in n for n in report.notes)
    expected = paired_compare(report.per_query["a"]["RR@10"], report.per_query["b"]["RR@10"], "RR@10",
                              n_resamples=N_RESAMPLES)
    got = report.comparisons["RR@10"]["a"]
    assert (got.diff, got.rand_p, got.t_p, got.ci_low) == (expected.diff, expected.rand_p, expected.t_p,
                                                            expected.ci_low)
    given = records_from_runs(read_qrels(qrels_path), runs, ["RR@10"], dataset_label="toy", split=None,
                              notes=["checked by the caller"])
    assert build_report(given, baseline="a", n_resamples=10).notes == ["checked by the caller"]


def test_pairs_all_and_corrections(files) -> None:
    report = _report(files, pairs="all", correction="bonferroni")
    for m in MEASURES:
        assert list(report.pairwise[m]) == [("a", "b"), ("a", "c"), ("b", "c")]  # n(n-1)/2, i < j
        for c in report.pairwise[m].values():
            assert c.p_corrected == pytest.approx(min(1.0, 3 * c.rand_p))
            assert c.t_p_corrected == pytest.approx(min(1.0, 3 * c.t_p))
            assert c.p_holm is None
        # the comparisons with the baseline come from the same family, turned to variant - baseline
        ab = report.pairwise[m][("a", "b")]
        assert report.comparisons[m]["b"].diff == pytest.approx(-ab.diff)
        assert report.comparisons[m]["b"].p_corrected == ab.p_corrected
    four = build_report(records_from_runs(read_qrels(files[0]), {f"r{i}": read_trec_run(p) for i, p in
                                                                 enumerate([*files[1].values(), files[1]["a"]])},
                                          MEASURES, dataset_label="toy", split=None),
                        pairs="all", n_resamples=50)
    assert all(len(four.pairwise[m]) == 6 for m in MEASURES)
    baseline_only = _report(files, correction="bonferroni")
    assert baseline_only.pairwise == {}
    for c in baseline_only.comparisons["RR@10"].values():
        assert c.p_corrected == pytest.approx(min(1.0, 2 * c.rand_p))
    plain = _report(files, correction="none")
    for c in plain.comparisons["RR@10"].values():
        assert (c.p_corrected, c.t_p_corrected) == (c.rand_p, c.t_p)
    holm = _report(files)
    assert [c.p_holm for c in holm.comparisons["nDCG@10"].values()] == [
        c.p_corrected for c in holm.comparisons["nDCG@10"].values()]


def test_test_option_decides_the_marks(files) -> None:
    base = _report(files, correction="none")
    found = [(m, v, c) for m, by_v in base.comparisons.items() for v, c in by_v.items()
             if c.diff != 0 and abs(c.rand_p - c.t_p) > 0.01]
    assert found, "the toy runs give some comparison where the two tests disagree"
    m, v, c = found[0]
    alpha = (c.rand_p + c.t_p) / 2  # between the two p-values: exactly one test is significant
    by_rand = _report(files, correction="none", alpha=alpha)
    by_t = _report(files, correction="none", alpha=alpha, test="t")
    mark = UP if c.diff > 0 else DOWN
    assert (by_rand.mark(m, v) == mark) == (c.rand_p < alpha)
    assert (by_t.mark(m, v) == mark) == (c.t_p < alpha)
    assert by_rand.mark(m, v) != by_t.mark(m, v)
    for mm, by_v in by_t.comparisons.items():
        for vv, cc in by_v.items():
            assert (by_t.mark(mm, vv) != "") == (cc.t_p_corrected < alpha and cc.diff != 0)


def test_bad_options_are_one_line_errors(files) -> None:
    qrels, paths = files
    for option, value, hint in (("test", "randomisation", "did you mean 'randomization'"),
                                ("correction", "holms", "did you mean 'holm'"),
                                ("pairs", "every", "choose from: all, baseline")):
        with pytest.raises(RqbenchError, match=hint) as exc:
            _report(files, **{option: value})
        assert "\n" not in str(exc.value) and f"unknown {option} '{value}'" in str(exc.value)
    with pytest.raises(RqbenchError, match="did you mean 'b'"):
        compare_runs(qrels, list(paths.values()), MEASURES, baseline="bb", n_resamples=10)
    with pytest.raises(RqbenchError, match="2 names for 3 run files"):
        compare_runs(qrels, list(paths.values()), MEASURES, names=["x", "y"])
    with pytest.raises(RqbenchError, match="'x' given twice"):
        run_names(list(paths.values()), ["x", "x", "y"])
    assert run_names([Path("one/bm25.trec"), Path("two/bm25.trec"), Path("bm25.txt")]) == ["bm25", "bm25-2", "bm25-3"]
    named = compare_runs(qrels, list(paths.values()), ["RR@10"], names=["x", "y", "z"], baseline="z", n_resamples=10)
    assert named.variants == ["x", "y", "z"] and named.baseline == "z"


def test_every_renderer_shows_pairs_and_options(files) -> None:
    report = _report(files, pairs="all", test="t", correction="bonferroni")
    md = render_markdown(report)
    page = render_html(report)
    console = Console(file=io.StringIO(), width=80)
    render_terminal(report, console)
    terminal = console.file.getvalue()
    options = "Report options: test = t, correction = bonferroni, pairs = all"
    for text in (md, page, terminal.replace("\n", " ")):
        assert options in text
    assert "## Pairwise comparisons" in md and md.count("| a vs b |") == len(MEASURES)
    assert "| b vs c |" in md and "p (t, Bonferroni)" in md and "p (rand., Holm)" not in md
    assert "paired t-test with its p-value Bonferroni-adjusted across the 3 pair(s)" in md
    assert page.count('<section id="pairwise">') == 1 and "<em>vs</em>" in page and "p (rand., Holm)" not in page
    assert page.index('<section id="pairwise">') < page.index('<section id="legend">')
    assert terminal.count("pairwise (A vs B") == len(MEASURES)
    assert sum(line.split()[:2] == ["a", "b"] for line in terminal.splitlines()) == len(MEASURES)
    assert "Bonferroni across all pairs" in terminal.replace("\n", " ")
    default = render_markdown(_report(files))
    assert "Report options" not in default and "Pairwise" not in default and "p (rand., Holm)" in default


def _json_keys(data: dict) -> dict:
    return {"top": set(data), "set": {k for s in data["sets"] for k in s},
            "variant": {k for s in data["sets"] for v in s["variants"] for k in v},
            "comparison": {k for s in data["sets"] for c in s["comparisons"] for k in c}}


def test_json_shape(files) -> None:
    report = _report(files, pairs="all")
    data = report_to_json(report)
    json.dumps(data, allow_nan=False)
    keys = _json_keys(data)
    assert keys["top"] == {"schema", "suite", "measures", "alpha", "test", "correction", "pairs", "baseline",
                           "sets", "notes"}
    assert keys["set"] == {"dataset", "split", "n_queries", "variants", "comparisons"}
    assert keys["variant"] == {"name", "metrics"}
    assert keys["comparison"] == {"measure", "a", "b", "diff", "ci", "p", "p_corrected", "t_p", "t_p_corrected",
                                  "wins", "ties", "losses", "significant"}
    assert data["schema"] == 1 and data["pairs"] == "all" and data["sets"][0]["n_queries"] == 4
    assert len(data["sets"][0]["comparisons"]) == 3 * len(MEASURES)
    first = data["sets"][0]["comparisons"][0]
    assert (first["measure"], first["a"], first["b"]) == ("RR@10", "a", "b")
    assert first["diff"] == pytest.approx(-0.0625) and (first["wins"], first["ties"], first["losses"]) == (1, 2, 1)
    with_pq = report_to_json(report, per_query=True)
    json.dumps(with_pq, allow_nan=False)
    extended = _json_keys(with_pq)
    assert extended == {**keys, "variant": {"name", "metrics", "per_query"}}
    assert with_pq["sets"][0]["variants"][0]["per_query"]["RR@10"]["q2"] == 0.5
    for v in with_pq["sets"][0]["variants"]:
        del v["per_query"]
    assert with_pq == data  # the flag adds the key and changes nothing else
    baseline = report_to_json(_report(files))
    assert len(baseline["sets"][0]["comparisons"]) == 2 * len(MEASURES)
    assert {(c["a"], c["b"]) for c in baseline["sets"][0]["comparisons"]} == {("b", "a"), ("c", "a")}


def test_json_same_shape_with_several_sets(files) -> None:
    qrels_path, paths = files
    qrels = read_qrels(qrels_path)
    runs = {n: read_trec_run(p) for n, p in paths.items()}
    records = [*records_from_runs(qrels, runs, MEASURES, dataset_label="toy", split="test"),
               *records_from_runs(qrels, {"a": runs["b"], "b": runs["a"]}, MEASURES, dataset_label="other",
                                  split="dev")]
    report = build_report(records, baseline="a", n_resamples=50)
    assert len(report.sets) == 2
    data = report_to_json(report)
    assert _json_keys(data) == _json_keys(report_to_json(_report(files)))
    assert [(s["dataset"], s["split"]) for s in data["sets"]] == [("toy", "test"), ("other", "dev")]
    rows = list(csv.reader(io.StringIO(report_to_csv(report))))
    assert len(rows) == 1 + 3 * len(MEASURES) + 2 * len(MEASURES)
    assert report_to_latex(report).count(r"\begin{tabular}") == 2


def test_csv(files) -> None:
    report = _report(files, correction="none")
    rows = list(csv.DictReader(io.StringIO(report_to_csv(report))))
    assert len(rows) == 3 * len(MEASURES) and list(rows[0]) == CSV_COLUMNS
    by_key = {(r["a"], r["measure"]): r for r in rows}
    assert by_key[("a", "RR@10")]["diff"] == "" and by_key[("a", "RR@10")]["b"] == ""  # the baseline: a value
    b = by_key[("b", "RR@10")]
    assert b["b"] == "a" and float(b["value_b"]) == float(by_key[("a", "RR@10")]["value_a"]) == pytest.approx(0.6875)
    assert float(b["value_a"]) == pytest.approx(0.75) and float(b["diff"]) == pytest.approx(0.0625)
    assert (b["wins"], b["ties"], b["losses"]) == ("1", "2", "1") and b["significant"] in {"true", "false"}
    assert float(b["p_corrected"]) == float(b["p"])


def test_latex(files) -> None:
    qrels, paths = files
    report = compare_runs(qrels, list(paths.values()), ["RR@10", "R@5"], names=["bm25_v2", "x%1&#2", "z"],
                          n_resamples=N_RESAMPLES, alpha=0.9, correction="none")
    tex = report_to_latex(report)
    for token in (r"\toprule", r"\midrule", r"\bottomrule", r"\begin{tabular}{lrr}", r"\caption{"):
        assert token in tex
    assert r"bm25\_v2 (baseline)" in tex and r"x\%1\&\#2" in tex and "x%1" not in tex
    best = max(report.metrics[v]["RR@10"] for v in report.variants)
    assert rf"\textbf{{{best:.4f}}}" in tex
    assert r"$^{\dagger}$" in tex or r"$^{\ddagger}$" in tex  # alpha 0.9: something is significant
    assert "paired randomization test" in tex and "no correction" in tex and r"\alpha = 0.9" in tex


def test_write_report_folder_with_exports(files, tmp_path: Path) -> None:
    written = write_report_folder(_report(files), tmp_path / "out", exports=("json", "csv", "tex"))
    assert json.loads(written["json"].read_text(encoding="utf-8"))["schema"] == 1
    assert written["csv"].read_text(encoding="utf-8").startswith("dataset,split,measure,a,b,value_a,value_b,diff")
    assert r"\toprule" in written["tex"].read_text(encoding="utf-8")
    assert written["markdown"].is_file() and written["figures"]
    with pytest.raises(RqbenchError, match="did you mean 'json'"):
        write_report_folder(_report(files), tmp_path / "x", exports=("jsn",))


# ------------------------------------------------------------------------------------- terminal names


def _terminal(names: list[str], width: int) -> str:
    records = []
    for i, name in enumerate(names):
        values = {q: 0.1 * ((i + k) % 4) for k, q in enumerate(QIDS)}
        records.append({"variant": name, "suite": "t", "metrics": {m: 0.5 + 0.01 * i for m in MEASURES},
                        "per_query": {m: values for m in MEASURES}, "n_queries": 4,
                        "dataset": {"name": "toy", "split": "test"}})
    console = Console(file=io.StringIO(), width=width)
    render_terminal(build_report(records, baseline=names[0], n_resamples=20), console)
    return console.file.getvalue()


@pytest.mark.parametrize("width", [80, 48])
def test_terminal_short_names_keep_the_header_whole(width: int) -> None:
    out = _terminal(["a", "b", "c"], width)
    headers = [line for line in out.splitlines()
               if ("RR@10" in line or "R@5" in line) and "best is" not in line]  # not the summary's sentence
    assert headers and all(line.split()[0] == "variant" for line in headers)
    assert "var" not in out.replace("variant", "").replace("variants", "")
    tables = out.count("variant ")
    rows = [line.split()[0] for line in out.splitlines() if line.split() and line.split()[0] in {"a", "b", "c"}]
    assert rows == ["a", "b", "c"] * tables
    assert all(len(line) <= width for line in out.splitlines())


def test_terminal_long_names_fold_but_are_never_cut() -> None:
    long = "run-" + "abcdefghij" * 12
    grid = "dense[model=org/some-very-long-model-name_v2,pool=cls,lr=0.0001]"
    out = _terminal(["bm25", long, grid], 80)
    assert all(len(line) <= 80 for line in out.splitlines())
    first_tokens = "".join(line.split()[0] for line in out.splitlines() if line.split())
    assert long in first_tokens and grid in first_tokens


# ------------------------------------------------------------------------------------------ real data


def test_dl19_published_runs(data_root: Path) -> None:
    folder = data_root / "msmarco-dl19"
    runs = ["bm25", "bm25-rm3", "d-bert-kd-tasb", "open-ai-ada2", "splade-p-p-ensemble-distil"]
    paths = [folder / "runs" / f"{r}.dl19.trec" for r in runs]
    report = compare_runs(folder / "qrels.dl19.txt", paths, ["nDCG@10", "RR(rel=2)@10", "R(rel=2)@100"],
                          names=runs, n_resamples=2000, pairs="all")
    assert report.metrics["bm25"]["nDCG@10"] == pytest.approx(0.5058, abs=5e-5)  # Anserini's BM25 on DL19
    qrels = list(ir_measures.read_trec_qrels(str(folder / "qrels.dl19.txt")))
    expected = ir_measures.calc_aggregate([ir_measures.nDCG @ 10, ir_measures.R(rel=2) @ 100], qrels,
                                          list(ir_measures.read_trec_run(str(paths[-1]))))
    assert report.metrics[runs[-1]]["nDCG@10"] == pytest.approx(expected[ir_measures.nDCG @ 10], abs=1e-12)
    assert report.metrics[runs[-1]]["R(rel=2)@100"] == pytest.approx(expected[ir_measures.R(rel=2) @ 100], abs=1e-12)
    assert all(c.n == 43 for c in report.pairwise["nDCG@10"].values()) and len(report.pairwise["nDCG@10"]) == 10
    assert report.mark("nDCG@10", "splade-p-p-ensemble-distil") == UP  # far above BM25 on 43 queries
    assert report.pair_mark("nDCG@10", "bm25", "d-bert-kd-tasb") == DOWN
    data = report_to_json(report)
    assert len(data["sets"][0]["comparisons"]) == 3 * 10 and data["sets"][0]["n_queries"] == 43


# ------------------------------------------------------------------ reports from run files, exports, terminal


def test_records_from_runs_are_marked_and_titled_without_a_split(files) -> None:
    report = _report(files)
    assert report.from_runs and report.label == "qrels" and "(—)" not in report.label
    assert [f["variant"] for f in report.meta["run_files"]] == ["a", "b", "c"]
    console = Console(file=io.StringIO(), width=80)
    render_terminal(report, console)
    terminal = console.file.getvalue()
    assert "compare: qrels, 4 queries" in terminal and "(—)" not in terminal
    assert "`rqbench report`" not in terminal
    assert "definitions: `--format markdown`, or `--out DIR` for the full report." in " ".join(terminal.split())
    assert "(-)" not in report_to_latex(report) and "compare: qrels, 4 queries." in report_to_latex(report)
    for more, expected in (("see report.md", "definitions: see report.md."), ("", None)):
        console = Console(file=io.StringIO(), width=200)
        render_terminal(report, console, more=more)
        footer = console.file.getvalue()
        assert (expected in footer) if expected else "Full tables" not in footer
    suite_like = build_report([{k: v for k, v in r.items() if k != "source"} for r in records_from_runs(
        read_qrels(files[0]), {n: read_trec_run(p) for n, p in files[1].items()}, ["RR@10"], dataset_label="toy",
        split="test")], baseline="a", n_resamples=10)
    console = Console(file=io.StringIO(), width=200)
    render_terminal(suite_like, console)
    assert not suite_like.from_runs and "definitions: `rqbench report`." in console.file.getvalue()


def test_markdown_and_html_from_runs_show_run_files_not_suite_sections(files) -> None:
    import hashlib

    report = _report(files)
    digests = [hashlib.sha256(p.read_bytes()).hexdigest() for p in files[1].values()]
    md, page = render_markdown(report), render_html(report)
    assert md.startswith("# rqbench comparison: qrels\n") and "<h1>rqbench comparison: qrels</h1>" in page
    for text in (md, page):
        for gone in ("rqbench report:", "Records created", "Stage timings", "Reproducibility", "Success@k is the"):
            assert gone not in text
        assert "R@k is trec_eval recall" in text and "MS MARCO" in text  # R@5 and RR@10 asked for
        assert all(d in text for d in digests) and "Run files" in text
    assert "| a | `" in md and "- Statistics: 500 resamples" in md
    only_ndcg = compare_runs(files[0], list(files[1].values()), ["nDCG@10"], n_resamples=10)
    for text in (render_markdown(only_ndcg), render_html(only_ndcg)):
        assert "trec_eval recall: relevant" not in text and "MRR@10" not in text and "hit rate:" not in text


def _csv_rows(report) -> list[dict[str, str]]:
    reader = csv.DictReader(io.StringIO(report_to_csv(report)))
    assert reader.fieldnames == CSV_COLUMNS
    return list(reader)


def test_csv_all_pairs_has_every_pair_under_one_header(files) -> None:
    for pairs in ("all", "baseline"):
        report = _report(files, pairs=pairs, correction="bonferroni")
        rows = _csv_rows(report)
        comparisons = report_to_json(report)["sets"][0]["comparisons"]
        values = [r for r in rows if not r["b"]]
        compared = [r for r in rows if r["b"]]
        # every comparison of the JSON and nothing else (with all pairs in the JSON's order too)
        by_key = {(c["measure"], c["a"], c["b"]): c for c in comparisons}
        assert len(compared) == len(comparisons)
        if pairs == "all":
            assert [(r["measure"], r["a"], r["b"]) for r in compared] == list(by_key)
        for r in compared:
            c = by_key[(r["measure"], r["a"], r["b"])]
            assert float(r["diff"]) == c["diff"] and float(r["p_corrected"]) == c["p_corrected"]
            assert (r["wins"], r["ties"], r["losses"]) == (str(c["wins"]), str(c["ties"]), str(c["losses"]))
            assert float(r["value_b"]) == report.metrics[r["b"]][r["measure"]]
        # value_a of any row is that variant's value; each (variant, measure) has its own first row
        for r in rows:
            assert float(r["value_a"]) == report.metrics[r["a"]][r["measure"]]
        firsts = rows[: 3 * len(MEASURES)]
        assert [(r["a"], r["measure"]) for r in firsts] == [(v, m) for v in "abc" for m in MEASURES]
        if pairs == "all":
            assert len(rows) == 3 * len(MEASURES) + 3 * len(MEASURES) and values == firsts
            assert {(r["a"], r["b"]) for r in compared} == {("a", "b"), ("a", "c"), ("b", "c")}
        else:
            assert len(rows) == 3 * len(MEASURES) and [r["a"] for r in values] == ["a"] * len(MEASURES)


def test_latex_all_pairs_gets_a_pairwise_table(files) -> None:
    tex = report_to_latex(_report(files, pairs="all", correction="bonferroni"))
    assert tex.count(r"\begin{tabular}") == 2 and tex.count(r"\begin{table}") == 2
    main, pairwise = tex.split(r"\end{table}")[:2]
    assert "All pairs of variants are compared in the next table." in main
    assert "all pairs of variants compared" in pairwise and "Bonferroni-adjusted p-values across all pairs" in pairwise
    for m in MEASURES:
        assert f"\n{latex_escape(m)} & a vs b & " in pairwise
    assert pairwise.count(" vs ") == 1 + 3 * len(MEASURES) and pairwise.count(r"\midrule") == len(MEASURES)
    assert "p (rand., Bonferroni)" in pairwise and r"$\Delta$" in pairwise and "Δ" not in pairwise
    baseline_only = report_to_latex(_report(files))
    assert baseline_only.count(r"\begin{tabular}") == 1 and "all pairs" not in baseline_only.lower()


def _piped(measures: list[str], names: list[str], width: int = 80, dataset: str = "toy", **options) -> tuple:
    """A report whose every (variant, measure) value differs, rendered on a piped console `width` wide."""
    records = []
    for i, name in enumerate(names):
        per_query = {q: 0.1 * ((i + k) % 4) for k, q in enumerate(QIDS)}
        records.append({"variant": name, "suite": "t", "n_queries": 4, "dataset": {"name": dataset, "split": None},
                        "metrics": {m: 0.1 + 0.0001 * (i * len(measures) + j) for j, m in enumerate(measures)},
                        "per_query": {m: per_query for m in measures}})
    report = build_report(records, baseline=names[0], n_resamples=20, **options)
    console = Console(file=io.StringIO(), width=width)
    assert not console.is_terminal
    render_terminal(report, console)
    return report, console.file.getvalue()


def test_terminal_piped_titles_wrap_between_words() -> None:
    long = "shared/data/some-collection/with/a/rather/long/path/to/its/qrels/test.tsv"
    _, out = _piped(["nDCG@10"], ["bm25", "dense"], dataset=long, pairs="all")
    lines = out.splitlines()
    assert all(len(line) <= 80 for line in lines)  # 80 columns: a title wraps, never inside a word
    assert f"t: {long}, 4 queries" in " ".join(out.split()) and any(line.startswith(f"t: {long}") for line in lines)
    assert "nDCG@10: pairwise (A vs B, Δ = A - B)" in lines


@pytest.mark.parametrize("width", [80, 40])
def test_terminal_piped_pairwise_names_and_values_whole(width: int) -> None:
    names = ["bm25.dl19.trec", "rm3.dl19.trec", "tasb.dl19.trec"]
    report, out = _piped(["nDCG@10", "RR@10"], names, width=width, pairs="all", test="t", correction="bonferroni")
    assert "…" not in out
    lines = out.splitlines()
    assert all(len(line) <= width for line in lines if "pairwise" not in line and not line.startswith("t: "))
    for m in report.measures:
        for row in pairwise_rows(report, m):
            for value in (row["diff"], row["ci_short"], row["p_t"], row["wtl"]):
                assert value in out
            if width == 80:  # room for both names: A and B on the row's own line, whole
                assert any(line.split()[:3] == [row["a"], row["b"], row["diff"]] for line in lines)


@pytest.mark.parametrize("width", [80, 48])
def test_terminal_piped_many_measures_never_lose_a_value(width: int) -> None:
    measures = ["nDCG@10", "nDCG(judged_only=True)@10", "RR@10", "RR(rel=2)@10", "R@100", "R(rel=2)@1000",
                "P@5", "P(rel=2)@20", "AP", "AP(rel=2)", "Success@1", "Success@5", "Success@100", "Judged@10"]
    names = ["bm25", "bm25-rm3.dl19.trec", "dense[model=org/some-very-long-model-name_v2,pool=cls]"]
    report, out = _piped(measures, names, width=width)
    assert "…" not in out and all(len(line) <= width for line in out.splitlines()[1:])
    headers = [w for line in out.splitlines() if line.split()[:1] == ["variant"] for w in line.split()[1:]]
    assert headers == measures  # every measure's full name, once, in order
    for v in names:
        for m in measures:
            assert f"{report.metrics[v][m]:.4f}" in out


def test_confidence_level_follows_alpha(files) -> None:
    report = _report(files, alpha=0.1, pairs="all")
    console = Console(file=io.StringIO(), width=100)
    render_terminal(report, console)
    texts = {"terminal": console.file.getvalue(), "markdown": render_markdown(report), "html": render_html(report),
             "latex": report_to_latex(report), "legend": " ".join(legend_lines(report))}
    for where, text in texts.items():
        assert "90%" in text or r"90\%" in text, where
        assert not re.search(r"95 ?\\?%", text), where
