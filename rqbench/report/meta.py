"""What a report says about where its numbers come from: the datasets, environments, record ids and
creation times of the records of one evaluation set, and a check that they share queries and qrels.
Pure functions of records; `rqbench.report.model` calls them while building a Report."""

from __future__ import annotations

from typing import Any

from rqbench.io import portable_path


def _dataset_key(rec: dict) -> tuple:
    ds = rec.get("dataset") or {}
    fp = ds.get("fingerprints") or {}
    return (ds.get("name"), ds.get("split"), fp.get("queries"), fp.get("qrels"))


def check_same_data(latest: dict[str, dict], notes: list[str]) -> None:
    """Add a note when the variants' records name different queries or qrels."""
    keys = {v: _dataset_key(r) for v, r in latest.items()}
    if len(set(keys.values())) > 1:
        groups: dict[tuple, list[str]] = {}
        for v, k in keys.items():
            groups.setdefault(k, []).append(v)
        desc = "; ".join(f"{k[0]}/{k[1]}: {', '.join(vs)}" for k, vs in groups.items())
        notes.append(f"variants were evaluated on different queries or qrels ({desc}); "
                     "comparisons between them are not meaningful")


def _env_summary(rec: dict) -> dict[str, Any]:
    env = rec.get("env") or {}
    git = env.get("git") or {}
    packages = env.get("packages") or {}
    return {
        "rqbench": env.get("rqbench"),
        "git_revision": git.get("revision"),
        "git_dirty": git.get("dirty"),
        "python": env.get("python"),
        "torch": packages.get("torch"),
        "pyserini": packages.get("pyserini"),
        "transformers": packages.get("transformers"),
        "faiss": packages.get("faiss-cpu"),
        "ir_measures": packages.get("ir-measures"),
        "cpu": env.get("cpu"),
        "cpu_count": env.get("cpu_count"),
        "gpu": env.get("gpu"),
        "platform": env.get("platform"),
        "seed": rec.get("seed", env.get("seed")),
    }


def run_files(latest: dict[str, dict]) -> list[dict[str, Any]]:
    """{variant, path, sha256} of each record made from a run file ("source": "runs", as
    `rqbench.run_files.records_from_runs` makes them), in variant order."""
    return [{"variant": v, "path": portable_path(r.get("run_file")), "sha256": (r.get("system") or {}).get("run")}
            for v, r in latest.items() if r.get("source") == "runs"]


def set_meta(latest: dict[str, dict], stats: dict[str, Any]) -> dict[str, Any]:
    """The `meta` of a one-set Report: `latest` maps each variant to its newest record on the set.
    "from_runs" is true when every record was made from a run file: the renderers then show "run_files"
    instead of the timings and environments such records lack."""
    datasets: list[dict[str, Any]] = []
    for v, rec in latest.items():
        ds = rec.get("dataset") or {}
        entry = {
            "name": ds.get("name"),
            "source": portable_path(ds.get("source")),
            "split": ds.get("split", (rec.get("config") or {}).get("split")),
            "fingerprints": dict(ds.get("fingerprints") or {}),
            "n_docs": ds.get("n_docs"),
            "n_queries": ds.get("n_queries"),
        }
        for known in datasets:
            if {k: known[k] for k in entry} == entry:
                known["variants"].append(v)
                break
        else:
            datasets.append({**entry, "variants": [v]})
    created = sorted(str(r["created"]) for r in latest.values() if r.get("created"))
    return {
        "dataset": datasets[0] if datasets else {},
        "datasets": datasets,
        "env": {v: _env_summary(r) for v, r in latest.items()},
        "created": (created[0], created[-1]) if created else (None, None),
        "n_queries": {v: r.get("n_queries") for v, r in latest.items()},
        "record_ids": {v: r.get("record_id") for v, r in latest.items()},
        "suite_file": next((r.get("suite_file") for r in latest.values() if r.get("suite_file")), None),
        "suite_hash": {v: r.get("suite_hash") for v, r in latest.items()},
        "backend": {v: r.get("backend") for v, r in latest.items()},
        "artifact_hashes": {v: dict(r.get("artifact_hashes") or {}) for v, r in latest.items()},
        "stats": dict(stats),
        "from_runs": bool(latest) and all(r.get("source") == "runs" for r in latest.values()),
        "run_files": run_files(latest),
    }
