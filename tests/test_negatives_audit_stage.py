"""The false-negative audit as a suite stage (`[negatives_audit]`, rqbench.stages.audit): on TREC DL19's deep
judgments, each miner's record carries how many of its top-k negatives are hidden positives, counted here
again by hand from the run and qrels files; each teacher's removal matches its calibrated P(relevant); the
report shows both tables; a misused table is one line naming the suite file and line."""

from __future__ import annotations

import json
import math
from pathlib import Path

import pytest
from rich.console import Console

from rqbench.artifacts import ArtifactStore
from rqbench.errors import RqbenchError
from rqbench.negatives_audit import kept_positives
from rqbench.plan import plan_suite
from rqbench.report.audit_text import audit_tables
from rqbench.report.audits import collect_audits
from rqbench.report.model import build_report
from rqbench.runner import run_suite
from rqbench.suite import load_suite
from rqbench.types import read_trec_run

SUITE = Path(__file__).resolve().parents[1] / "suites" / "negatives-audit-dl19.toml"
QUIET = Console(file=open("/dev/null", "w"))  # noqa: SIM115


@pytest.fixture(scope="module")
def audited(tmp_path_factory: pytest.TempPathFactory, data_root: Path) -> tuple[list[dict], Path]:
    root = tmp_path_factory.mktemp("audit")
    records = run_suite(load_suite(SUITE), store=ArtifactStore(root / "store"), results_root=root / "results",
                        data_root=data_root, console=QUIET)
    return records, root


def test_each_miners_false_negatives_are_counted_as_by_hand(audited: tuple[list[dict], Path],
                                                             data_root: Path) -> None:
    records, _ = audited
    suite = load_suite(SUITE)
    qrels: dict[str, dict[str, int]] = {}
    for line in (data_root / "msmarco-dl19" / "qrels.dl19.txt").read_text().splitlines():
        q, _, d, g = line.split()
        qrels.setdefault(q, {})[d] = int(g)
    by_name = {r["variant"]: r for r in records}
    assert set(suite.negatives_audit.miners) <= set(by_name)
    for teacher in suite.negatives_audit.teachers:  # a teacher is not audited as a miner
        assert "negatives_audit" not in by_name[teacher]["audits"]
    for miner in suite.negatives_audit.miners:
        record = by_name[miner]
        audit = record["audits"]["negatives_audit"]
        run = read_trec_run(data_root / "msmarco-dl19" / "runs" / Path(
            next(v for v in suite.variants if v.name == miner).params["path"]).name)
        audited_queries = sorted(next(iter(plan_suite(suite, data_root).datasets.values())).split_qrels("audit"))
        hidden = candidates = 0
        for q in audited_queries:
            relevant = sorted(d for d, g in qrels[q].items() if g >= 2)
            kept = set(kept_positives(relevant, q, 1, 0))
            ranked = sorted(run[q], key=lambda h: (-h.score, h.docid))
            mined = [h.docid for h in ranked[:50] if h.docid not in kept]  # the top 50 minus the kept
            candidates += len(mined)
            hidden += sum(qrels[q].get(d, 0) >= 2 for d in mined)
        assert audit["queries"] == len(audited_queries) == 22
        assert audit["totals"]["candidates"] == candidates and audit["totals"]["hidden_positives"] == hidden
        assert hidden > 0 and set(audit["teachers"]) == {"cal-bm25-tasb", "cal-all"}
        assert "per_query" not in audit and all("per_query" not in t for t in audit["teachers"].values())


def test_a_teachers_removal_is_its_calibrated_probability_at_the_threshold(audited: tuple[list[dict], Path],
                                                                          data_root: Path) -> None:
    records, root = audited
    record = next(r for r in records if r["variant"] == "bm25")
    teacher = next(r for r in records if r["variant"] == "cal-all")
    probs = {q: {h.docid: h.score for h in hits}
             for q, hits in read_trec_run(Path(teacher["_path"]).parent / teacher["run_file"]).items()}
    (audit_hash,) = [s["hash"] for s in record["stages"] if s["role"] == "negatives_audit"]
    full = json.loads((root / "store" / "audit" / audit_hash[:2] / audit_hash / "audit.json").read_text())
    removed = 0
    for q, counts in full["per_query"].items():
        assert 0 <= full["teachers"]["cal-all"]["per_query"][q]["removed"] <= counts["candidates"]
        removed += full["teachers"]["cal-all"]["per_query"][q]["removed"]
    bm25 = read_trec_run(data_root / "msmarco-dl19" / "runs" / "bm25.dl19.trec")
    expected = 0
    for q, counts in full["per_query"].items():
        kept = set(counts["kept"])
        mined = [h.docid for h in sorted(bm25[q], key=lambda h: (-h.score, h.docid))[:50] if h.docid not in kept]
        expected += sum(probs.get(q, {}).get(d, 0.0) >= 0.1 - 1e-9 for d in mined)
    # the judge's logits go through float text and back: a P within 1e-9 of 0.1 would be ambiguous
    assert not any(math.isclose(p, 0.1, abs_tol=1e-9) for docs in probs.values() for p in docs.values())
    assert removed == expected == record["audits"]["negatives_audit"]["teachers"]["cal-all"]["removed"] > 0


def test_the_report_shows_the_audit_once_per_miner(audited: tuple[list[dict], Path]) -> None:
    records, _ = audited
    tables = {t.role: t for t in audit_tables(build_report(records))}
    assert [row[0] for row in tables["negatives_audit"].rows] == list(load_suite(SUITE).negatives_audit.miners)
    assert len(tables["negatives_teachers"].rows) == 2 * len(tables["negatives_audit"].rows)
    # a newer record of the same variant on another evaluation set keeps the audit, which belongs to its set
    newer = {**records[0], "created": "9999", "evaluation": {"name": "other"}, "audits": {}}
    assert "negatives_audit" in collect_audits([*records, newer])[records[0]["variant"]]
    assert "negatives_audit" in collect_audits([newer, *records])[records[0]["variant"]]


@pytest.mark.parametrize(("old", "new", "message"), [
    ('miners = ["bm25", "bm25-rm3", "tas-b", "ada2", "splade"]', 'miners = ["bm52"]',
     "negatives_audit.miners names unknown variant 'bm52' (did you mean 'bm25'?)"),
    ("threshold = 0.1   # RocketQA's", "threshold = 0", "negatives_audit.threshold must be above 0 and at most 1"),
    ("depth = 50 ", "depth = -5 ", "negatives_audit.depth must be a whole number of at least 1"),
    ("keep = 1\n", "keep = 1\nthresh = 0.2\n", "unknown negatives_audit key 'thresh'"),
])
def test_a_misused_audit_table_is_one_line_with_file_and_line(tmp_path: Path, old: str, new: str,
                                                                message: str) -> None:
    text = SUITE.read_text()
    assert old in text
    path = tmp_path / "audit.toml"
    path.write_text(text.replace(old, new))
    with pytest.raises(RqbenchError) as info:
        load_suite(path)
    assert message in str(info.value) and f"{path}:" in str(info.value) and "\n" not in str(info.value)


def test_a_teacher_whose_scores_are_not_probabilities_is_refused(tmp_path: Path, data_root: Path) -> None:
    path = tmp_path / "audit.toml"
    path.write_text(SUITE.read_text().replace('method = "calibrated", fit_split = "fit", normalisation = "zscore", '
                                              'rel = 2 }\n\n[negatives_audit]', 'method = "rrf" }\n\n'
                                              "[negatives_audit]"))
    with pytest.raises(RqbenchError, match="fuses with method 'rrf', whose scores are not probabilities"):
        run_suite(load_suite(path), store=ArtifactStore(tmp_path / "store"), results_root=tmp_path / "r",
                  data_root=data_root, console=QUIET)


CROSS_ENCODER_TEACHER = """
[suite]
name = "audit-ce"
dataset = "msmarco-dl19-mini"
split = "test"
measures = ["nDCG@10"]

[[variants]]
name = "top50"
backend = "trec-run"
params = {{ path = "{data_root}/msmarco-dl19-mini/bm25.top50.trec" }}

[[variants]]
name = "ce"
backend = "cross-encoder"
params = {{ model = "minilm", max_length = 48, threads = 1 }}
rerank = {{ run_of = "top50", depth = 20 }}

[negatives_audit]
miners = ["top50"]
teachers = ["ce"]
depth = 20
rel = 2
threshold = 0.5
"""


def test_a_cross_encoder_teacher_removes_what_its_sigmoid_puts_over_the_threshold(tmp_path: Path,
                                                                                   data_root: Path) -> None:
    """A re-ranker is a teacher too: its logits of the miner's top-depth, through a sigmoid."""
    from rqbench.stages.score import read_scores
    from rqbench.training.denoise import probability
    path = tmp_path / "audit.toml"  # MiniLM with a fresh seeded head: a poor judge, but its P varies
    path.write_text(CROSS_ENCODER_TEACHER.format(data_root=data_root))
    records = run_suite(load_suite(path), store=ArtifactStore(tmp_path / "store"), results_root=tmp_path / "r",
                        data_root=data_root, console=QUIET)
    record = next(r for r in records if r["variant"] == "top50")
    audit = record["audits"]["negatives_audit"]["teachers"]["ce"]
    (score_hash,) = [s["hash"] for s in record["stages"] if s["role"] == "audit:score"]
    logits = read_scores(tmp_path / "store" / "score" / score_hash[:2] / score_hash / "scores.tsv")
    (audit_hash,) = [s["hash"] for s in record["stages"] if s["role"] == "negatives_audit"]
    full = json.loads((tmp_path / "store" / "audit" / audit_hash[:2] / audit_hash / "audit.json").read_text())
    top50 = read_trec_run(data_root / "msmarco-dl19-mini" / "bm25.top50.trec")
    removed = 0
    for q, counts in full["per_query"].items():
        kept = set(counts["kept"])
        mined = [h.docid for h in sorted(top50[q], key=lambda h: (-h.score, h.docid))[:20] if h.docid not in kept]
        removed += sum(probability(logits[q][d]) >= 0.5 for d in mined)
    assert audit["removed"] == removed and 0 < removed < full["totals"]["candidates"]
