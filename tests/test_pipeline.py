"""End to end through the CLI, in real processes: suites run on real data with real Pyserini, artifacts are
reused, a killed run resumes, the gate's exit codes, and bad input is one line with no damage."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from rqbench.records import read_records


def rq(*args: str, cwd: Path, env_extra: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "COLUMNS": "120", **(env_extra or {})}
    return subprocess.run([sys.executable, "-m", "rqbench.cli", *args], cwd=cwd, capture_output=True, text=True,
                          env=env, timeout=600)


@pytest.fixture(scope="module")
def work(tmp_path_factory: pytest.TempPathFactory, data_root: Path) -> Path:
    path = tmp_path_factory.mktemp("work")
    os.environ["RQBENCH_DATA"] = str(data_root)  # inherited by the subprocesses
    return path


@pytest.fixture(scope="module")
def smoke(work: Path, repo_root: Path) -> subprocess.CompletedProcess[str]:
    """The smoke suite's first run in `work`, once per module: the tests that need its records or its
    store share it instead of each starting a (cached) run of its own."""
    return rq("run", str(repo_root / "suites" / "smoke.toml"), "--json", cwd=work)


@pytest.fixture(scope="module")
def smoke_records(smoke: subprocess.CompletedProcess[str], work: Path) -> Path:
    assert smoke.returncode == 0, smoke.stderr
    return work / "results" / "smoke" / "records.jsonl"


@pytest.fixture(scope="module")
def published(work: Path, repo_root: Path) -> subprocess.CompletedProcess[str]:
    """The shipped DL19 BM25 run replayed as the dl19-bm25 suite's variant, once per module."""
    return rq("run", str(repo_root / "suites" / "dl19-bm25.toml"), "--variant", "published-bm25", "--json", cwd=work)


@pytest.mark.slow
def test_smoke_runs_then_everything_is_cached(smoke: subprocess.CompletedProcess[str], work: Path,
                                              repo_root: Path) -> None:
    suite = str(repo_root / "suites" / "smoke.toml")
    assert smoke.returncode == 0, smoke.stderr
    records = json.loads(smoke.stdout)
    stored = read_records(work / "results" / "smoke" / "records.jsonl")
    assert [r["record_id"] for r in stored[:3]] == [r["record_id"] for r in records]  # the run's own records
    assert [r["variant"] for r in records] == ["bm25", "bm25-msmarco", "bm25-rm3"]
    # the three variants share one index: built once, reused by the other two within the same run
    index_hashes = {r["artifact_hashes"]["index"] for r in records}
    assert len(index_hashes) == 1
    assert [s["cached"] for s in records[1]["stages"]] == [True, False, False]
    for r in records:
        assert (work / "results" / "smoke" / r["run_file"]).is_file()
        assert 0 < r["metrics"]["nDCG@10"] <= 1 and r["n_queries"] == 10
        assert r["env"]["packages"]["pyserini"] == "1.6.0" and r["env"]["java"]["version"].startswith("21")
        assert r["dataset"]["fingerprints"]["corpus"] and r["seed"] == 0
    second = rq("run", suite, "--json", cwd=work)
    assert second.returncode == 0, second.stderr
    again = json.loads(second.stdout)
    assert all(s["cached"] for r in again for s in r["stages"])
    assert [r["metrics"] for r in again] == [r["metrics"] for r in records]
    assert "cached" in second.stderr and "built" not in second.stderr


@pytest.mark.slow
def test_killed_run_resumes_at_first_missing_artifact(work: Path, repo_root: Path) -> None:
    """SIGKILL the SciFact suite once its index exists; the rerun reuses the index and reproduces the
    published Pyserini BEIR figures (nDCG@10 0.6789, R@100 0.9253, R@1000 0.9767)."""
    suite = str(repo_root / "suites" / "scifact-bm25.toml")
    store = work / "kill-store"
    env = {**os.environ, "RQBENCH_STORE": str(store)}
    proc = subprocess.Popen([sys.executable, "-m", "rqbench.cli", "run", suite], cwd=work, env=env,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.time() + 300
    while time.time() < deadline and not list(store.glob("index/*/*/manifest.json")):
        assert proc.poll() is None, "run finished before it could be interrupted"
        time.sleep(0.05)
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    assert list(store.glob("index/*/*/manifest.json")), "index artifact never appeared"
    assert not list(store.glob("retrieve/*/*/manifest.json")) and not list(store.glob("evaluate/*/*"))
    records_file = work / "results" / "scifact-bm25" / "records.jsonl"
    assert not records_file.exists()

    rerun = rq("run", suite, "--json", cwd=work, env_extra={"RQBENCH_STORE": str(store)})
    assert rerun.returncode == 0, rerun.stderr
    (record,) = json.loads(rerun.stdout)
    assert [s["cached"] for s in record["stages"]] == [True, False, False]
    assert not any((store / "tmp").iterdir())  # the killed build's temporary folder was cleaned
    metrics = record["metrics"]
    assert abs(metrics["nDCG@10"] - 0.6789) < 5e-5
    assert abs(metrics["R@100"] - 0.9253) < 5e-5
    assert abs(metrics["R@1000"] - 0.9767) < 5e-5

    gate = rq("check", suite, cwd=work, env_extra={"RQBENCH_STORE": str(store)})
    assert gate.returncode == 0, gate.stdout + gate.stderr
    assert "PASS" in gate.stdout


@pytest.mark.slow
def test_check_exit_codes(work: Path, repo_root: Path, tmp_path: Path, smoke_records: Path) -> None:
    text = (repo_root / "suites" / "smoke.toml").read_text()
    ndcg = read_records(smoke_records)[0]["metrics"]["nDCG@10"]
    passing = tmp_path / "pass.toml"
    passing.write_text(text + f'\n[check]\ntolerance = 0.001\n[check.expected.bm25]\n"nDCG@10" = {ndcg}\n')
    assert rq("check", str(passing), cwd=work).returncode == 0
    failing = tmp_path / "fail.toml"
    failing.write_text(text + f'\n[check]\ntolerance = 0.001\n[check.expected.bm25]\n"nDCG@10" = {ndcg + 0.05}\n')
    result = rq("check", str(failing), cwd=work)
    assert result.returncode == 1 and "REGRESSED" in result.stdout
    # against a stored baseline record file (per-query noise model)
    assert rq("check", str(passing), "--baseline", str(smoke_records), "--no-run", cwd=work).returncode == 0
    bad = tmp_path / "bad.toml"
    bad.write_text(text.replace("[suite]", "[suite]\ntolerence = 1", 1))
    result = rq("check", str(bad), cwd=work)
    assert result.returncode == 2 and "Traceback" not in result.stderr


@pytest.mark.parametrize(
    ("edit", "needle"),
    [
        (lambda t: t.replace('dataset = "msmarco-dl19-mini"', 'dataset = "msmarco-dl91-mini"'),
         "unknown dataset 'msmarco-dl91-mini' (did you mean 'msmarco-dl19-mini'?)"),
        (lambda t: t.replace('backend = "bm25"', 'backend = "bm2"', 1), "(did you mean 'bm25'?)"),
        (lambda t: t.replace("k1 = 0.9, b = 0.4 }", "k1 = 0.9, bb = 0.4 }", 1), "unknown parameter 'bb'"),
        (lambda t: t.replace("k1 = 0.9, b = 0.4 }", 'k1 = "high", b = 0.4 }', 1), "parameter 'k1' must be float"),
    ],
)
def test_bad_suite_is_one_line_and_damages_nothing(work: Path, repo_root: Path, tmp_path: Path, edit,
                                                   needle: str, smoke_records: Path) -> None:
    records = smoke_records
    before = records.read_bytes()
    suite = tmp_path / "smoke.toml"
    suite.write_text(edit((repo_root / "suites" / "smoke.toml").read_text()))
    result = rq("run", str(suite), cwd=work)
    assert result.returncode == 2
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith(f"rqbench: error: {suite}"), result.stderr
    assert needle in lines[0]
    assert records.read_bytes() == before


def test_data_problems_surface_as_one_line(work: Path, tmp_path: Path) -> None:
    folder = tmp_path / "broken"
    folder.mkdir()
    (folder / "collection.tsv").write_text("d1\tfine text\nd2\tone\ttoo many\tcolumns\n")
    (folder / "queries.tsv").write_text("q1\tquestion\n")
    (folder / "qrels.txt").write_text("q1 0 d1 1\n")
    suite = tmp_path / "s.toml"
    suite.write_text(f'[suite]\ndataset = "{folder}"\n[[variants]]\nname = "b"\nbackend = "bm25"\n')
    result = rq("run", str(suite), cwd=work)
    assert result.returncode == 2
    assert result.stderr.strip().startswith(f"rqbench: error: {folder / 'collection.tsv'}:2: ")


def test_report_from_records_only(work: Path, repo_root: Path, smoke_records: Path) -> None:
    out = rq("report", str(repo_root / "suites" / "smoke.toml"), "--out", str(work / "rep"), cwd=work)
    assert out.returncode == 0, out.stderr
    html = (work / "rep" / "report.html").read_text()
    assert "data:image/png;base64," in html and "bm25-rm3" in html
    assert "bm25-msmarco" in (work / "rep" / "report.md").read_text()


def test_inspect_and_backends(work: Path, data_root: Path) -> None:
    out = rq("data", "inspect", str(data_root / "msmarco-dl19"), cwd=work)
    assert out.returncode == 0 and "31362" in out.stdout.replace(",", "")
    listing = rq("backends", cwd=work)
    assert listing.returncode == 0 and "bm25" in listing.stdout and "retriever" in listing.stdout


def test_import_and_help_load_no_heavy_modules(repo_root: Path) -> None:
    code = ("import sys, rqbench, rqbench.cli, rqbench.suite, rqbench.report, rqbench.runner, rqbench.plan\n"
            "import rqbench.stages, rqbench.execute\n"
            "from typer.testing import CliRunner\n"
            "r = CliRunner().invoke(rqbench.cli.app, ['--help'])\n"
            "assert r.exit_code == 0, r.output\n"
            "heavy = [m for m in ('torch', 'jnius', 'faiss', 'pyserini', 'transformers') if m in sys.modules]\n"
            "print(','.join(heavy))\n")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == ""


def test_published_run_replayed_as_a_variant(published: subprocess.CompletedProcess[str]) -> None:
    """The trec-run backend: the shipped DL19 BM25 run through the whole pipeline gives its published
    nDCG@10 (0.5058), and the cache key follows the file's content, not its path."""
    out = published
    assert out.returncode == 0, out.stderr
    (record,) = json.loads(out.stdout)
    assert round(record["metrics"]["nDCG@10"], 4) == 0.5058
    assert record["config"]["describe"]["run_name"] == "bm25.dl19.trec"
    assert len(record["config"]["describe"]["run_sha256"]) == 64


def test_leaderboard_across_suites(work: Path, repo_root: Path, smoke_records: Path,
                                  published: subprocess.CompletedProcess[str]) -> None:
    assert published.returncode == 0, published.stderr
    # one call: the Markdown board written beside the JSON (with the cost columns) on stdout
    out = rq("leaderboard", "-m", "nDCG@10", "--markdown", str(work / "board.md"), "--cost", "--json", cwd=work)
    assert out.returncode == 0, out.stderr
    board = (work / "board.md").read_text()
    smoke = read_records(smoke_records)[-1]
    assert f"| {smoke['variant']} |" in board and f"{smoke['metrics']['nDCG@10']:.4f}" in board
    assert "| published-bm25 |" in board and "0.5058" in board
    # cost beside quality: the index's size on disk and build time come from the records
    (index,) = [st for st in smoke["stages"] if st["kind"] == "index"]
    on_disk = sum(p.stat().st_size for p in (work / ".rqbench" / "store" / "index").rglob("*")
                  if p.is_file() and index["hash"] in str(p) and p.name != "manifest.json")
    assert index["bytes"] == on_disk > 0
    system = next(s for s in json.loads(out.stdout)["systems"] if s["name"] == smoke["variant"])
    assert system["cost"]["index_mb"] == pytest.approx(on_disk / 1e6) and system["hardware"]
    # the record keeps the evaluation's measure order, so a report from the records file alone keeps it too
    from rqbench.suite import load_suite

    order = load_suite(repo_root / "suites" / "smoke.toml").evaluations[0].measures
    assert smoke["config"]["measures"] == list(order)
    from_file = rq("report", str(work / "results" / "smoke" / "records.jsonl"), "--json", cwd=work)
    assert json.loads(from_file.stdout)["measures"] == list(order)
    # queries/s counts the search, not opening the index (the JVM's start is in the stage's time, not here)
    (search,) = [st for st in smoke["stages"] if st["kind"] == "retrieve"]
    assert 0 < search["search_seconds"] < search["built_seconds"]
    assert system["cost"]["search_qps"] == pytest.approx(smoke["dataset"]["n_queries"] / search["search_seconds"])
    bad = rq("leaderboard", "-m", "nDGC@10", cwd=work)
    assert bad.returncode == 2 and "did you mean 'nDCG@10'" in bad.stderr
