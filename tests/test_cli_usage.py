"""The command line a new user meets: every usage mistake is one line on stderr and exit 2 (never a
traceback), trec_eval's argument order for `eval`, query-id mismatches refused unless --allow-partial,
several runs at once, and JSON shapes that do not change with --per-query. All through the real CLI."""

from __future__ import annotations

import gzip
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

QRELS = "".join(f"{q} 0 d{q}a 1\n{q} 0 d{q}b 0\n" for q in range(1, 11))  # 10 judged queries


def cli(*args: str, cwd: Path | None = None) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "COLUMNS": "100"}
    return subprocess.run([sys.executable, "-m", "rqbench.cli", *args], cwd=cwd, capture_output=True, text=True,
                          env=env, timeout=300)


def one_line_error(proc: subprocess.CompletedProcess[str], code: int = 2) -> str:
    assert proc.returncode == code, (proc.returncode, proc.stdout, proc.stderr)
    assert "Traceback" not in proc.stderr
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1, proc.stderr
    return lines[0]


def run_text(qids: list[str], hit: bool = True, prefix: str = "") -> str:
    """A run answering `qids`: the relevant document first when `hit`, else second."""
    lines = []
    for q in qids:
        first, second = (f"d{q}a", f"d{q}b") if hit else (f"d{q}b", f"d{q}a")
        lines += [f"{prefix}{q} Q0 {first} 1 2.0 t\n", f"{prefix}{q} Q0 {second} 2 1.0 t\n"]
    return "".join(lines)


@pytest.fixture
def files(tmp_path: Path) -> dict[str, Path]:
    paths = {"qrels": tmp_path / "qrels.txt", "full": tmp_path / "full.trec", "half": tmp_path / "half.trec",
             "prefixed": tmp_path / "prefixed.trec", "partial": tmp_path / "partial.trec"}
    paths["qrels"].write_text(QRELS)
    qids = [str(q) for q in range(1, 11)]
    paths["full"].write_text(run_text(qids))
    paths["half"].write_text(run_text(qids[:5]) + run_text(qids[5:], hit=False))
    paths["prefixed"].write_text(run_text(qids, prefix="q"))
    paths["partial"].write_text(run_text(qids[:1]))
    return paths


@pytest.mark.parametrize("args", [["evl"], ["eval"], ["eval", "--bogus", "a", "b"], ["run"], ["report"],
                                  ["run", "-v", "x", "suite.toml"], ["leaderboard", "--measure"], ["store", "nope"],
                                  ["eval", "-m"], ["run", "s.toml", "--jobs", "zero"]])
def test_usage_mistakes_are_one_line_exit_2(args: list[str]) -> None:
    line = one_line_error(cli(*args))
    assert line.startswith("rqbench") and "error:" in line


def test_did_you_mean_for_a_command() -> None:
    assert "eval" in one_line_error(cli("evl"))


def test_version_and_short_help() -> None:
    from importlib.metadata import version

    proc = cli("--version")
    assert proc.returncode == 0 and proc.stdout.strip() == f"rqbench {version('rqbench')}"
    for args in (["-h"], ["eval", "-h"], ["run", "-h"], ["store", "-h"], ["data", "inspect", "-h"], []):
        proc = cli(*args)
        assert proc.returncode == 0 and proc.stdout.startswith("Usage:"), (args, proc.stderr)


def test_flags_do_not_show_a_value_placeholder() -> None:
    text = cli("run", "-h").stdout
    assert "--overwrite " in text and "<bool>" not in text and "<list" not in text


def test_eval_takes_qrels_first_and_several_runs(files: dict[str, Path]) -> None:
    proc = cli("eval", str(files["qrels"]), str(files["full"]), str(files["half"]), "-m", "RR@10", "--json")
    assert proc.returncode == 0, proc.stderr
    out = json.loads(proc.stdout)
    assert [r["name"] for r in out["runs"]] == ["full.trec", "half.trec"]
    assert out["runs"][0]["aggregate"]["RR@10"] == 1.0
    assert out["runs"][1]["aggregate"]["RR@10"] == pytest.approx((5 * 1.0 + 5 * 0.5) / 10)
    table = cli("eval", str(files["qrels"]), str(files["full"]), str(files["half"]), "-m", "RR@10")
    rows = [line for line in table.stdout.splitlines() if ".trec" in line]
    assert len(rows) == 2 and "1.0000" in rows[0] and "0.7500" in rows[1] and "10/10" in rows[0]


def test_swapped_arguments_get_a_hint(files: dict[str, Path]) -> None:
    line = one_line_error(cli("eval", str(files["full"]), str(files["qrels"])))
    assert "QRELS first" in line and "full.trec" in line


def test_query_ids_that_match_nothing_are_an_error(files: dict[str, Path]) -> None:
    line = one_line_error(cli("eval", str(files["qrels"]), str(files["prefixed"])))
    assert "prefixed.trec" in line and "prefix 'q'" in line and "--allow-partial" in line
    proc = cli("eval", str(files["qrels"]), str(files["prefixed"]), "--allow-partial", "--json", "-m", "RR@10")
    assert proc.returncode == 0
    run = json.loads(proc.stdout)["runs"][0]
    assert run["aggregate"]["RR@10"] == 0.0
    assert run["coverage"] == {"judged": 10, "answered": 0, "unjudged_in_run": 10}


def test_partial_coverage_is_an_error_and_always_counted(files: dict[str, Path]) -> None:
    line = one_line_error(cli("eval", str(files["qrels"]), str(files["partial"])))
    assert "answers 1 of 10 judged queries" in line
    proc = cli("eval", str(files["qrels"]), str(files["partial"]), "--allow-partial", "-m", "RR@10")
    assert proc.returncode == 0 and "1/10" in proc.stdout and "9 score 0" in proc.stderr
    proc = cli("eval", str(files["qrels"]), str(files["partial"]), "--allow-partial", "-m", "RR@10", "--json")
    assert json.loads(proc.stdout)["runs"][0]["aggregate"]["RR@10"] == pytest.approx(0.1)


def test_unjudged_run_queries_are_counted_not_fatal(files: dict[str, Path], tmp_path: Path) -> None:
    extra = tmp_path / "extra.trec"
    extra.write_text(files["full"].read_text() + run_text(["99"]))
    proc = cli("eval", str(files["qrels"]), str(extra), "-m", "RR@10")
    assert proc.returncode == 0 and "1 run queries have no qrels" in proc.stderr


def test_json_shape_does_not_change_with_per_query(files: dict[str, Path]) -> None:
    base = [str(files["qrels"]), str(files["full"]), "-m", "RR@10 nDCG@10", "--json"]
    plain = json.loads(cli("eval", *base).stdout)
    detailed = json.loads(cli("eval", *base, "--per-query").stdout)
    assert set(detailed) == set(plain) and plain["measures"] == ["RR@10", "nDCG@10"]
    assert set(detailed["runs"][0]) == set(plain["runs"][0]) | {"per_query"}
    assert detailed["runs"][0]["per_query"]["RR@10"]["3"] == 1.0


def test_gzipped_run_and_qrels(files: dict[str, Path], tmp_path: Path) -> None:
    for name in ("qrels", "half"):
        (tmp_path / f"{name}.gz").write_bytes(gzip.compress(files[name].read_bytes()))
    plain = json.loads(cli("eval", str(files["qrels"]), str(files["half"]), "--json").stdout)
    zipped = json.loads(cli("eval", str(tmp_path / "qrels.gz"), str(tmp_path / "half.gz"), "--json").stdout)
    assert zipped["runs"][0]["aggregate"] == plain["runs"][0]["aggregate"]


def test_qrels_named_by_dataset(data_root: Path) -> None:
    run = data_root / "msmarco-dl19" / "runs" / "bm25.dl19.trec"
    proc = cli("eval", "--dataset", "msmarco-dl19", "--split", "dl19", str(run), "-m", "ndcg_cut.10", "--json",
               "--data-root", str(data_root))
    assert proc.returncode == 0, proc.stderr
    assert round(json.loads(proc.stdout)["runs"][0]["aggregate"]["nDCG@10"], 4) == 0.5058  # published BM25 DL19
    line = one_line_error(cli("eval", "--dataset", "msmarco-dl19", "--split", "dl20", str(run),
                              "--data-root", str(data_root)))
    assert "dl19" in line


def test_measure_spellings_in_eval(files: dict[str, Path]) -> None:
    proc = cli("eval", str(files["qrels"]), str(files["half"]), "-m", "map recip_rank,ndcg_cut.10", "-m", "mrr@10",
               "--json")
    assert proc.returncode == 0, proc.stderr
    assert json.loads(proc.stdout)["measures"] == ["AP", "RR", "nDCG@10", "RR@10"]
    line = one_line_error(cli("eval", str(files["qrels"]), str(files["half"]), "-m", "nDGC@10"))
    assert "did you mean" in line


def test_a_bad_run_in_the_right_order_keeps_its_own_error(files: dict[str, Path], tmp_path: Path) -> None:
    bad = tmp_path / "twice.trec"
    bad.write_text("1 Q0 d1a 1 3 t\n1 Q0 d1a 2 2 t\n")
    line = one_line_error(cli("eval", str(files["qrels"]), str(bad)))
    assert f"{bad}:2:" in line and "appears twice" in line and "QRELS first" not in line


def test_argument_mistakes_around_runs(files: dict[str, Path], data_root: Path) -> None:
    assert "given twice" in one_line_error(cli("compare", str(files["qrels"]), str(files["full"]), str(files["full"])))
    assert "--dataset" in one_line_error(cli("eval", "--split", "dev", str(files["qrels"]), str(files["full"])))
    line = one_line_error(cli("eval", "--dataset", "msmarco-dl19", "--split", "dl19", "--data-root", str(data_root),
                              str(data_root / "msmarco-dl19" / "qrels.dl19.txt"),
                              str(data_root / "msmarco-dl19" / "runs" / "bm25.dl19.trec")))
    assert "looks like qrels" in line and "only run files" in line


def test_eval_table_never_cuts_names_or_values(files: dict[str, Path], tmp_path: Path) -> None:
    long = tmp_path / ("run." + "very-long-system-name-" * 4 + ".trec")
    long.write_text(files["half"].read_text())
    measures = "RR@10 nDCG@10 R@5 P@1 P@5 AP Success@1 Success@5 nDCG@5 RR ndcg_cut.3 recall_2 map_cut_5"
    proc = cli("eval", str(files["qrels"]), str(long), str(files["full"]), "-m", measures)  # piped: not a TTY
    assert proc.returncode == 0, proc.stderr
    row = next(line for line in proc.stdout.splitlines() if line.startswith(long.name))
    assert len(row.split()) == 1 + 13 + 1 and "…" not in proc.stdout


def test_per_query_output_is_trec_eval_q(files: dict[str, Path]) -> None:
    proc = cli("eval", str(files["qrels"]), str(files["half"]), "-m", "RR@10", "-q")
    lines = proc.stdout.splitlines()
    assert len(lines) == 11 and all(len(line.split("\t")) == 3 for line in lines)
    assert lines[-1] == "RR@10\tall\t0.7500"


def test_report_accepts_a_results_folder_and_refuses_a_file_as_out(repo_root: Path, tmp_path: Path) -> None:
    folder = repo_root / "reports" / "dl19-bm25" / "records"
    proc = cli("report", str(folder), "--format", "csv")
    assert proc.returncode == 0, proc.stderr
    taken = tmp_path / "taken.txt"
    taken.write_text("x")
    assert "is a file" in one_line_error(cli("report", str(folder), "--out", str(taken)))


def test_a_suite_run_file_that_leaves_judged_queries_unanswered(files: dict[str, Path], tmp_path: Path) -> None:
    data = tmp_path / "mydata"
    (data / "qrels").mkdir(parents=True)
    (data / "corpus.jsonl").write_text("".join(json.dumps({"_id": f"d{q}{s}", "title": "", "text": f"doc {q}{s}"})
                                               + "\n" for q in range(1, 11) for s in "ab"))
    (data / "queries.jsonl").write_text("".join(json.dumps({"_id": str(q), "text": f"query {q}"}) + "\n"
                                                for q in range(1, 11)))
    (data / "qrels" / "test.tsv").write_text("".join(f"{q}\td{q}a\t1\n" for q in range(1, 11)))
    suite = tmp_path / "suite.toml"
    body = ('[suite]\nname = "partial"\ndataset = "mydata"\nsplit = "test"\nmeasures = ["RR@10"]\n\n'
            '[[variants]]\nname = "mine"\nbackend = "trec-run"\n'
            'params = {{ path = "{{suite_dir}}/partial.trec"{extra} }}\n')
    (tmp_path / "partial.trec").write_text(files["partial"].read_text())
    suite.write_text(body.format(extra=""))
    line = one_line_error(cli("run", str(suite), cwd=tmp_path))
    assert "answers 1 of the 10 judged queries" in line and "allow_partial" in line
    suite.write_text(body.format(extra=", allow_partial = true"))
    proc = cli("run", str(suite), "--json", cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    assert json.loads(proc.stdout)[0]["metrics"]["RR@10"] == pytest.approx(0.1)


def test_wrong_dataset_and_split_name_their_own_lines(tmp_path: Path, data_root: Path) -> None:
    suite = tmp_path / "bad.toml"
    text = ('[suite]\nname = "x"\ndataset = "{ds}"\nsplit = "{split}"\nmeasures = ["RR@10"]\n\n'
            '[[variants]]\nname = "bm25"\nbackend = "bm25"\n')
    suite.write_text(text.format(ds="scifactt", split="test"))
    line = one_line_error(cli("plan", str(suite), "--data-root", str(data_root)))
    assert f"{suite}:3:" in line and "did you mean 'scifact'" in line
    suite.write_text(text.format(ds="scifact", split="dev"))
    line = one_line_error(cli("plan", str(suite), "--data-root", str(data_root)))
    assert f"{suite}:4:" in line and "split 'dev'" in line
