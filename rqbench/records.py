"""Result records: one JSON line per evaluated variant, plus a per-query sidecar file.

Layout under a results folder (default `results/`):

    results/<suite>/records.jsonl           one record per (run of rqbench, variant); appended
    results/<suite>/perquery/<variant>.<eval_hash[:12]>.json   {"measure": {"qid": value}}
    results/<suite>/runs/<variant>.trec     the variant's run, copied from the artifact store
                                            (<variant>@<evaluation>.trec with several evaluation sets)

Reports, leaderboards and the CI gate read records only; they never touch a model or the store.
A record (schema 1) has these keys:

    schema, record_id, created (ISO-8601 UTC), suite, suite_file, suite_hash, variant, backend,
    config            resolved variant config (backend params after defaults, depth, split, ...)
    dataset           {name, source, split, fingerprints: {corpus, queries, qrels}, n_docs, n_queries}
    measures          {"RR@10": "definition text", ...}  what each metric means, stated once
    metrics           {"RR@10": 0.6457, ...}   aggregate over the evaluated queries
    curves            {"R": {"1": .., "10": ..}, "Success": {...}}  recall / hit-rate at cut-offs
    n_queries         number of queries the aggregates average over
    per_query_file    path of the sidecar, relative to the suite's results folder
    run_file          path of the TREC run, relative to the suite's results folder
    pseudo_labels_file  (variants trained on pseudo-labels) the labels TSV, relative to the results folder
    audits            {role: summary} of the variant's denoise / augment stages (per-query detail in the store)
    arm, seed         (seeded variants) the arm's name and this variant's training seed
    system            {"name": variant, "run": hash of the run artifact evaluated}: a system's identity
    evaluation        {"name", "dataset", "split"}: which of the suite's evaluation sets this record is for
    stages            [{role, kind, hash, label, inputs: {role: hash}, cached, seconds, built_seconds}]: every
                      node of the graph the result depends on, inputs first; seconds = this invocation
    artifact_hashes   {role: hash} of the variant's own nodes ("index", "retrieve", "evaluate", "train", ...)
                      plus "run" (the run evaluated)
    seed, env         environment (see rqbench.env.environment())
"""

from __future__ import annotations

import json
import sys
import uuid
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from rqbench.errors import RqbenchError
from rqbench.io import append_line_locked, atomic_write_json

SCHEMA = 1


def new_record_id() -> str:
    return uuid.uuid4().hex


def now_iso() -> str:
    return datetime.now(UTC).isoformat(timespec="seconds")


def suite_dir(results_root: str | Path, suite_name: str) -> Path:
    return Path(results_root) / suite_name


def append_record(results_root: str | Path, record: dict[str, Any]) -> Path:
    path = suite_dir(results_root, record["suite"]) / "records.jsonl"
    append_line_locked(path, json.dumps(record, sort_keys=True, ensure_ascii=False), on_torn=_warn)
    return path


def _warn(message: str) -> None:
    print(f"rqbench: warning: {message}", file=sys.stderr)


def write_per_query(results_root: str | Path, suite: str, variant: str, eval_hash: str,
                    per_query: dict[str, dict[str, float]]) -> str:
    """Write the sidecar; returns its path relative to the suite's results folder."""
    rel = f"perquery/{_safe(variant)}.{eval_hash[:12]}.json"
    atomic_write_json(suite_dir(results_root, suite) / rel, per_query)
    return rel


def read_records(path: str | Path) -> list[dict[str, Any]]:
    """All records of a records.jsonl file, oldest first. A torn last line (no newline, not JSON: a killed
    writer) is skipped with a warning (the next append sets it aside in records.jsonl.damaged); any other
    line that is not a record is an error naming the line."""
    path = Path(path)
    if not path.exists():
        raise RqbenchError("no records yet (run the suite first)", path)
    records = []
    with path.open(encoding="utf-8") as fh:
        for lineno, line in enumerate(fh, start=1):
            if not line.strip():
                continue
            try:
                rec = json.loads(line)
            except json.JSONDecodeError as exc:
                if not line.endswith("\n"):  # the last line, torn
                    _warn(f"{path}:{lineno}: the last line is torn (an interrupted write?) and is skipped; "
                          "the next run moves it to records.jsonl.damaged")
                    continue
                raise RqbenchError(f"invalid JSON ({exc.msg})", path, lineno) from None
            if not isinstance(rec, dict) or rec.get("schema") != SCHEMA:
                raise RqbenchError(f"not an rqbench record of schema {SCHEMA}", path, lineno)
            rec["_path"] = str(path)
            records.append(rec)
    return records


def latest_by_variant(records: list[dict[str, Any]]) -> dict[str, dict[str, Any]]:
    """The newest record of each variant, in the order variants first appeared."""
    latest: dict[str, dict[str, Any]] = {}
    for rec in records:
        latest[rec["variant"]] = rec
    return latest


def latest_by_system(records: list[dict[str, Any]]) -> dict[tuple[str, str], dict[str, Any]]:
    """The newest record of each (variant, evaluation set name), in first-seen order. Records written
    before suites had several evaluation sets have the evaluation name ''."""
    latest: dict[tuple[str, str], dict[str, Any]] = {}
    for rec in records:
        latest[(rec["variant"], str((rec.get("evaluation") or {}).get("name", "")))] = rec
    return latest


def load_per_query(record: dict[str, Any]) -> dict[str, dict[str, float]]:
    """The sidecar of a record read by `read_records` (path resolved next to records.jsonl)."""
    base = Path(record["_path"]).parent
    path = base / record["per_query_file"]
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise RqbenchError("per-query sidecar missing", path) from None
    except json.JSONDecodeError as exc:
        raise RqbenchError(f"invalid JSON ({exc.msg})", path, exc.lineno) from None


def _safe(name: str) -> str:
    return "".join(c if c.isalnum() or c in "-_.=," else "_" for c in name)
