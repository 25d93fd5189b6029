"""The suite commands of `rqbench`: run, check, plan and report (registered by `rqbench.cli`)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.markup import escape
from rich.table import Table

from rqbench.cli.options import (
    AllPairs,
    Alpha,
    Correction,
    DataRoot,
    Format,
    Jobs,
    JsonOut,
    Measures,
    Results,
    Store,
    Test,
    Variants,
    Verify,
    console_for,
)
from rqbench.errors import RqbenchError

Suite = Annotated[Path, typer.Argument(metavar="SUITE", help="Suite TOML file.", show_default=False)]


def run_command(
    suite: Suite,
    data_root: DataRoot = None,
    store: Store = None,
    results: Results = Path("results"),
    overwrite: Annotated[bool, typer.Option("--overwrite", help="Recompute every stage.")] = False,
    variant: Variants = None,
    jobs: Jobs = 1,
    verify: Verify = False,
    json_out: JsonOut = False,
    executor: Annotated[str, typer.Option("--executor", metavar="NAME", help="Where stages are built: threads "
                        "(here, the default), submitit (Slurm jobs; cluster=local runs them as local subprocesses) "
                        "or ray (a Ray cluster, or a local one). The store must be shared with the workers.")
                        ] = "threads",
    executor_options: Annotated[list[str] | None, typer.Option("--executor-option", metavar="KEY=VALUE",
                                help="An executor setting (repeatable): submitit: cluster, gpus, timeout_min, "
                                "slurm_partition, ...; ray: address, num_cpus, gpus.")] = None,
) -> None:
    """Run a suite: plan its stage graph, build what is missing, one record per variant and evaluation set
    (in RESULTS/<suite>/records.jsonl; artifacts in the store)."""
    from rqbench.artifacts import ArtifactStore
    from rqbench.data import resolve_data_root
    from rqbench.env import drift_note, lock_drift
    from rqbench.records import read_records
    from rqbench.report import build_report, render_terminal
    from rqbench.runner import run_suite
    from rqbench.suite import load_suite

    console = console_for(json_out)
    _models_beside(store)
    spec = load_suite(suite)
    sets = ", ".join(f"{ev.name} ({ev.split})" for ev in spec.evaluations)
    console.print(f"[bold]suite[/] {spec.name}: {len(spec.variants)} variant(s) on {escape(sets)}")
    if (note := drift_note(lock_drift())) is not None:
        console.print(f"[yellow]note:[/] {escape(note)}")
    from rqbench.executors import make_executor, parse_options

    artifact_store = ArtifactStore(store, verify=verify)
    runner = make_executor(executor, parse_options(executor_options), artifact_store.root / "jobs")
    try:
        records = run_suite(spec, store=artifact_store, results_root=results, data_root=resolve_data_root(data_root),
                            console=console, overwrite=overwrite, only=variant, jobs=jobs, executor=runner)
    finally:
        if runner is not None:
            runner.close()
    records_path = results / spec.name / "records.jsonl"
    stored = read_records(records_path)
    baseline = spec.baseline if spec.baseline in {r["variant"] for r in stored} else None  # --variant subset
    render_terminal(build_report(stored, baseline=baseline, measures=spec.all_measures()), console)
    console.print(f"records: {escape(str(records_path))}")
    if json_out:
        print(json.dumps([{k: v for k, v in r.items() if k != "_path"} for r in records], indent=2, sort_keys=True))


def report_command(
    target: Annotated[Path, typer.Argument(metavar="SUITE|RECORDS", help="Suite TOML file, a records.jsonl "
                                           "file or the folder holding one, or a committed report folder "
                                           "(reports/<suite>: re-rendered in place with its findings.md).",
                                           show_default=False)],
    results: Results = Path("results"),
    out: Annotated[Path | None, typer.Option("--out", metavar="DIR", help="Output folder (default: "
                                             "RESULTS/<suite>/report, beside the records).")] = None,
    baseline: Annotated[str | None, typer.Option("--baseline", metavar="NAME", help="Variant to compare "
                                                 "against (default: the suite's).")] = None,
    measure: Measures = None,
    alpha: Alpha = 0.05,
    test: Test = "randomization",
    correction: Correction = "holm",
    all_pairs: AllPairs = False,
    fmt: Format = "table",
    json_out: Annotated[bool, typer.Option("--json", help="The same as --format json.")] = False,
    findings: Annotated[Path | None, typer.Option("--findings", metavar="FILE", help="Markdown with your reading "
                                                  "of the results, shown in the report as written by hand.")] = None,
) -> None:
    """Render a report from records only: on stdout a table (and Markdown + HTML with figures in --out,
    default RESULTS/<suite>/report), or JSON, CSV, LaTeX, Markdown or HTML (--format; files only with --out)."""
    from rqbench.cli.eval import FORMATS, emit_report
    from rqbench.errors import did_you_mean
    from rqbench.measures import parse_measure_list
    from rqbench.records import read_records
    from rqbench.report import build_report

    fmt = "json" if json_out else fmt
    committed = _committed_report(target)
    if committed is not None:  # reports/<suite>: its records/, its findings.md, and the folder itself as --out
        target = committed / "records"
        if findings is None and (committed / "findings.md").exists():
            findings = committed / "findings.md"
        if out is None and fmt == "table":
            out = committed
    if fmt not in FORMATS:
        raise RqbenchError(f"unknown --format '{fmt}'" + did_you_mean(fmt, FORMATS))
    from rqbench.report.findings import read_findings

    if findings is not None and fmt in ("csv", "latex") and out is None:
        raise RqbenchError(f"--findings: --format {fmt} has no place for a note; add --out DIR (its report.md "
                           "and report.html show it) or use --format markdown, html or json")
    note = read_findings(findings) if findings is not None else ""  # a bad file fails before any work
    records_path, _, suite_baseline, suite_measures = _records_for(target, results)
    measures = [str(m) for m in parse_measure_list(measure)] if measure else suite_measures
    report = build_report(read_records(records_path), baseline=baseline or suite_baseline, measures=measures,
                          alpha=alpha, test=test, correction=correction, pairs="all" if all_pairs else "baseline")
    report.findings = note
    # the report folder: always for the table view; with a machine format on stdout only when asked (--out)
    emit_report(report, fmt, out or (records_path.parent / "report" if fmt == "table" else None))


def check_command(
    suite: Suite,
    baseline: Annotated[Path | None, typer.Option("--baseline", metavar="RECORDS", help="records.jsonl to "
                                                  "compare against instead of the suite's expected values.")] = None,
    no_run: Annotated[bool, typer.Option("--no-run", help="Check the latest records; run nothing.")] = False,
    allow_other_data: Annotated[bool, typer.Option("--allow-other-data", help="With --baseline: compare even "
                                                   "when the corpus or qrels differ (on the queries both "
                                                   "share).")] = False,
    data_root: DataRoot = None,
    store: Store = None,
    results: Results = Path("results"),
    verify: Verify = False,
    json_out: JsonOut = False,
) -> None:
    """CI gate: exit 0 if nothing regressed, 1 with a table of what did, 2 on bad input, 3 on an environment
    or filesystem fault."""
    from rqbench.artifacts import ArtifactStore
    from rqbench.check import check_baseline, check_expected, exit_code
    from rqbench.data import resolve_data_root
    from rqbench.records import read_records
    from rqbench.runner import run_suite
    from rqbench.suite import load_suite

    console = console_for(json_out)
    spec = load_suite(suite)
    if allow_other_data and baseline is None:
        raise RqbenchError("--allow-other-data applies to --baseline RECORDS only")
    if no_run:  # the suite's own variants only: a renamed variant's old records do not stand in for it
        names = set(spec.variant_names()) | set(spec.arms())
        records = [r for r in read_records(results / spec.name / "records.jsonl") if r["variant"] in names]
    else:
        records = run_suite(spec, store=ArtifactStore(store, verify=verify), results_root=results,
                            data_root=resolve_data_root(data_root), console=console)
    notes: list[str] = []
    if baseline is not None:
        rows = check_baseline(spec.check, records, read_records(baseline), spec.all_measures(), seed=spec.seed,
                              allow_other_data=allow_other_data, notes=notes)
    else:
        rows = check_expected(spec.check, records, spec.evaluations[0].name)
    code = exit_code(rows)
    table = Table(title=f"check {spec.name}: tolerance {spec.check.tolerance:g}"
                  + (" (two-sided)" if spec.check.two_sided else ""))
    for col in ("variant", "measure", "expected", "actual", "diff", "95% CI of diff", "status"):
        table.add_column(col, justify="right" if col in {"expected", "actual", "diff"} else "left")
    for r in rows:
        colour = "red" if r.failed else ("green" if r.status == "OK" else "yellow")
        table.add_row(escape(r.variant), escape(r.measure), f"{r.expected:.4f}",
                      "-" if r.actual is None else f"{r.actual:.4f}", "-" if r.diff is None else signed(r.diff),
                      "-" if r.ci is None else escape(f"[{signed(r.ci[0])}, {signed(r.ci[1])}]"),
                      f"[{colour}]{r.status}[/]")
    console.print(table)
    for line in [*(f"note: {n} (--allow-other-data)" for n in notes), *shared_query_notes(rows)]:
        console.print(escape(line))
    console.print("[red]FAIL[/]: regression" if code else "[green]PASS[/]")
    if json_out:
        print(json.dumps({"passed": code == 0, "notes": notes,
                          "rows": [{**r.__dict__, "diff": r.diff} for r in rows]}, indent=2))
    raise typer.Exit(code)


def _models_beside(store: Path | None) -> None:
    """Converted official models live in the store's `models/` unless $RQBENCH_MODELS says otherwise: with
    --store, that store's (so a run, its plan and its job workers look in one place)."""
    import os

    if store is not None and not os.environ.get("RQBENCH_MODELS"):
        os.environ["RQBENCH_MODELS"] = str(Path(store).resolve() / "models")


def plan_command(
    suite: Suite,
    data_root: DataRoot = None,
    store: Store = None,
    variant: Variants = None,
    json_out: JsonOut = False,
) -> None:
    """Print a suite's stage graph: every node, its inputs, and whether it is cached or will be built."""
    from rqbench.artifacts import ArtifactStore
    from rqbench.data import resolve_data_root
    from rqbench.plan import plan_suite
    from rqbench.plan.view import plan_rows, render_plan
    from rqbench.suite import load_suite

    _models_beside(store)
    graph = plan_suite(load_suite(suite), resolve_data_root(data_root), variant, pending_data=True)
    rows = plan_rows(graph, ArtifactStore(store))
    if json_out:
        print(json.dumps(rows, indent=2))
    else:
        render_plan(graph, rows, Console())


def shared_query_notes(rows: list[Any]) -> list[str]:
    """One line per variant compared on fewer queries than one side has: expected and actual are then
    the means over the shared queries, not the recorded aggregates."""
    seen: dict[str, str] = {}
    for r in rows:
        if r.on_shared_queries and r.variant not in seen:
            shared, mine, theirs = r.queries
            seen[r.variant] = (f"{r.variant}: compared on the {shared} queries both share (this run has {mine}, "
                               f"the baseline {theirs}); expected and actual are means over those")
    return list(seen.values())


def signed(x: float) -> str:
    """+0.0123; a difference that rounds to zero is +0.0000, never -0.0000."""
    text = f"{x:+.4f}"
    return "+0.0000" if text == "-0.0000" else text


def _committed_report(target: Path) -> Path | None:
    """The report folder when TARGET is one as committed (records/records.jsonl inside, no records beside)."""
    if target.is_dir() and not (target / "records.jsonl").exists() and (target / "records" / "records.jsonl").exists():
        return target
    return None


def _records_for(target: Path, results: Path) -> tuple[Path, str, str | None, list[str] | None]:
    if target.suffix == ".toml":
        from rqbench.suite import load_suite

        spec = load_suite(target)
        return results / spec.name / "records.jsonl", spec.name, spec.baseline, spec.all_measures()
    if target.is_dir():  # a suite's results folder
        target = target / "records.jsonl"
    if not target.exists():
        raise RqbenchError("file not found", target)
    return target, target.parent.name, None, None
