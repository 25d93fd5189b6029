"""`rqbench compare` (a significance table from run files alone), `report`'s options and outputs, and the
--json of leaderboard and backends, through the real CLI, on TREC DL19's published runs."""

from __future__ import annotations

import csv
import io
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest


def cli(*args: str, cwd: Path | None = None, python: tuple[str, ...] = ()) -> subprocess.CompletedProcess[str]:
    """The real CLI in a fresh interpreter; `python` adds interpreter options (-X importtime)."""
    return subprocess.run([sys.executable, *python, "-m", "rqbench.cli", *args], cwd=cwd, capture_output=True,
                          text=True, env={**os.environ, "COLUMNS": "100"}, timeout=600)


@pytest.fixture(scope="module")
def dl19(data_root: Path) -> dict[str, str]:
    folder = data_root / "msmarco-dl19"
    return {"qrels": str(folder / "qrels.dl19.txt"), "bm25": str(folder / "runs" / "bm25.dl19.trec"),
            "rm3": str(folder / "runs" / "bm25-rm3.dl19.trec"),
            "tasb": str(folder / "runs" / "d-bert-kd-tasb.dl19.trec")}


def compare_json(*args: str) -> dict:
    proc = cli("compare", *args, "--json")
    assert proc.returncode == 0, proc.stderr
    return json.loads(proc.stdout)


def imported(importtime_stderr: str) -> set[str]:
    """The modules named by `python -X importtime` on stderr."""
    return {line.rsplit("|", 1)[1].strip() for line in importtime_stderr.splitlines()
            if line.startswith("import time:") and "|" in line}


def test_compare_runs_against_the_first(dl19: dict[str, str]) -> None:
    """Defaults: every run against the first, Holm over that family; and a comparison's start-up stays light
    (no scipy.stats, matplotlib or jinja2: the t-test's tail comes from scipy.special, figures and HTML only
    when drawn)."""
    proc = cli("compare", dl19["qrels"], dl19["bm25"], dl19["rm3"], dl19["tasb"], "-m", "ndcg_cut.10", "--json",
               python=("-X", "importtime"))
    assert proc.returncode == 0, proc.stderr
    out = json.loads(proc.stdout)
    (section,) = out["sets"]
    assert [v["name"] for v in section["variants"]] == ["bm25.dl19.trec", "bm25-rm3.dl19.trec",
                                                        "d-bert-kd-tasb.dl19.trec"]
    assert round(section["variants"][0]["metrics"]["nDCG@10"], 4) == 0.5058  # the published BM25 figure
    assert out["baseline"] == "bm25.dl19.trec" and out["correction"] == "holm"
    pairs = [(c["a"], c["b"]) for c in section["comparisons"]]
    assert len(pairs) == 2 and all("bm25.dl19.trec" in p for p in pairs)
    tasb = next(c for c in section["comparisons"] if "d-bert-kd-tasb.dl19.trec" in (c["a"], c["b"]))
    assert tasb["significant"] and tasb["wins"] + tasb["ties"] + tasb["losses"] == 43
    for key in ("p", "t_p"):  # Holm over the two comparisons, by hand
        low, high = sorted(section["comparisons"], key=lambda c: c[key])
        assert low[f"{key}_corrected"] == pytest.approx(min(1.0, 2 * low[key]))
        assert high[f"{key}_corrected"] == pytest.approx(max(min(1.0, 2 * low[key]), high[key]))
    modules = imported(proc.stderr)
    assert {"rqbench.stats", "scipy.special"} <= modules, "not an importtime listing"
    assert not {m for m in modules if m.split(".")[0] in ("matplotlib", "jinja2") or m.startswith("scipy.stats")}


def test_compare_options(dl19: dict[str, str]) -> None:
    """--all-pairs with Bonferroni (both p-values times the three pairs), and a named baseline with the
    t-test deciding at alpha 0.01, uncorrected."""
    runs = [dl19["qrels"], dl19["bm25"], dl19["rm3"], dl19["tasb"], "-m", "nDCG@10"]
    bonf = compare_json(*runs, "--all-pairs", "--correction", "bonferroni")
    assert len(bonf["sets"][0]["comparisons"]) == 3 and bonf["pairs"] == "all" and bonf["correction"] == "bonferroni"
    for c in bonf["sets"][0]["comparisons"]:
        assert c["p_corrected"] == pytest.approx(min(1.0, 3 * c["p"]))
        assert c["t_p_corrected"] == pytest.approx(min(1.0, 3 * c["t_p"]))
    t = compare_json(*runs, "--test", "t", "--alpha", "0.01", "--correction", "none", "--baseline",
                     "d-bert-kd-tasb.dl19.trec")
    assert t["test"] == "t" and t["alpha"] == 0.01 and t["baseline"] == "d-bert-kd-tasb.dl19.trec"
    assert {c["b"] for c in t["sets"][0]["comparisons"]} == {"d-bert-kd-tasb.dl19.trec"}
    for c in t["sets"][0]["comparisons"]:
        assert c["p_corrected"] == c["p"] and c["t_p_corrected"] == c["t_p"]
        assert c["significant"] == (c["t_p_corrected"] < 0.01)


def test_compare_outputs(dl19: dict[str, str], tmp_path: Path) -> None:
    """Each machine format on stdout; with two systems the query-by-query drill-down only when asked for
    (--detail, on stderr) or written (--out: queries.md / .html), never computed for nobody."""
    runs = [dl19["qrels"], dl19["bm25"], dl19["tasb"], "-m", "nDCG@10 RR@10"]
    drill = "queries with the largest differences"
    csv_out = cli("compare", *runs, "--format", "csv")
    assert len(list(csv.DictReader(io.StringIO(csv_out.stdout)))) == 4  # 2 runs x 2 measures
    assert csv_out.returncode == 0 and drill not in csv_out.stderr and "sorted per-query" not in csv_out.stderr
    latex = cli("compare", *runs, "--format", "latex", "--out", str(tmp_path / "cmp"))
    assert latex.returncode == 0 and "\\toprule" in latex.stdout and "bm25.dl19.trec" in latex.stdout
    assert "the 10 queries with the largest differences" in latex.stderr  # the default --detail, with --out
    for name in ("report.md", "report.html", "queries.md", "queries.html"):
        assert (tmp_path / "cmp" / name).is_file(), name
    markdown = cli("compare", *runs, "--format", "markdown", "--detail", "2")
    assert markdown.returncode == 0 and "nDCG@10" in markdown.stdout and drill not in markdown.stdout
    assert "the 2 queries with the largest differences" in markdown.stderr


@pytest.mark.parametrize(("args", "needle"), [
    (["--format", "xlsx"], "unknown --format 'xlsx'"),
    (["--baseline", "nope"], "unknown --baseline 'nope'"),
    (["--test", "wilcoxon"], "wilcoxon"),
    (["--correction", "bh"], "bh"),
    (["--alpha", "2"], "alpha"),
])
def test_compare_mistakes_are_one_line(dl19: dict[str, str], args: list[str], needle: str) -> None:
    proc = cli("compare", dl19["qrels"], dl19["bm25"], dl19["tasb"], *args)
    assert proc.returncode == 2 and "Traceback" not in proc.stderr
    assert len(proc.stderr.strip().splitlines()) == 1 and needle in proc.stderr, proc.stderr


def test_compare_needs_two_runs(dl19: dict[str, str]) -> None:
    proc = cli("compare", dl19["qrels"], dl19["bm25"])
    assert proc.returncode == 2 and "at least two runs" in proc.stderr


def test_report_options_and_formats(repo_root: Path, tmp_path: Path) -> None:
    records = repo_root / "reports" / "dl19-bm25" / "records" / "records.jsonl"
    out = cli("report", str(records), "--all-pairs", "--correction", "bonferroni", "--json", "-m", "ndcg_cut.10",
              "--out", str(tmp_path / "rep"))
    assert out.returncode == 0, out.stderr
    data = json.loads(out.stdout)
    n = len(data["sets"][0]["variants"])
    assert data["measures"] == ["nDCG@10"] and len(data["sets"][0]["comparisons"]) == n * (n - 1) // 2
    assert (tmp_path / "rep" / "report.html").is_file()
    latex = cli("report", str(records), "--format", "latex")  # a machine format writes no files without --out
    assert latex.returncode == 0 and "\\toprule" in latex.stdout
    assert not (records.parent / "report").exists()


def test_report_does_not_overwrite_committed_reports_by_default(repo_root: Path, tmp_path: Path) -> None:
    suite = tmp_path / "suite.toml"
    suite.write_text((repo_root / "suites" / "dl19-bm25.toml").read_text())
    results = tmp_path / "results" / "dl19-bm25"
    results.mkdir(parents=True)
    src = repo_root / "reports" / "dl19-bm25" / "records"
    (results / "records.jsonl").write_text((src / "records.jsonl").read_text())
    os.symlink(src / "perquery", results / "perquery")
    proc = cli("report", str(suite), "-m", "nDCG@10", cwd=tmp_path)  # one measure: fewer figures to draw
    assert proc.returncode == 0, proc.stderr
    assert (results / "report" / "report.md").is_file() and not (tmp_path / "reports").exists()


def test_leaderboard_and_backends_json(repo_root: Path, tmp_path: Path) -> None:
    results = tmp_path / "results" / "dl19-bm25"
    results.mkdir(parents=True)
    committed = repo_root / "reports" / "dl19-bm25" / "records"
    (results / "records.jsonl").write_text((committed / "records.jsonl").read_text())
    shutil.copytree(committed / "perquery", results / "perquery")  # per-query values: the tie groups
    board = json.loads(cli("leaderboard", "--results", str(tmp_path / "results"), "-m", "ndcg_cut_10", "--json")
                       .stdout)
    assert board["columns"] == [{"dataset": "msmarco-dl19 (dl19)", "measure": "nDCG@10"}]
    top = board["systems"][0]
    assert top["name"] == "published-splade-pp" and top["cells"]["msmarco-dl19 (dl19) nDCG@10"]["groups"] == "a"
    assert {"value", "rank", "groups", "n_queries", "missing"} <= set(top["cells"]["msmarco-dl19 (dl19) nDCG@10"])
    backends = json.loads(cli("backends", "--json").stdout)
    assert {"bm25", "dense", "trec-run"} <= {b["name"] for b in backends}
