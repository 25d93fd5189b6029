"""Measure names accepted everywhere: ir-measures names, case-insensitive aliases, trec_eval names, and
lists (space- or comma-separated, split only outside parentheses); suites name file:line on a bad one."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import ir_measures
import pytest

from rqbench.errors import RqbenchError
from rqbench.measure_names import ALIASES, FRACTIONAL_PARAMETER, TREC_EVAL_NAMES
from rqbench.measures import parse_measure, parse_measure_list, parse_measures
from rqbench.records import SCHEMA
from rqbench.suite import load_suite

TREC_NAMES = {
    "ndcg_cut.10": "nDCG@10", "ndcg_cut_10": "nDCG@10", "ndcg": "nDCG",
    "recall_100": "R@100", "recall.100": "R@100", "Recall_1000": "R@1000",
    "recip_rank": "RR", "map": "AP", "map_cut_10": "AP@10", "map_cut.100": "AP@100",
    "P_5": "P@5", "P.5": "P@5", "success_10": "Success@10", "success.10": "Success@10",
    "Rprec": "Rprec", "bpref": "Bpref", "infAP": "infAP",
    "num_q": "NumQ", "num_ret": "NumRet", "num_rel": "NumRel", "num_rel_ret": "NumRet(rel=1)",
    "iprec_at_recall_0.10": "IPrec@0.1", "iprec_at_recall.0.50": "IPrec@0.5",
    "set_P": "SetP", "set_recall": "SetR", "set_map": "SetAP", "set_F": "SetF", "set_relative_P": "SetP(relative=True)",
    "set_F.0.5": "SetF(beta=0.5)", "set_F_1": "SetF", "iprec_at_recall_1": "IPrec@1.0",
    "judged_10": "Judged@10", "judged.10": "Judged@10",
}


@pytest.mark.parametrize(("name", "canonical"), sorted(TREC_NAMES.items()))
def test_trec_eval_names(name: str, canonical: str) -> None:
    assert str(parse_measure(name)) == canonical


def test_trec_eval_names_agree_with_ir_measures_own_translation() -> None:
    """Wherever ir-measures' parse_trec_measure gives one measure for a name, ours is the same one."""
    for name, canonical in TREC_NAMES.items():
        try:
            theirs = ir_measures.parse_trec_measure(name)
        except ValueError:  # names ir-measures' trec translation lacks (judged_10) or expands (P, recall)
            continue
        if len(theirs) == 1:
            assert str(theirs[0]) == canonical, name


def test_every_table_entry_is_a_valid_measure() -> None:
    """Each trec_eval stem, in both forms it has, and each alias parse and validate in ir-measures."""
    for stem, (plain, template) in TREC_EVAL_NAMES.items():
        arg = "0.5" if stem in FRACTIONAL_PARAMETER else "10"
        if plain is not None:
            assert str(parse_measure(stem)) == str(ir_measures.parse_measure(plain))
        if template is not None:
            assert str(parse_measure(f"{stem}.{arg}")) == str(parse_measure(f"{stem}_{arg}"))
    for alias, target in ALIASES.items():
        assert str(parse_measure(f"{alias.lower()}@10")) == str(ir_measures.parse_measure(f"{target}@10"))


def test_ir_measures_names_differing_only_in_case_are_one_measure() -> None:
    """Matching names without regard to case is safe: no two ir-measures names differ only in case."""
    by_lower: dict[str, set[str]] = {}
    for name, measure in ir_measures.measures.registry.items():
        by_lower.setdefault(name.lower(), set()).add(str(measure))
    assert all(len(v) == 1 for v in by_lower.values()), by_lower


@pytest.mark.parametrize(("name", "canonical"), [
    ("map", "AP"), ("MAP", "AP"), ("mAp", "AP"), ("Map@10", "AP@10"),
    ("mrr@10", "RR@10"), ("MRR@10", "RR@10"), ("Ndcg@10", "nDCG@10"), ("ndcg@10", "nDCG@10"),
    ("NDCG@10", "nDCG@10"), ("recall@100", "R@100"), ("RECALL@100", "R@100"), ("hit@10", "Success@10"),
    ("hits@10", "Success@10"), ("HitRate@5", "Success@5"), ("precision@5", "P@5"), ("p@5", "P@5"),
    ("success@10", "Success@10"), ("rr@10", "RR@10"), ("bpref", "Bpref"), ("rprec", "Rprec"),
    ("mrr(rel=2)@10", "RR(rel=2)@10"), ("  nDCG@10 ", "nDCG@10"),
])
def test_case_insensitive_aliases(name: str, canonical: str) -> None:
    assert str(parse_measure(name)) == canonical


@pytest.mark.parametrize("name", ["nDCG@10", "RR@10", "R(rel=2)@1000", "nDCG(dcg='exp-log2',judged_only=True)@10",
                                  "P@5", "AP", "Success@100", "IPrec@0.1", "SetF(beta=0.5)", "NumQ",
                                  "alpha_nDCG@20", "Judged@10"])
def test_ir_measures_names_unchanged(name: str) -> None:
    assert str(parse_measure(name)) == str(ir_measures.parse_measure(name))


@pytest.mark.parametrize(("values", "expected"), [
    (["nDCG@10 P@5"], ["nDCG@10", "P@5"]),
    (["nDCG@10,P@5"], ["nDCG@10", "P@5"]),
    (["nDCG@10, P@5", "RR@10"], ["nDCG@10", "P@5", "RR@10"]),
    (["R(rel=2)@1000 nDCG@10"], ["R(rel=2)@1000", "nDCG@10"]),
    (["nDCG(dcg='exp-log2',judged_only=True)@10,R(rel=2)@1000"],
     ["nDCG(dcg='exp-log2',judged_only=True)@10", "R(rel=2)@1000"]),
    (["nDCG(dcg='exp-log2', judged_only=True)@10 map"], ["nDCG(dcg='exp-log2',judged_only=True)@10", "AP"]),
    (["ndcg_cut.10 recall_100 recip_rank map"], ["nDCG@10", "R@100", "RR", "AP"]),
    (["ndcg_cut.5,10"], ["nDCG@5", "nDCG@10"]),  # trec_eval's own list of cutoffs
    (["MRR@10", "RR@10", "mrr@10 ndcg_cut_10", "nDCG@10"], ["RR@10", "nDCG@10"]),  # de-duplicated, in order
    (["\tnDCG@10\n  P@5 ,, "], ["nDCG@10", "P@5"]),
])
def test_measure_lists(values: list[str], expected: list[str]) -> None:
    assert [str(m) for m in parse_measure_list(values)] == expected
    assert [str(m) for m in parse_measures(values)] == expected


def test_measure_list_of_one_string_is_not_split_into_characters() -> None:
    assert [str(m) for m in parse_measure_list("nDCG@10 AP")] == ["nDCG@10", "AP"]  # type: ignore[arg-type]


@pytest.mark.parametrize(("values", "needle"), [
    ([], "no measures given"),
    (["  ", ","], "no measures given"),
    (["nDCG@10 R(rel=2@1000"], "unbalanced"),
    (["nDCG@10 10"], "'10'"),
])
def test_measure_list_errors(values: list[str], needle: str) -> None:
    with pytest.raises(RqbenchError) as info:
        parse_measure_list(values, where="cli")
    assert needle in str(info.value) and "\n" not in str(info.value)
    assert str(info.value).startswith("cli: ")


@pytest.mark.parametrize(("name", "needle"), [
    ("nDGC@10", "did you mean 'nDCG@10'"),
    ("NDGC@10", "did you mean 'nDCG@10'"),
    ("ndcg_cutt.10", "did you mean 'ndcg_cut.10'"),
    ("recal_100", "did you mean 'recall_100'"),
    ("Sucess@10", "did you mean 'Success@10'"),
    ("ndcg_cut", "needs a cutoff"),
    ("map_cut", "needs a cutoff"),
    ("map.10", "map_cut"),
    ("gm_map", "no ir-measures equivalent"),
    ("11pt_avg", "no ir-measures equivalent"),
    ("nDCG@@10", "malformed"),
    ("nDCG(foo=1)@10", "nDCG has no parameter foo"),
    ("nDCG(dcg='nope')@10", "choose from"),
    ("nDCG@0.5", "cutoff=0.5; it must be int"),
    ("P", "P needs its parameter 'cutoff', as in P@10"),
    ("recall", "needs a cutoff, as in recall.10"),
    ("P_5.5", "must be a whole number"),
    ("", "empty"),
])
def test_unknown_names_say_what_to_use(name: str, needle: str) -> None:
    with pytest.raises(RqbenchError) as info:
        parse_measure(name)
    message = str(info.value)
    assert needle in message and "\n" not in message
    assert message.startswith("unknown or malformed measure") or needle in {"empty"}


def _suite(tmp_path: Path, measures_line: str, extra: str = "") -> Path:
    path = tmp_path / "suite.toml"
    path.write_text('[suite]\nname = "t"\ndataset = "scifact"\n' + measures_line + '\n\n'
                    '[[variants]]\nname = "a"\nbackend = "bm25"\n' + extra, encoding="utf-8")
    return path


def test_suite_measures_take_every_form(tmp_path: Path) -> None:
    path = _suite(tmp_path, 'measures = ["ndcg_cut.10", "MRR@10", "recall_100 P_5", "mrr@10"]',
                  '\n[[evaluation]]\nname = "dl19"\nsplit = "dl19"\nmeasures = ["map", "ndcg@10"]\n')
    suite = load_suite(path)
    assert suite.measures == ["nDCG@10", "RR@10", "R@100", "P@5"]
    assert suite.evaluations[0].measures == ["AP", "nDCG@10"]
    assert suite.all_measures() == ["AP", "nDCG@10"]


def test_suite_check_measures_take_every_form(tmp_path: Path) -> None:
    path = _suite(tmp_path, 'measures = ["ndcg_cut.10", "MRR@10"]',
                  '\n[check]\n[check.expected.a]\n"ndcg_cut_10" = 0.5\n"mrr@10" = 0.25\n')
    assert load_suite(path).check.expected == {"a": {"nDCG@10": 0.5, "RR@10": 0.25}}


@pytest.mark.parametrize(("measures_line", "extra", "line", "needle"), [
    ('measures = ["RR@10", "nDGC@10"]', "", 4, "did you mean 'nDCG@10'"),
    ('measures = ["RR@10 ndcg_cutt.10"]', "", 4, "did you mean 'ndcg_cut.10'"),
    ('measures = ["RR@10"]', '\n[[evaluation]]\nname = "e"\nsplit = "dl19"\n\nmeasures = ["bogus@10"]\n', 14,
     "unknown or malformed measure 'bogus@10'"),
    ('measures = ["RR@10", "nDCG@10"]', '\n[check]\n[check.expected.a]\n"RR@10" = 0.5\n\n"nDGC@10" = 0.5\n', 14,
     "unknown or malformed measure 'nDGC@10'"),
    ('measures = ["RR@10"]', '\n[check]\n[check.expected.a]\n"RR@10" = 0.5\n"mrr@10" = 0.5\n', 13, "names RR@10 twice"),
    ('measures = ["RR@10"]', '\n[check]\n[check.expected.a]\n"recip_rank" = 0.5\n', 12,
     "names 'recip_rank', which the suite does not measure"),
])
def test_suite_unknown_measure_names_file_and_line(tmp_path: Path, measures_line: str, extra: str, line: int,
                                                   needle: str) -> None:
    path = _suite(tmp_path, measures_line, extra)
    with pytest.raises(RqbenchError) as info:
        load_suite(path)
    message = info.value.one_line()
    assert message.startswith(f"{path}:{line}: "), message
    assert needle in message and "\n" not in message


def _results(root: Path) -> Path:
    record = {"schema": SCHEMA, "record_id": "0" * 32, "created": "2025-02-01T00:00:00+00:00", "suite": "s",
              "variant": "bm25", "dataset": {"name": "scifact", "split": "test"},
              "metrics": {"nDCG@10": 0.625, "RR@10": 0.5}, "system": {"name": "bm25", "run": "r" * 64}}
    (root / "s").mkdir(parents=True)
    (root / "s" / "records.jsonl").write_text(json.dumps(record) + "\n", encoding="utf-8")
    return root


@pytest.mark.parametrize("name", ["ndcg@10", "ndcg_cut.10", "ndcg_cut_10", "NDCG@10", "recip_rank_10", "mrr@10"])
def test_cli_leaderboard_takes_any_spelling(tmp_path: Path, name: str) -> None:
    results = _results(tmp_path / "results")
    proc = subprocess.run([sys.executable, "-m", "rqbench.cli", "leaderboard", "--results", str(results), "-m", name],
                          capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    expected = "0.6250" if "cg" in name.lower() else "0.5000"
    assert expected in proc.stdout


def test_cli_unknown_measure_is_one_line_with_a_suggestion(tmp_path: Path) -> None:
    results = _results(tmp_path / "results")
    proc = subprocess.run([sys.executable, "-m", "rqbench.cli", "leaderboard", "--results", str(results),
                           "-m", "ndcg_cutt.10"], capture_output=True, text=True, timeout=120)
    assert proc.returncode == 2, proc.stdout + proc.stderr
    assert "did you mean 'ndcg_cut.10'" in proc.stderr + proc.stdout
    assert "Traceback" not in proc.stderr


def test_suggestions_keep_the_cutoff_and_ranx_names_parse() -> None:
    from rqbench.errors import RqbenchError
    from rqbench.measures import parse_measure

    assert str(parse_measure("hit_rate@10")) == "Success@10"  # ranx
    for wrong, right in (("recip_rank@10", "RR@10"), ("nDGC@10", "nDCG@10"), ("Sucess@100", "Success@100")):
        try:
            parse_measure(wrong)
        except RqbenchError as exc:
            assert f"did you mean '{right}'" in exc.problem
        else:
            raise AssertionError(f"{wrong} parsed")
