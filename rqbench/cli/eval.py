"""`rqbench eval` and `rqbench compare`: scoring run files against qrels, in trec_eval's argument order
(QRELS, then one or more runs), without a corpus; the qrels may also be named by dataset and split."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.markup import escape

from rqbench.cli.options import AllPairs, Alpha, Correction, DataRoot, Format, JsonOut, Measures, Test, console_for
from rqbench.errors import RqbenchError, did_you_mean

DEFAULT_MEASURES = ["RR@10", "R@100", "nDCG@10"]
Files = Annotated[list[Path], typer.Argument(metavar="QRELS RUN", help="The qrels (TREC or BEIR TSV, "
                                             "optionally gzipped), then TREC run files (compare: two or "
                                             "more); with --dataset, only run files.", show_default=False)]
Dataset = Annotated[str | None, typer.Option("--dataset", metavar="NAME", help="Take the qrels from this dataset "
                                             "(folder, short name or ir_datasets id) instead of a QRELS file.")]
Split = Annotated[str | None, typer.Option("--split", metavar="SPLIT", help="The dataset's split, with --dataset "
                                           "(default: test).")]
AllowPartial = Annotated[bool, typer.Option("--allow-partial", help="Score runs whose query ids do not match "
                                            "the qrels: unanswered judged queries score 0, unjudged are ignored.")]
PerQuery = Annotated[bool, typer.Option("--per-query", "-q", help="Also per-query values (trec_eval -q).")]


@dataclass(frozen=True)
class LoadedRun:
    name: str
    path: Path
    run: dict
    source: tuple[str, str] | None = None  # (dataset, split) a recorded system was evaluated on


def load_qrels_and_runs(files: list[Path], dataset: str | None, split: str | None, data_root: str | None,
                        results: Path | None = None) -> tuple[dict, str, list[LoadedRun]]:
    """(qrels, a label naming where they come from, the runs) with the file-order mistakes explained.

    With `results`, an argument `SUITE:VARIANT` that is not a file is a recorded system (its run file);
    when the first argument is one, the qrels are those of the dataset and split it was evaluated on."""
    from rqbench.coverage import looks_like, swapped_hint
    from rqbench.types import read_qrels, read_trec_run

    recorded: dict[Path, Any] = {}
    if results is not None:
        from rqbench.recorded import is_reference, resolve_recorded

        recorded = {f: resolve_recorded(str(f), results) for f in files if is_reference(f)}
        if files and files[0] in recorded and dataset is None:
            if split is not None:
                raise RqbenchError("--split names a split of --dataset; recorded systems bring their own")
            sets = sorted({(r.dataset, r.split) for r in recorded.values()})
            if len(sets) > 1:
                raise RqbenchError("the recorded systems were evaluated on different datasets: "
                                   + "; ".join(f"{d} ({s})" for d, s in sets))
            dataset, split = sets[0]
    if split is not None and dataset is None:
        raise RqbenchError("--split names a split of --dataset; without --dataset give a QRELS file")
    split = split or "test"
    if dataset is not None:
        from rqbench.data import qrels_for, resolve_data_root

        qrels, label = qrels_for(dataset, split, resolve_data_root(data_root))
        run_paths = list(files)
    else:
        if len(files) < 2:
            raise RqbenchError("give QRELS and at least one RUN (or --dataset NAME --split SPLIT and the runs)")
        qrels_path, run_paths = files[0], list(files[1:])
        try:
            qrels = read_qrels(qrels_path)
        except RqbenchError as exc:
            hint = swapped_hint(qrels_path, run_paths[0])
            raise (RqbenchError(hint) if hint else exc) from None
        label = str(qrels_path)
    if not run_paths:
        raise RqbenchError("give at least one RUN file")
    runs = []
    for path in run_paths:
        if path in recorded:
            ref = recorded[path]
            runs.append(LoadedRun(ref.name, ref.path, read_trec_run(ref.path), (ref.dataset, ref.split)))
            continue
        try:
            runs.append(LoadedRun(path.name, path, read_trec_run(path)))
        except RqbenchError as exc:
            if looks_like(path) != "qrels":
                raise
            where = "with --dataset, give only run files" if dataset is not None else \
                "give QRELS first, then the runs (trec_eval's and ir_measures' order)"
            raise RqbenchError(f"'{path}' looks like qrels, not a run: {where}") from exc
    seen: set[Path] = set()
    for r in runs:
        if r.path.resolve() in seen:
            raise RqbenchError(f"'{r.path}' is given twice")
        seen.add(r.path.resolve())
    return qrels, label, _unique_names(runs, {r.path for r in recorded.values()})


def _unique_names(runs: list[LoadedRun], recorded: set[Path] | frozenset[Path] = frozenset()) -> list[LoadedRun]:
    """File names, or parent/name where two runs share a file name; a recorded system keeps its name."""
    if recorded:
        return runs if len({r.name for r in runs}) == len(runs) else [
            LoadedRun(r.name if r.path in recorded else str(r.path), r.path, r.run, r.source) for r in runs]
    names = [r.path.name for r in runs]
    if len(set(names)) < len(names):
        names = [str(Path(r.path.parent.name) / r.path.name) for r in runs]
    if len(set(names)) < len(names):
        names = [str(r.path) for r in runs]
    return [LoadedRun(n, r.path, r.run) for n, r in zip(names, runs, strict=True)]


def eval_command(
    files: Files,
    measure: Measures = None,
    per_query: PerQuery = False,
    allow_partial: AllowPartial = False,
    dataset: Dataset = None,
    split: Split = None,
    data_root: DataRoot = None,
    json_out: JsonOut = False,
) -> None:
    """Evaluate TREC runs against qrels with ir-measures: `rqbench eval QRELS RUN [RUN...] -m nDCG@10`.

    Every judged query counts (an unanswered one scores 0, as trec_eval -c). A run whose query ids do not
    match the qrels is an error unless --allow-partial; how many judged queries each run answers is always
    shown."""
    from rqbench.coverage import coverage_of, require_coverage
    from rqbench.measures import definition, evaluate, parse_measure_list

    measures = parse_measure_list(measure or DEFAULT_MEASURES)
    qrels, label, runs = load_qrels_and_runs(files, dataset, split, data_root)
    coverages = {r.name: coverage_of(r.run, qrels) for r in runs}
    for r in runs:
        require_coverage(coverages[r.name], r.run, qrels, r.path, allow_partial)
    results = {r.name: evaluate(r.run, qrels, measures) for r in runs}
    names = [str(m) for m in measures]
    if json_out:
        out: dict[str, Any] = {"qrels": label, "judged_queries": len(qrels), "measures": names,
                               "definitions": {str(m): definition(m) for m in measures}, "runs": []}
        for r in runs:
            entry: dict[str, Any] = {"name": r.name, "path": str(r.path), "aggregate": results[r.name].aggregate,
                                     "coverage": coverages[r.name].as_dict()}
            if per_query:
                entry["per_query"] = results[r.name].per_query
            out["runs"].append(entry)
        print(json.dumps(out, indent=2))
        return
    err = Console(stderr=True, soft_wrap=True)
    if per_query:  # trec_eval -q: per-query lines, then "all"; a first column names the run when several
        for r in runs:
            prefix = f"{r.name}\t" if len(runs) > 1 else ""
            for n in names:
                for qid, value in sorted(results[r.name].per_query[n].items()):
                    print(f"{prefix}{n}\t{qid}\t{value:.4f}")
                print(f"{prefix}{n}\tall\t{results[r.name].aggregate[n]:.4f}")
    else:
        print(f"{label}: {len(qrels)} judged queries")
        rows = [["run", *names, "answered"]] + [
            [r.name, *[f"{results[r.name].aggregate[n]:.4f}" for n in names],
             f"{coverages[r.name].answered}/{coverages[r.name].judged}"] for r in runs]
        print(aligned(rows))
        for n in names:
            err.print(escape(results[runs[0].name].definitions[n]), style="dim", soft_wrap=False)  # prose: folded
    for r in runs:
        if not coverages[r.name].complete:
            err.print(escape(f"note: {r.name} {coverages[r.name].text()}"), style="yellow")


def aligned(rows: list[list[str]]) -> str:
    """A plain table that never wraps or cuts: the first column left-aligned, the others right-aligned."""
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
    return "\n".join("  ".join(cell.ljust(w) if i == 0 else cell.rjust(w) for i, (cell, w)
                                in enumerate(zip(row, widths, strict=True))).rstrip() for row in rows)


FORMATS = ("table", "json", "csv", "latex", "markdown", "html")


def compare_command(
    files: Files,
    measure: Measures = None,
    baseline: Annotated[str | None, typer.Option("--baseline", metavar="NAME", help="The run the others are "
                                                 "compared with (file name; default: the first run).")] = None,
    alpha: Alpha = 0.05,
    test: Test = "randomization",
    correction: Correction = "holm",
    all_pairs: AllPairs = False,
    fmt: Format = "table",
    json_out: Annotated[bool, typer.Option("--json", help="The same as --format json.")] = False,
    out: Annotated[Path | None, typer.Option("--out", metavar="DIR", help="Also write report.md, report.html "
                                             "and figures to DIR.")] = None,
    allow_partial: AllowPartial = False,
    dataset: Dataset = None,
    split: Split = None,
    data_root: DataRoot = None,
    results: Annotated[Path, typer.Option("--results", metavar="DIR", help="Where SUITE:VARIANT arguments "
                                          "(recorded systems) are looked up.")] = Path("results"),
    detail: Annotated[int | None, typer.Option("--detail", metavar="N", help="With two systems: the N queries "
                                               "with the largest differences, both systems' top passages side "
                                               "by side (default 10 for two systems, in the table format or "
                                               "with --out; 0: none).")] = None,
    top: Annotated[int, typer.Option("--top", metavar="K", help="Passages per system in --detail.")] = 3,
) -> None:
    """Significance table of run files: `rqbench compare QRELS RUN RUN... -m nDCG@10`, no corpus needed.

    Paired randomization test and paired t-test per measure, a (1 - alpha) bootstrap CI of each difference,
    win/tie/loss counts, corrected across the comparisons; the same report a suite gets. A run may be a
    recorded system, SUITE:VARIANT (its qrels are then its dataset's). With exactly two systems, the queries
    where they differ most follow, with both systems' top passages side by side (texts with --dataset or
    recorded systems), on the first measure; --out also writes them as queries.md and queries.html. In a
    machine format (--format, --json) they go to stderr, and only with --detail N or --out."""
    from rqbench.coverage import coverage_of, require_coverage
    from rqbench.measures import parse_measure_list
    from rqbench.report import build_report
    from rqbench.report.model import check_settings
    from rqbench.run_files import records_from_runs

    fmt = "json" if json_out else fmt
    if fmt not in FORMATS:
        raise RqbenchError(f"unknown --format '{fmt}'" + did_you_mean(fmt, FORMATS))
    check_settings(alpha, test, correction, "all" if all_pairs else "baseline")  # before reading any run
    measures = [str(m) for m in parse_measure_list(measure or DEFAULT_MEASURES)]
    qrels, label, runs = load_qrels_and_runs(files, dataset, split, data_root, results)
    if len(runs) < 2:
        raise RqbenchError("compare needs at least two runs (use `rqbench eval` for one)")
    if detail is not None and (detail < 0 or top < 1):
        raise RqbenchError("--detail must be >= 0 and --top >= 1")
    # the drill-down by default only where someone reads it: the table, or queries.md / .html in --out (a
    # machine format on stdout would put it on stderr, and --dataset would load every passage text for it)
    n_detail = detail if detail is not None else (10 if len(runs) == 2 and (fmt == "table" or out is not None)
                                                  else 0)
    if n_detail and len(runs) != 2:
        raise RqbenchError(f"--detail compares two systems query by query; {len(runs)} were given")
    notes = []
    for r in runs:
        cov = coverage_of(r.run, qrels)
        require_coverage(cov, r.run, qrels, r.path, allow_partial)
        if not cov.complete:
            notes.append(f"{r.name} {cov.text()}")
    names = [r.name for r in runs]
    if baseline is not None and baseline not in names:
        raise RqbenchError(f"unknown --baseline '{baseline}'" + did_you_mean(baseline, names))
    named_split = (split or "test") if dataset is not None else None  # the label already says "name (split)"
    records = records_from_runs(qrels, {r.name: r.run for r in runs}, measures,
                                dataset_label=label.removesuffix(f" ({named_split})") if named_split else label,
                                split=named_split,
                                run_paths={r.name: r.path for r in runs}, notes=notes)
    report = build_report(records, baseline=baseline or names[0], measures=measures, alpha=alpha, test=test,
                          correction=correction, pairs="all" if all_pairs else "baseline")
    if len(runs) != 2 or (fmt != "table" and not n_detail):
        emit_report(report, fmt, out)
        return
    # two systems: the answer first (who wins, difference candidate - baseline, CI, p, W/T/L), then the
    # table, then the queries they differ on most
    d = pair_of(runs, qrels, label, measures[0], baseline or names[0], n_detail, top, alpha,
                _dataset_of(files, runs, dataset, split) if n_detail else None, data_root, test)
    if fmt == "table":
        from rqbench.pair.render import print_summary

        print_summary(d, console_for(False))
    emit_report(report, fmt, out, summary=fmt != "table")
    if n_detail:
        emit_detail(d, fmt, out)


def _dataset_of(files: list[Path], runs: list[LoadedRun], dataset: str | None,
                split: str | None) -> tuple[str, str] | None:
    """(dataset, split) whose texts the detail shows: --dataset, else the first recorded system's when the
    first argument is one (its qrels are then that dataset's)."""
    if dataset is not None:
        return dataset, split or "test"
    first_is_recorded = len(runs) == len(files)  # no QRELS argument: every argument is a run
    return runs[0].source if runs and first_is_recorded else None


def pair_of(runs: list[LoadedRun], qrels: dict, label: str, measure: str, baseline: str, n: int, top: int,
            alpha: float, dataset: tuple[str, str] | None, data_root: str | None, test: str = "randomization") -> Any:
    """The two systems query by query (a PairDetail): A the candidate, B the baseline, so that every
    difference is candidate - baseline, as in the table; texts from `dataset` when given."""
    from rqbench.pair.detail import pair_detail, texts_of

    queries, corpus = texts_of(*dataset, data_root, strict=False) if dataset is not None else (None, None)
    return pair_detail({r.name: r.run for r in runs}, qrels, measure, label=label, queries=queries, corpus=corpus,
                       n=n, top=top, alpha=alpha, baseline=baseline, test=test)


def emit_detail(d: Any, fmt: str, out: Path | None) -> None:
    """The two systems' query-by-query drill-down: on the terminal after the table (all of it, summary
    included, on stderr in machine formats), and queries.md / queries.html under --out."""
    from rqbench.io import atomic_write_text
    from rqbench.pair.render import print_queries, print_terminal

    if fmt == "table":
        print_queries(d, console_for(False))
    else:
        print_terminal(d, console_for(True))
    if out is not None:
        atomic_write_text(out / "queries.md", d.to_markdown())
        atomic_write_text(out / "queries.html", d.to_html())
        Console(stderr=True).print(escape(f"wrote {out / 'queries.md'} and {out / 'queries.html'}"))


def emit_report(report: Any, fmt: str, out: Path | None, *, summary: bool = True) -> None:
    """Print `report` on stdout in `fmt` (a table goes to the terminal; `summary` False leaves out its
    opening summary) and write the report folder to `out`."""
    from rqbench.report import render_markdown, render_terminal
    from rqbench.report.export import report_to_csv, report_to_json, report_to_latex

    if fmt == "table":  # the footer points at the full report when one is written
        render_terminal(report, console_for(False), more=f"see {out / 'report.md'}" if out is not None else None,
                        summary=summary)
    elif fmt == "json":
        print(json.dumps(report_to_json(report), indent=2))
    elif fmt == "csv":
        print(report_to_csv(report), end="")
    elif fmt == "latex":
        print(report_to_latex(report), end="")
    elif fmt == "markdown":
        print(render_markdown(report), end="")
    elif fmt == "html":
        from rqbench.report import render_html

        print(render_html(report), end="")
    if out is not None:
        from rqbench.report.write import write_report_folder

        if out.exists() and not out.is_dir():
            raise RqbenchError("is a file; --out names a folder for report.md, report.html and figures", out)

        written = write_report_folder(report, out)
        Console(stderr=True).print(escape(f"wrote {written['markdown']} and {written['html']}"))
