"""`rqbench data inspect`: counts, warnings, fingerprints and every problem of a dataset, as a dict and text.

The dict (printed by `data inspect --json`) has these keys, always all of them:

- name, source, format: the dataset's name, its folder or ir_datasets id, and 'beir' / 'tsv' / 'trec' /
  'irds' (null when no corpus file tells it);
- n_docs: documents read (null when the dataset could not be put together);
- splits: {split: {queries, qrels_queries, judgements, relevant}};
- warnings: [one-line text]: what loads but deserves a look (e.g. judged documents not in the corpus);
- problems: [{path, line, problem}]: everything that stops the dataset from loading, every bad line of
  every file (at most MAX_PER_FILE per file, then one {path, line: null, problem: "N more problems not
  shown"}); path and line are null where they do not apply. Empty: the dataset loads;
- fingerprints: {part: sha256 of the parsed content} for 'corpus', 'queries/<split>', 'qrels/<split>';
  empty when there are problems (the content is not what a fixed folder will hold);
- accepted_files: `describe_layouts()` text when no corpus, query or qrels file was found, else null.

With problems, counts and warnings are of what could be read. The CLI exits 2 when `problems` is not empty.
"""

from __future__ import annotations

import textwrap
from collections import Counter
from pathlib import Path
from typing import Any

from rqbench.data.dataset import Dataset
from rqbench.data.irds import load_irds
from rqbench.data.layout import Layout, describe_layouts
from rqbench.data.loaders import DatasetSpec, folder_files, load_folder
from rqbench.data.resolve import resolve_spec
from rqbench.errors import RqbenchError

MAX_PER_FILE = 20


class Problems:
    """The problems reported while reading, at most `per_file` kept per file, the rest counted."""

    def __init__(self, per_file: int = MAX_PER_FILE):
        self.per_file = per_file
        self.kept: list[RqbenchError] = []
        self.shown: Counter[str | None] = Counter()
        self.hidden: Counter[str | None] = Counter()

    def add(self, problem: RqbenchError) -> None:
        if self.shown[problem.path] < self.per_file:
            self.kept.append(problem)
            self.shown[problem.path] += 1
        else:
            self.hidden[problem.path] += 1

    def listed(self) -> list[dict[str, Any]]:
        """{path, line, problem} per problem, grouped by file in the order files were read."""
        out: list[dict[str, Any]] = []
        for path in dict.fromkeys(p.path for p in self.kept):
            out.extend({"path": p.path, "line": p.line, "problem": p.problem} for p in self.kept if p.path == path)
            if self.hidden[path]:
                out.append({"path": path, "line": None, "problem": f"{self.hidden[path]} more problems not shown"})
        return out


def inspect_dataset(spec: DatasetSpec, data_root: Path | None = None, per_file: int = MAX_PER_FILE) -> dict[str, Any]:
    """The inspection of a dataset (keys in the module docstring); a folder's problems are all collected
    instead of raised. A spec that names no dataset, and an ir_datasets id that fails, still raise."""
    plan = resolve_spec(spec, data_root)
    if plan.irds_id is not None:
        ds = load_irds(plan.irds_id, plan.name, split=plan.split)
        return _info(ds, plan.name, plan.irds_id, "irds", [], None, list(ds.warnings))
    problems = Problems(per_file)
    ds: Dataset | None = None
    layout, fmt = Layout(), plan.fmt
    try:
        layout, fmt = folder_files(plan)
        ds = load_folder(plan, on_error=problems.add)[0]
    except RqbenchError as exc:
        problems.add(exc)
    missing = layout.corpus is None or not (layout.queries or layout.pool) or not layout.qrels
    warnings = [] if ds is None else list(ds.warnings)
    if ds is not None and not layout.qrels:
        warnings.append("no qrels file: nothing can be evaluated on this dataset")
    return _info(ds, plan.name, str(plan.folder), fmt, problems.listed(), describe_layouts() if missing else None,
                 warnings)


def _info(ds: Dataset | None, name: str, source: str, fmt: str | None, problems: list[dict[str, Any]],
          accepted: str | None, warnings: list[str]) -> dict[str, Any]:
    splits: dict[str, dict[str, int]] = {}
    for split in ds.splits if ds is not None else []:
        qrels = ds.qrels.get(split, {})
        splits[split] = {
            "queries": len(ds.queries.get(split, {})),
            "qrels_queries": len(qrels),
            "judgements": sum(len(judged) for judged in qrels.values()),
            "relevant": sum(1 for judged in qrels.values() for rel in judged.values() if rel > 0),
        }
    parts = [] if ds is None or problems else (
        ["corpus"] + [f"queries/{s}" for s in sorted(ds.queries)] + [f"qrels/{s}" for s in sorted(ds.qrels)])
    return {
        "name": name,
        "source": source,
        "format": fmt,
        "n_docs": len(ds.corpus) if ds is not None else None,
        "splits": splits,
        "warnings": warnings,
        "problems": problems,
        "fingerprints": {part: ds.fingerprint(part) for part in parts} if ds is not None else {},
        "accepted_files": accepted,
    }


def format_inspection(info: dict[str, Any], width: int | None = None) -> str:
    """The text `rqbench data inspect` prints; with `width`, a problem or warning longer than that is folded at
    spaces under its bullet (an unbroken path stays whole)."""
    n_docs = "-" if info["n_docs"] is None else f"{info['n_docs']:,}"
    lines = [
        f"dataset   {info['name']}",
        f"source    {info['source']}",
        f"format    {info['format'] or 'unknown (no corpus file)'}",
        f"documents {n_docs}",
        "",
    ]
    if info["splits"]:
        header = ("split", "queries", "judged queries", "judgements", "relevant")
        rows = [header] + [
            (split, *(f"{c[k]:,}" for k in ("queries", "qrels_queries", "judgements", "relevant")))
            for split, c in info["splits"].items()
        ]
        widths = [max(len(row[i]) for row in rows) for i in range(len(header))]
        for row in rows:
            cells = [row[0].ljust(widths[0])] + [cell.rjust(w) for cell, w in zip(row[1:], widths[1:], strict=True)]
            lines.append("  ".join(cells).rstrip())
        lines.append("")
    lines.extend(_listed("problems", [_one_line(p) for p in info["problems"]], width, counted=False))
    lines.extend(_listed("warnings", info["warnings"], width))
    if info["fingerprints"]:
        lines.append("fingerprints (sha256 of the parsed content):")
        width = max(len(part) for part in info["fingerprints"])
        lines.extend(f"  {part.ljust(width)}  {digest}" for part, digest in info["fingerprints"].items())
    if info["accepted_files"]:
        lines.extend([*([""] if lines[-1] else []), info["accepted_files"]])
    return "\n".join(lines).rstrip()


def _listed(title: str, items: list[str], width: int | None, counted: bool = True) -> list[str]:
    if not items:
        return [f"{title}: none", ""]
    bullets = [textwrap.fill(item, width, initial_indent="  - ", subsequent_indent="    ", break_long_words=False,
                             break_on_hyphens=False) if width else f"  - {item}" for item in items]
    return [f"{title} ({len(items)}):" if counted else f"{title}:", *bullets, ""]


def _one_line(problem: dict[str, Any]) -> str:
    return RqbenchError(problem["problem"], problem["path"], problem["line"]).one_line()
