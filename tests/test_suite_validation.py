"""Suite files refused at load, before anything runs, with one line naming the file and line (issue 20):
two evaluation sets on one dataset and split (item 8), non-finite or negative tolerances, margins and
expected values (item 11), and a measure with its cutoff before its parameters (item 12)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from rqbench.errors import RqbenchError
from rqbench.suite import load_suite

HEAD = '[suite]\nname = "s"\ndataset = "scifact"\nmeasures = ["nDCG@10", "RR@10"]\n'
VARIANTS = '[[variants]]\nname = "bm25"\nbackend = "bm25"\n[[variants]]\nname = "rm3"\nbackend = "bm25"\n'


def rq(cwd: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "rqbench.cli", *args], cwd=cwd, capture_output=True, text=True,
                          env={**os.environ, "COLUMNS": "160"}, timeout=120)


def one_line_error(proc: subprocess.CompletedProcess[str]) -> str:
    assert proc.returncode == 2, (proc.returncode, proc.stdout, proc.stderr)
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and "Traceback" not in proc.stderr, proc.stderr
    return lines[0]


def tiny_data(folder: Path) -> Path:
    folder.mkdir(parents=True)
    (folder / "collection.tsv").write_text("d1\tone passage\nd2\tanother passage\n")
    (folder / "queries.tsv").write_text("q1\tone\n")
    (folder / "qrels.txt").write_text("q1 0 d1 1\n")
    (folder / "queries.dev.tsv").write_text("q2\tanother\n")
    (folder / "qrels.dev.txt").write_text("q2 0 d2 1\n")
    (folder / "run.trec").write_text("q1 Q0 d1 1 2.0 r\nq1 Q0 d2 2 1.0 r\nq2 Q0 d2 1 2.0 r\n")
    return folder


# ------------------------------------------------------------------------------------------------ item 8


def test_two_evaluation_sets_on_one_dataset_and_split_are_refused_before_running(tmp_path: Path) -> None:
    """They ran the whole suite, appended records, then failed (`no record has measure 'nDCG@10'`): the
    report keys sets by dataset and split. Now: refused at load, naming the second set's line, nothing run.
    The same folder written two ways (a path and a relative path) is the same dataset."""
    data = tiny_data(tmp_path / "mini")
    suite = tmp_path / "s.toml"
    suite.write_text(f'[suite]\nname = "two"\ndataset = "{data}"\nmeasures = ["RR@10", "nDCG@10"]\n'
                     f'[[variants]]\nname = "top"\nbackend = "trec-run"\nparams = {{ path = "{data / "run.trec"}" }}\n'
                     '[[evaluation]]\nname = "a"\nmeasures = ["nDCG@10"]\n'
                     '[[evaluation]]\nname = "b"\ndataset = "./mini"\nmeasures = ["AP"]\n')
    line = one_line_error(rq(tmp_path, "run", str(suite)))
    assert line == (f"rqbench: error: {suite}:12: evaluation sets 'a' and 'b' both evaluate mini (test), which "
                    'results cannot tell apart; make them one [[evaluation]] with measures = ["nDCG@10", "AP"], '
                    "or give one dataset its own name")
    assert not (tmp_path / "results").exists()


def test_evaluation_sets_on_other_splits_or_names_still_load(tmp_path: Path) -> None:
    data = tiny_data(tmp_path / "mini")
    suite = tmp_path / "s.toml"
    suite.write_text(f'[suite]\nname = "two"\ndataset = "{data}"\n{VARIANTS}'
                     '[[evaluation]]\nname = "a"\n[[evaluation]]\nname = "b"\nsplit = "dev"\n'
                     f'[[evaluation]]\nname = "c"\ndataset = {{ path = "{data}", name = "mini-again" }}\n')
    assert [ev.name for ev in load_suite(suite).evaluations] == ["a", "b", "c"]


# ----------------------------------------------------------------------------------------------- item 11

CONTRAST = '[[contrasts]]\nname = "same"\na = "rm3"\nb = "bm25"\nexpect = "a=b"\nmargin = {}\n'


@pytest.mark.parametrize(("tail", "line", "problem"), [
    (CONTRAST.format("nan"), 16, "contrast margin must be a finite number > 0, and only with expect = 'a=b' "
                                 "(got nan)"),
    (CONTRAST.format("inf"), 16, "contrast margin must be a finite number > 0"),
    ("[check]\ntolerance = inf\n", 12, "[check] tolerance must be a finite number >= 0, got inf"),
    ("[check]\ntolerance = -0.01\n", 12, "[check] tolerance must be a finite number >= 0, got -0.01"),
    ("[check]\ntolerance = nan\n", 12, "[check] tolerance must be a finite number >= 0, got nan"),
    ('[check]\ntolerance = "0.1"\n', 12, "[check] tolerance must be a finite number >= 0, got '0.1'"),
    ('[check.expected.bm25]\n"nDCG@10" = -inf\n', 12, "expected nDCG@10 = -inf: not a finite number"),
    ('[check.expected.bm25]\n"nDCG@10" = nan\n', 12, "expected nDCG@10 = nan: not a finite number"),
])
def test_non_finite_or_negative_numbers_are_refused_with_file_and_line(tmp_path: Path, tail: str, line: int,
                                                                       problem: str) -> None:
    path = tmp_path / "s.toml"
    path.write_text(HEAD + VARIANTS + tail)
    with pytest.raises(RqbenchError) as caught:
        load_suite(path)
    assert caught.value.line == line and caught.value.path == str(path)
    assert caught.value.problem.startswith(problem)


def test_finite_values_still_load(tmp_path: Path) -> None:
    path = tmp_path / "s.toml"
    path.write_text(HEAD + VARIANTS + CONTRAST.format("0.02") + '[check]\ntolerance = 0\n'
                    '[check.expected.bm25]\n"nDCG@10" = 0.6789\n')
    spec = load_suite(path)
    assert spec.check.tolerance == 0.0 and spec.contrasts[0].margin == 0.02


def test_an_infinite_tolerance_no_longer_passes_a_drop(tmp_path: Path) -> None:
    """`tolerance = inf` passed a -0.32 drop; now the gate refuses the suite (exit 2) before checking."""
    suite = tmp_path / "s.toml"
    suite.write_text(HEAD + VARIANTS + '[check]\ntolerance = inf\n[check.expected.bm25]\n"nDCG@10" = 0.9\n')
    assert one_line_error(rq(tmp_path, "check", str(suite), "--no-run")) == (
        f"rqbench: error: {suite}:12: [check] tolerance must be a finite number >= 0, got inf")


# ----------------------------------------------------------------------------------------------- item 12


@pytest.mark.parametrize(("written", "hint"), [
    ("MRR@10(rel=2)", "(did you mean 'RR(rel=2)@10'?)"),
    ("R@100(rel=2)", "(did you mean 'R(rel=2)@100'?)"),
    ("hit@10 (rel=2)", "(did you mean 'Success(rel=2)@10'?)"),
    ("ndcg@10(rel=2)", "(the cutoff goes last, as in 'nDCG(rel=2)@10', but nDCG has no parameter rel; "
                       "it takes cutoff, dcg, gains, judged_only)"),
    ("RR@10(rel=)", "(the parameters come before the cutoff, as in RR(rel=2)@10)"),
])
def test_a_cutoff_before_the_parameters_gets_a_suggestion(written: str, hint: str) -> None:
    from rqbench.measures import parse_measure

    with pytest.raises(RqbenchError) as caught:
        parse_measure(written)
    assert caught.value.problem == f"unknown or malformed measure '{written}' {hint}"


def test_the_suggestion_reaches_the_command_line_and_suites(tmp_path: Path) -> None:
    (tmp_path / "qrels.txt").write_text("q1 0 d1 2\n")
    (tmp_path / "run.trec").write_text("q1 Q0 d1 1 1.0 r\n")
    line = one_line_error(rq(tmp_path, "eval", "qrels.txt", "run.trec", "-m", "MRR@10(rel=2)"))
    assert line.endswith("unknown or malformed measure 'MRR@10(rel=2)' (did you mean 'RR(rel=2)@10'?)")
    assert "must be in format" not in line  # ir-measures' parser text
    suite = tmp_path / "s.toml"
    suite.write_text('[suite]\nname = "s"\ndataset = "scifact"\nmeasures = ["RR@10",\n  "MRR@10(rel=2)"]\n'
                     + VARIANTS)
    with pytest.raises(RqbenchError, match=r"did you mean 'RR\(rel=2\)@10'") as caught:
        load_suite(suite)
    assert caught.value.line == 4
