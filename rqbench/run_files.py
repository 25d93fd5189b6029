"""Significance reports straight from TREC run files and a qrels file: no suite, corpus or queries.

`records_from_runs` evaluates each run (`rqbench.measures.evaluate`: every qrels query counts, one a run
does not answer scores 0; run queries without qrels are ignored) into a record-like dict with its
per-query values inline (key "per_query"), which `rqbench.report.build_report` reads like a suite's
records; `compare_runs` does the reading, naming and building in one call. The Report renders and
exports as any other (terminal, Markdown, HTML, `rqbench.report.export`).
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from rqbench.artifacts import file_sha256
from rqbench.data.dataset import Dataset
from rqbench.errors import RqbenchError
from rqbench.measures import curves, evaluate, parse_measures
from rqbench.records import SCHEMA
from rqbench.report.model import build_report
from rqbench.types import Qrels, Run, read_qrels, read_trec_run

if TYPE_CHECKING:
    from rqbench.report.model import Report

SUITE = "compare"  # the report's title when none is given
SOURCE = "runs"  # every record's "source": the renderers show run files, not a suite's provenance


def records_from_runs(
    qrels: Qrels,
    runs: dict[str, Run],
    measures: Sequence[str],
    *,
    dataset_label: str,
    split: str | None,
    run_paths: dict[str, Path] | None = None,
    qrels_path: Path | None = None,
    suite: str = SUITE,
    notes: list[str] | None = None,
) -> list[dict[str, Any]]:
    """One record-like dict per run (name -> run, in order), marked "source": "runs": metrics, inline
    per-query values, definitions, recall curves, `system` {name, run: sha256 of its file in `run_paths`, else None},
    `evaluation` and `dataset` (named `dataset_label`, with the qrels' content fingerprint, as a suite's
    records have it).

    `notes` become every record's "suite_notes" (the report's notes); None: notes on the run queries
    without qrels and the judged queries a run does not answer, made here."""
    if not runs:
        raise RqbenchError("no runs to compare")
    parsed = parse_measures(list(measures))
    names = list(dict.fromkeys(str(m) for m in parsed))  # canonical names ('MRR@10' -> 'RR@10')
    key = split or ""
    fingerprint = Dataset(dataset_label, "", {}, {}, {key: qrels}).fingerprint(f"qrels/{key}")
    run_paths = run_paths or {}
    if notes is None:
        notes = [note for name, run in runs.items() for note in _coverage_notes(name, run, qrels)]
    records = []
    for name, run in runs.items():
        result = evaluate(run, qrels, parsed)
        depth = max((len(docs) for docs in run.values()), default=0)
        path = run_paths.get(name)
        digest = file_sha256(path) if path is not None else None
        records.append({
            "schema": SCHEMA, "source": SOURCE, "record_id": None, "created": None, "suite": suite, "suite_file": None,
            "variant": name, "backend": "run file",
            "config": {"measures": names, "split": split, "depth": depth},
            "dataset": {"name": dataset_label, "source": str(qrels_path) if qrels_path is not None else None,
                        "split": split, "fingerprints": {"qrels": fingerprint}, "n_docs": None,
                        "n_queries": len(qrels)},
            "measures": result.definitions,
            "metrics": result.aggregate,
            "per_query": result.per_query,
            "curves": curves(run, qrels, depth) if depth else {},
            "n_queries": result.n_queries,
            "run_file": str(path) if path is not None else None,
            "system": {"name": name, "run": digest},
            "unanswered": sorted(q for q in qrels if q not in run),  # judged queries the run lacks: they score 0
            "evaluation": {"name": dataset_label, "dataset": dataset_label, "split": split},
            "artifact_hashes": {"run": digest} if digest else {},
            "stages": [],
            "suite_notes": list(notes),
        })
    return records


def _coverage_notes(name: str, run: Run, qrels: Qrels) -> list[str]:
    notes = []
    unjudged = [q for q in run if q not in qrels]
    if unjudged:
        notes.append(f"run '{name}': {len(unjudged)} queries have no qrels and are ignored "
                     f"(e.g. {', '.join(unjudged[:3])})")
    unanswered = [q for q in qrels if q not in run]
    if unanswered:
        notes.append(f"run '{name}' answers {len(qrels) - len(unanswered)} of the {len(qrels)} judged queries; "
                     "the others score 0")
    return notes


def run_names(run_paths: Sequence[Path], names: Sequence[str] | None = None) -> list[str]:
    """`names` checked (one per run, unique, not empty), or the files' stems made unique ('-2', '-3')."""
    if names is not None:
        names = [str(n) for n in names]
        if len(names) != len(run_paths):
            raise RqbenchError(f"{len(names)} names for {len(run_paths)} run files")
        if any(not n.strip() for n in names):
            raise RqbenchError("a run name is empty")
        twice = sorted({n for n in names if names.count(n) > 1})
        if twice:
            raise RqbenchError("run names must differ: " + ", ".join(f"'{n}'" for n in twice) + " given twice")
        return names
    out: list[str] = []
    for path in run_paths:
        stem, i = Path(path).stem, 2
        name = stem
        while name in out:
            name, i = f"{stem}-{i}", i + 1
        out.append(name)
    return out


def compare_runs(
    qrels_path: Path,
    run_paths: Sequence[Path],
    measures: Sequence[str],
    names: Sequence[str] | None = None,
    baseline: str | None = None,
    *,
    dataset_label: str | None = None,
    split: str | None = None,
    suite: str = SUITE,
    **report_options: Any,
) -> Report:
    """A Report comparing the runs in `run_paths` on the qrels at `qrels_path`.

    Names default to the files' stems (made unique), the baseline to the first run, the dataset label to
    the qrels file's stem. `report_options` go to `build_report`: alpha, n_resamples, seed, test
    ("randomization" | "t"), correction ("holm" | "bonferroni" | "none"), pairs ("baseline" | "all").
    """
    run_paths = [Path(p) for p in run_paths]
    if not run_paths:
        raise RqbenchError("no run files to compare")
    chosen = run_names(run_paths, names)
    qrels = read_qrels(qrels_path)
    runs = {name: read_trec_run(path) for name, path in zip(chosen, run_paths, strict=True)}
    records = records_from_runs(qrels, runs, measures, dataset_label=dataset_label or Path(qrels_path).stem,
                                split=split, run_paths=dict(zip(chosen, run_paths, strict=True)),
                                qrels_path=Path(qrels_path), suite=suite)
    return build_report(records, baseline=baseline if baseline is not None else chosen[0],
                        measures=records[0]["config"]["measures"], **report_options)
