"""Issue 7's faults that are about input and files, each reproduced through the real code path: measure
aliases in a suite, variant names that share a file name, filesystem faults (exit 3, one line), a torn
last line in records.jsonl, and file modes that honour the umask. Each test fails on the code before
the fix (named in its docstring)."""

from __future__ import annotations

import json
import os
import stat
import subprocess
import sys
from pathlib import Path

import pytest

from rqbench.io import atomic_write_text
from rqbench.records import SCHEMA, append_record, read_records


def rq(*args: str, cwd: Path, data_root: Path) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "COLUMNS": "120", "RQBENCH_DATA": str(data_root)}
    return subprocess.run([sys.executable, "-m", "rqbench.cli", *args], cwd=cwd, capture_output=True, text=True,
                          env=env, timeout=300)


def import_suite(tmp_path: Path, data_root: Path, measures: str, extra: str = "", names: tuple[str, ...] = ("top50",),
                 file: str = "s.toml") -> Path:
    run = data_root / "msmarco-dl19-mini" / "bm25.top50.trec"
    variants = "".join(f'[[variants]]\nname = "{n}"\nbackend = "trec-run"\nparams = {{ path = "{run}" }}\n\n'
                       for n in names)
    path = tmp_path / file
    path.write_text(f'[suite]\nname = "faults"\ndataset = "msmarco-dl19-mini"\nmeasures = {measures}\n\n'
                    + variants + extra)
    return path


def test_measure_aliases_in_a_suite_run_and_report(tmp_path: Path, data_root: Path) -> None:
    """Before: `MRR@10`/`Hit@10` in a suite ran everything, then exited 2 ('no record has measure')."""
    suite = import_suite(tmp_path, data_root, '["MRR@10", "Hit@10", "ndcg@10"]')
    out = rq("run", str(suite), "--json", cwd=tmp_path, data_root=data_root)
    assert out.returncode == 0, out.stderr
    (record,) = json.loads(out.stdout)
    assert set(record["metrics"]) == {"RR@10", "Success@10", "nDCG@10"}
    report = rq("report", str(suite), "--out", str(tmp_path / "rep"), cwd=tmp_path, data_root=data_root)
    assert report.returncode == 0, report.stderr
    board = rq("leaderboard", "-m", "MRR@10", "--markdown", str(tmp_path / "board.md"), cwd=tmp_path,
               data_root=data_root)
    assert board.returncode == 0, board.stderr
    assert f"{record['metrics']['RR@10']:.4f}" in (tmp_path / "board.md").read_text()


def test_check_expected_measures_are_validated_at_load(tmp_path: Path, data_root: Path) -> None:
    """Before: a typo in [check.expected] read as MISSING and exited 1 (a 'regression')."""
    suite = import_suite(tmp_path, data_root, '["RR@10"]', '[check.expected.top50]\n"nDGC@10" = 0.5\n')
    out = rq("check", str(suite), cwd=tmp_path, data_root=data_root)
    assert out.returncode == 2 and "Traceback" not in out.stderr
    assert f"{suite}:" in out.stderr and "nDGC@10" in out.stderr and "nDCG" in out.stderr
    unmeasured = import_suite(tmp_path, data_root, '["RR@10"]', '[check.expected.top50]\n"MRR@10" = 0.5\n'
                              '"P@5" = 0.1\n', file="u.toml")
    out = rq("check", str(unmeasured), cwd=tmp_path, data_root=data_root)
    assert out.returncode == 2 and "'P@5', which the suite does not measure" in out.stderr


def test_variant_names_that_share_a_file_name_are_rejected(tmp_path: Path, data_root: Path) -> None:
    """Before: `a/b` and `a_b` overwrote each other's run file, and one record pointed at the other's run."""
    suite = import_suite(tmp_path, data_root, '["RR@10"]', names=("a/b", "a_b"))
    out = rq("run", str(suite), cwd=tmp_path, data_root=data_root)
    assert out.returncode == 2
    line = out.stderr.strip()
    assert "\n" not in line and "'a/b' and 'a_b' map to the same file name" in line and f"{suite}:" in line
    long = import_suite(tmp_path, data_root, '["RR@10"]', names=("v" * 300,), file="long.toml")
    out = rq("run", str(long), cwd=tmp_path, data_root=data_root)
    assert out.returncode == 2 and "too long for a file name" in out.stderr and "Traceback" not in out.stderr


def test_filesystem_faults_exit_3_in_one_line(tmp_path: Path, data_root: Path) -> None:
    """Before: a file where the results or store folder should be gave a Python traceback and exit 1."""
    suite = import_suite(tmp_path, data_root, '["RR@10"]')
    (tmp_path / "results-file").write_text("not a folder\n")
    out = rq("run", str(suite), "--results", str(tmp_path / "results-file"), cwd=tmp_path, data_root=data_root)
    assert out.returncode == 3, out.stderr
    assert len(out.stderr.strip().splitlines()) == 1 and "results-file" in out.stderr
    assert "Traceback" not in out.stderr
    (tmp_path / "store-file").write_text("not a folder\n")
    out = rq("run", str(suite), "--store", str(tmp_path / "store-file"), cwd=tmp_path, data_root=data_root)
    assert out.returncode == 3 and "store-file" in out.stderr and "Traceback" not in out.stderr
    debug = rq("run", str(suite), "--store", str(tmp_path / "store-file"), "--debug", cwd=tmp_path,
               data_root=data_root)
    assert debug.returncode != 0 and "Traceback" in debug.stderr


def record(n: int) -> dict:
    return {"schema": SCHEMA, "suite": "torn", "variant": f"v{n}", "metrics": {"RR@10": n / 10}}


def test_a_torn_last_record_is_set_aside_and_the_next_starts_fresh(tmp_path: Path,
                                                                  capsys: pytest.CaptureFixture[str]) -> None:
    """Before: the next append joined onto the torn line and every later run or report exited 2."""
    append_record(tmp_path, record(1))
    path = append_record(tmp_path, record(2))
    with path.open("a") as fh:
        fh.write('{"schema": 1, "suite": "torn", "var')  # a writer killed mid-line
    assert [r["variant"] for r in read_records(path)] == ["v1", "v2"]  # readable, with a warning
    assert "torn" in capsys.readouterr().err
    append_record(tmp_path, record(3))
    assert "moved to records.jsonl.damaged" in capsys.readouterr().err
    assert [r["variant"] for r in read_records(path)] == ["v1", "v2", "v3"]
    assert path.with_name("records.jsonl.damaged").read_text() == '{"schema": 1, "suite": "torn", "var\n'
    # a complete record that only lost its newline is kept, not set aside
    with path.open("a") as fh:
        fh.write(json.dumps(record(4)))
    append_record(tmp_path, record(5))
    assert [r["variant"] for r in read_records(path)] == ["v1", "v2", "v3", "v4", "v5"]


def test_atomically_written_files_honour_the_umask(tmp_path: Path) -> None:
    """Before: every atomically written file was 0600 whatever the umask (mkstemp)."""
    script = ("import os, stat, sys; os.umask(int(sys.argv[2], 8)); from rqbench.io import atomic_write_text; "
              "atomic_write_text(sys.argv[1], 'x'); print(oct(stat.S_IMODE(os.stat(sys.argv[1]).st_mode)))")
    for umask, mode in (("022", "0o644"), ("002", "0o664"), ("077", "0o600")):
        out = subprocess.run([sys.executable, "-c", script, str(tmp_path / f"f{umask}"), umask],
                             capture_output=True, text=True, check=True)
        assert out.stdout.strip() == mode
    atomic_write_text(tmp_path / "here", "y")  # this process: its own umask
    mask = os.umask(0)
    os.umask(mask)
    assert stat.S_IMODE(os.stat(tmp_path / "here").st_mode) == 0o666 & ~mask
