"""`rqbench audit-negatives`: how many of each run's mined hard negatives are hidden positives on densely judged
qrels, and how precisely teacher runs (P(relevant) scores) remove them (`rqbench.negatives_audit`)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated, Any

import typer

from rqbench.cli.options import JsonOut
from rqbench.errors import RqbenchError

Files = Annotated[list[Path], typer.Argument(metavar="QRELS RUN", help="Densely judged qrels (TREC or BEIR "
                                             "TSV), then the TREC runs whose top-DEPTH are mined.",
                                             show_default=False)]


def _teacher_scores(path: Path, logits: bool) -> dict[str, dict[str, float]]:
    """qid -> docid -> P(relevant) of a teacher run: its scores, or their sigmoid with `logits`."""
    from rqbench.training.denoise import probability
    from rqbench.types import read_trec_run

    run = read_trec_run(path)
    if logits:
        return {qid: {sd.docid: probability(sd.score) for sd in docs} for qid, docs in run.items()}
    for qid, docs in run.items():
        for sd in docs:
            if not 0.0 <= sd.score <= 1.0:
                raise RqbenchError(f"score {sd.score!r} (query '{qid}', document '{sd.docid}') is not a probability "
                                   "in [0, 1]: give --logits if the scores are logits (a cross-encoder's run), or "
                                   "make the teacher with rqbench fuse --method calibrated", path)
    return {qid: {sd.docid: sd.score for sd in docs} for qid, docs in run.items()}


def _names(paths: list[Path]) -> list[str]:
    """File names, or the paths where two file names are the same."""
    names = [path.name for path in paths]
    return names if len(set(names)) == len(names) else [str(path) for path in paths]


def _rate(value: float | None, digits: int = 3) -> str:
    return "-" if value is None else f"{value:.{digits}f}"


def _print_text(qrels_label: str, runs: list[dict[str, Any]], json_mode: bool) -> None:
    from rich import box
    from rich.markup import escape
    from rich.table import Table

    from rqbench.cli.options import console_for, show_table

    console = console_for(json_mode)
    first = runs[0]["audit"]
    s = first["settings"]
    console.print(escape(f"{qrels_label}: {first['queries']} queries with a passage graded >= {s['rel']}; "
                         f"{s['keep']} kept per query (seed {s['seed']}), the others hidden; candidates: each "
                         f"run's top-{s['depth']} minus the kept"), soft_wrap=False)
    for entry in runs:
        audit, t = entry["audit"], entry["audit"]["totals"]
        console.print()
        below = f"below grade {s['rel']}" + (" (grade-1 passages included)" if s["rel"] == 2 else "")
        console.print(escape(f"{entry['name']}: {t['candidates']} candidates in {audit['queries']} queries; "
                             f"{t['hidden_positives']} hidden positives (FN rate {_rate(t['fn_rate'])}, in "
                             f"{t['queries_with_fn']}/{audit['queries']} queries), {t['judged_nonrelevant']} judged "
                             f"{below}, {t['unjudged']} unjudged"), soft_wrap=False)
        if not audit["teachers"]:
            continue
        table = Table(box=box.SIMPLE_HEAD, padding=(0, 0), show_edge=False)  # one space apart: 8 columns in 80
        for col in ("teacher", "removed", "hidden", "prec", "recall", "judged", "unjudged", "unscored"):
            table.add_column(col, justify="left" if col == "teacher" else "right", no_wrap=col != "teacher")
        for name, r in audit["teachers"].items():
            table.add_row(escape(name), str(r["removed"]), str(r["removed_hidden"]), _rate(r["precision"]),
                          _rate(r["recall"]), str(r["removed_judged_nonrelevant"]), str(r["removed_unjudged"]),
                          f"{r['unscored']} ({r['unscored_hidden']})")
        show_table(console, table)
        curve = Table(box=box.SIMPLE_HEAD, padding=(0, 1), collapse_padding=True, pad_edge=False, show_edge=False)
        curve.add_column("prec/recall at P >=")
        thresholds = [c["threshold"] for c in next(iter(audit["teachers"].values()))["curve"]]
        for threshold in thresholds:
            curve.add_column(f"{threshold:g}", justify="right", no_wrap=True)
        for name, r in audit["teachers"].items():
            curve.add_row(escape(name), *[f"{_rate(c['precision'], 2)}/{_rate(c['recall'], 2)}" for c in r["curve"]])
        show_table(console, curve)
    console.print()
    console.print(f"Teachers remove a candidate when P(relevant) >= {s['threshold']}. hidden: hidden positives "
                  "removed (prec = hidden / removed, recall = hidden / hidden positives among the "
                  "candidates); judged: judged non-relevant removed (true hard negatives lost); unscored: "
                  "candidates the teacher has no score for, kept (P = 0), with the hidden positives among them.",
                  style="dim")


def audit_negatives_command(
    files: Files,
    teacher: Annotated[list[Path] | None, typer.Option("--teacher", metavar="RUN", help="A teacher run whose "
                                                       "scores are P(relevant) in [0, 1] (e.g. rqbench fuse "
                                                       "--method calibrated); repeat for several.")] = None,
    logits: Annotated[bool, typer.Option("--logits", help="The teachers' scores are logits (a cross-encoder's "
                                         "re-ranked run): P = sigmoid(score).")] = False,
    depth: Annotated[int, typer.Option("--depth", metavar="N", help="Mine each run's top N (RocketQA scans "
                                       "50).")] = 50,
    keep: Annotated[int, typer.Option("--keep", metavar="N", help="Relevant passages kept labelled per query; "
                                      "the others are hidden.")] = 1,
    rel: Annotated[int, typer.Option("--rel", metavar="GRADE", help="Relevant means a grade of at least this (2: "
                                     "TREC DL's binary relevance).")] = 1,
    seed: Annotated[int, typer.Option("--seed", metavar="N", help="Seeds which positives are kept.")] = 0,
    threshold: Annotated[float, typer.Option("--threshold", metavar="P", help="A teacher removes a candidate "
                                             "with P(relevant) >= P (RocketQA: 0.1).")] = 0.1,
    json_out: JsonOut = False,
    out: Annotated[Path | None, typer.Option("--out", metavar="FILE", help="Also write the JSON here.")] = None,
) -> None:
    """Audit mined hard negatives: hide all but --keep relevant passages per query (seeded), mine each RUN's
    top --depth, count the hidden positives among the "negatives" (false negatives), and measure how precisely
    each --teacher removes them (P >= --threshold, RocketQA's denoising rule; unscored candidates count as
    P = 0). Needs densely judged qrels (TREC DL); unjudged passages are counted apart: a pool's unjudged passage is
    not known to be non-relevant. Teacher scores must be probabilities (a cosine in [0, 1] passes the check but
    is not one: calibrate it)."""
    from rqbench.cli.eval import load_qrels_and_runs
    from rqbench.io import atomic_write_text
    from rqbench.negatives_audit import audit_negatives, check_settings

    check_settings(depth, keep, rel, threshold)
    qrels, label, runs = load_qrels_and_runs(files, None, None, None)
    teacher_paths = list(teacher or [])
    if len({path.resolve() for path in teacher_paths}) < len(teacher_paths):
        raise RqbenchError("a --teacher run is given twice")
    teachers = {name: _teacher_scores(path, logits)
                for name, path in zip(_names(teacher_paths), teacher_paths, strict=True)}
    audits = []
    for loaded in runs:
        try:
            audit = audit_negatives(loaded.run, qrels, depth=depth, keep=keep, rel=rel, seed=seed, teachers=teachers,
                                    threshold=threshold)
        except RqbenchError as exc:
            raise RqbenchError(exc.problem, exc.path or loaded.path) from None  # name the run
        audits.append({"name": loaded.name, "path": str(loaded.path), "audit": audit})
    result = {"qrels": label, "teachers": [{"name": name, "path": str(path), "logits": logits}
                                           for name, path in zip(teachers, teacher_paths, strict=True)],
              "runs": audits}
    if out is not None:
        atomic_write_text(out, json.dumps(result, indent=2) + "\n")
    if json_out:
        print(json.dumps(result, indent=2))
    _print_text(label, audits, json_out)
