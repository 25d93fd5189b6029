"""`rqbench data inspect`: counts, warnings and fingerprints of a dataset, as a dict and as text."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from rqbench.data.loaders import DatasetSpec, load_with_format


def inspect_dataset(spec: DatasetSpec, data_root: Path | None = None) -> dict[str, Any]:
    ds, fmt = load_with_format(spec, data_root)
    splits: dict[str, dict[str, int]] = {}
    for split in ds.splits:
        qrels = ds.qrels.get(split, {})
        splits[split] = {
            "queries": len(ds.queries.get(split, {})),
            "qrels_queries": len(qrels),
            "judgements": sum(len(judged) for judged in qrels.values()),
            "relevant": sum(1 for judged in qrels.values() for rel in judged.values() if rel > 0),
        }
    parts = ["corpus"] + [f"queries/{s}" for s in sorted(ds.queries)] + [f"qrels/{s}" for s in sorted(ds.qrels)]
    return {
        "name": ds.name,
        "source": ds.source,
        "format": fmt,
        "n_docs": len(ds.corpus),
        "splits": splits,
        "warnings": list(ds.warnings),
        "fingerprints": {part: ds.fingerprint(part) for part in parts},
    }


def format_inspection(info: dict[str, Any]) -> str:
    lines = [
        f"dataset   {info['name']}",
        f"source    {info['source']}",
        f"format    {info['format']}",
        f"documents {info['n_docs']:,}",
        "",
    ]
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
    if info["warnings"]:
        lines.append(f"warnings ({len(info['warnings'])}):")
        lines.extend(f"  - {warning}" for warning in info["warnings"])
    else:
        lines.append("warnings: none")
    lines.append("")
    lines.append("fingerprints (sha256 of the parsed content):")
    width = max(len(part) for part in info["fingerprints"])
    lines.extend(f"  {part.ljust(width)}  {digest}" for part, digest in info["fingerprints"].items())
    return "\n".join(lines)
