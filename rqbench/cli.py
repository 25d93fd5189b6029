"""The `rqbench` command: parses options and delegates. User mistakes print one line and exit 2."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.markup import escape
from rich.table import Table

from rqbench.errors import RqbenchError
from rqbench.store_cli import store_app
from rqbench.training.cli import train_command

app = typer.Typer(add_completion=False, no_args_is_help=True, pretty_exceptions_enable=False,
                  help="Evaluation and benchmarking harness for dense passage retrieval. Exit codes: 0 ok, "
                       "1 regression (check), 2 bad input, 3 environment or filesystem fault; --debug (anywhere "
                       "on the line) shows the traceback of an error.")
data_app = typer.Typer(no_args_is_help=True, help="Inspect datasets.")
app.add_typer(data_app, name="data")
app.command("train")(train_command)
app.add_typer(store_app, name="store")

DataRoot = Annotated[str | None, typer.Option("--data-root", help="Folder of datasets named by short name "
                                              "(default: $RQBENCH_DATA, ./data, ../shared/data).")]
Store = Annotated[Path | None, typer.Option("--store", help="Artifact store (default: $RQBENCH_STORE or "
                                            ".rqbench/store).")]
Results = Annotated[Path, typer.Option("--results", help="Where records, runs and per-query files go.")]
Verify = Annotated[bool, typer.Option("--verify", help="Check every reused artifact's full sha256 digests, not "
                                      "only sizes and times (a damaged artifact is set aside and rebuilt).")]
JsonOut = Annotated[bool, typer.Option("--json", help="Print machine-readable JSON on stdout.")]
Jobs = Annotated[int, typer.Option("--jobs", "-j", min=1, help="Build up to this many independent stages at once.")]


def _console(json_mode: bool) -> Console:
    # With --json, stdout carries only JSON; progress and tables go to stderr.
    return Console(stderr=True) if json_mode else Console()


@app.command()
def run(
    suite: Annotated[Path, typer.Argument(help="Suite TOML file.")],
    data_root: DataRoot = None,
    store: Store = None,
    results: Results = Path("results"),
    overwrite: Annotated[bool, typer.Option("--overwrite", help="Recompute every stage.")] = False,
    variant: Annotated[list[str] | None, typer.Option("--variant", "-v", help="Only these variants.")] = None,
    jobs: Jobs = 1,
    verify: Verify = False,
    json_out: JsonOut = False,
) -> None:
    """Run a suite: plan its stage graph, build what is missing, one record per variant and evaluation set."""
    from rqbench.artifacts import ArtifactStore
    from rqbench.data import resolve_data_root
    from rqbench.records import read_records
    from rqbench.report import build_report, render_terminal
    from rqbench.runner import run_suite
    from rqbench.suite import load_suite

    console = _console(json_out)
    spec = load_suite(suite)
    sets = ", ".join(f"{ev.name} ({ev.split})" for ev in spec.evaluations)
    console.print(f"[bold]suite[/] {spec.name}: {len(spec.variants)} variant(s) on {escape(sets)}")
    records = run_suite(spec, store=ArtifactStore(store, verify=verify), results_root=results,
                        data_root=resolve_data_root(data_root), console=console, overwrite=overwrite,
                        only=variant, jobs=jobs)
    records_path = results / spec.name / "records.jsonl"
    stored = read_records(records_path)
    baseline = spec.baseline if spec.baseline in {r["variant"] for r in stored} else None  # --variant subset
    render_terminal(build_report(stored, baseline=baseline, measures=spec.all_measures()), console)
    console.print(f"records: {escape(str(records_path))}")
    if json_out:
        print(json.dumps([{k: v for k, v in r.items() if k != "_path"} for r in records], indent=2, sort_keys=True))


@app.command("eval")
def eval_cmd(
    run_file: Annotated[Path, typer.Argument(metavar="RUN", help="TREC run file.")],
    qrels_file: Annotated[Path, typer.Argument(metavar="QRELS", help="Qrels (TREC or BEIR TSV).")],
    measure: Annotated[list[str] | None, typer.Option("--measure", "-m", help="e.g. RR@10, R@100, nDCG@10.")] = None,
    per_query: Annotated[bool, typer.Option("--per-query", help="Also print per-query values.")] = False,
    json_out: JsonOut = False,
) -> None:
    """Evaluate any TREC run against any qrels with ir-measures."""
    from rqbench.measures import evaluate, parse_measures
    from rqbench.types import read_qrels, read_trec_run

    measures = parse_measures(measure or ["RR@10", "R@100", "nDCG@10"])
    run_data, qrels = read_trec_run(run_file), read_qrels(qrels_file)
    unjudged = sorted(set(run_data) - set(qrels))
    result = evaluate(run_data, qrels, measures)
    if json_out:
        out: dict[str, Any] = dict(result.aggregate)
        if per_query:
            out = {"aggregate": result.aggregate, "per_query": result.per_query}
        print(json.dumps(out, indent=None if not per_query else 2))
    else:
        console = Console()
        table = Table(title=f"{run_file.name} vs {qrels_file.name} ({result.n_queries} judged queries)")
        table.add_column("measure")
        table.add_column("value", justify="right")
        table.add_column("definition", overflow="fold")
        for name, value in result.aggregate.items():
            table.add_row(name, f"{value:.4f}", result.definitions[name])
        console.print(table)
        if per_query:
            for name, values in result.per_query.items():
                for qid, value in sorted(values.items()):
                    console.print(escape(f"{name}\t{qid}\t{value:.4f}"))
    if unjudged:
        print(f"warning: {len(unjudged)} run queries have no qrels and are ignored "
              f"(e.g. {', '.join(unjudged[:3])})", file=sys.stderr)


@app.command()
def report(
    target: Annotated[Path, typer.Argument(help="Suite TOML file or a records.jsonl file.")],
    results: Results = Path("results"),
    out: Annotated[Path | None, typer.Option("--out", help="Output folder (default: reports/<suite>).")] = None,
    baseline: Annotated[str | None, typer.Option("--baseline", help="Variant to compare against.")] = None,
) -> None:
    """Render Markdown + HTML (with figures) and a terminal table, from records only."""
    from rqbench.records import read_records
    from rqbench.report import build_report, render_terminal, write_report

    records_path, name, suite_baseline, measures = _records_for(target, results)
    records = read_records(records_path)
    chosen = baseline or suite_baseline
    render_terminal(build_report(records, baseline=chosen, measures=measures), Console())
    written = write_report(records_path, out or Path("reports") / name, baseline=chosen, measures=measures)
    Console().print(f"wrote {written['markdown']} and {written['html']}")


@app.command()
def check(
    suite: Annotated[Path, typer.Argument(help="Suite TOML file with [check] expected values.")],
    baseline: Annotated[Path | None, typer.Option("--baseline", help="records.jsonl to compare against "
                                                  "instead of the suite's expected values.")] = None,
    no_run: Annotated[bool, typer.Option("--no-run", help="Check the latest records; run nothing.")] = False,
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

    console = _console(json_out)
    spec = load_suite(suite)
    if no_run:
        records = read_records(results / spec.name / "records.jsonl")
    else:
        records = run_suite(spec, store=ArtifactStore(store, verify=verify), results_root=results,
                            data_root=resolve_data_root(data_root), console=console)
    if baseline is not None:
        rows = check_baseline(spec.check, records, read_records(baseline), spec.all_measures(), seed=spec.seed)
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
                      "-" if r.actual is None else f"{r.actual:.4f}", "-" if r.diff is None else _signed(r.diff),
                      "-" if r.ci is None else escape(f"[{_signed(r.ci[0])}, {_signed(r.ci[1])}]"),
                      f"[{colour}]{r.status}[/]")
    console.print(table)
    console.print("[red]FAIL[/]: regression" if code else "[green]PASS[/]")
    if json_out:
        print(json.dumps({"passed": code == 0, "rows": [{**r.__dict__, "diff": r.diff} for r in rows]}, indent=2))
    raise typer.Exit(code)


@app.command()
def leaderboard(
    results: Results = Path("results"),
    measure: Annotated[str, typer.Option("--measure", "-m", help="The measure to rank by.")] = "nDCG@10",
    markdown: Annotated[Path | None, typer.Option("--markdown", help="Also write the table here.")] = None,
) -> None:
    """Systems x datasets for one measure, across every suite's records (mean over datasets a system has all of)."""
    from rqbench.io import atomic_write_text
    from rqbench.leaderboard import build_leaderboard
    from rqbench.measures import parse_measure

    measure = str(parse_measure(measure))  # aliases (MRR@10, Hit@10) name what records store (RR@10, ...)
    board = build_leaderboard(results, measure)
    table = Table(title=f"leaderboard: {measure}")
    table.add_column("system")
    for column in board.datasets:
        table.add_column(column, justify="right")
    table.add_column("mean", justify="right")
    for system, values, mean in board.rows:
        table.add_row(escape(system), *[f"{values[d]:.4f}" if d in values else "-" for d in board.datasets],
                      "-" if mean is None else f"{mean:.4f}")
    Console().print(table)
    if markdown is not None:
        atomic_write_text(markdown, board.to_markdown())


@app.command()
def plan(
    suite: Annotated[Path, typer.Argument(help="Suite TOML file.")],
    data_root: DataRoot = None,
    store: Store = None,
    variant: Annotated[list[str] | None, typer.Option("--variant", "-v", help="Only these variants.")] = None,
    json_out: JsonOut = False,
) -> None:
    """Print a suite's stage graph: every node, its inputs, and whether it is cached or will be built."""
    from rqbench.artifacts import ArtifactStore
    from rqbench.data import resolve_data_root
    from rqbench.plan import plan_suite
    from rqbench.plan_view import plan_rows, render_plan
    from rqbench.suite import load_suite

    graph = plan_suite(load_suite(suite), resolve_data_root(data_root), variant)
    rows = plan_rows(graph, ArtifactStore(store))
    if json_out:
        print(json.dumps(rows, indent=2))
    else:
        render_plan(graph, rows, Console())


@app.command()
def stages(json_out: JsonOut = False) -> None:
    """List the stage kinds: inputs, output, parameters with defaults, and what each does."""
    from rqbench.stages import describe_kinds

    kinds = describe_kinds()
    if json_out:
        print(json.dumps(kinds, indent=2, default=str))
        return
    table = Table(title="rqbench stage kinds")
    for col in ("kind", "inputs", "output", "parameters (default)", "what it does"):
        table.add_column(col, overflow="fold")
    for k in kinds:
        inputs = ", ".join(f"{role}: {t}" for role, t in k["inputs"].items()) or "-"
        params = ", ".join(p["name"] + ("" if p["required"] else f"={p['default']!r}") for p in k["params"])
        table.add_row(f"{k['name']} v{k['version']}", inputs, k["output"], escape(params), escape(k["doc"]))
    Console().print(table)


@app.command()
def mine(
    run_file: Annotated[Path, typer.Argument(metavar="RUN", help="TREC run of any retriever on the train split.")],
    dataset: Annotated[str, typer.Option("--dataset", help="Folder, short name or ir_datasets id.")],
    out: Annotated[Path, typer.Option("--out", help="Training groups to write (JSON lines).")],
    split: Annotated[str, typer.Option("--split")] = "train",
    depth: Annotated[int, typer.Option("--depth", help="Candidates from this many top hits.")] = 50,
    data_root: DataRoot = None,
) -> None:
    """Mine hard-negative pools from a run: per judged query, the top-DEPTH minus its judged positives, in
    rank order (the trainer draws `hard_negatives_per_query` of them per epoch: see `negative_sampling`)."""
    from rqbench.data import load_dataset, resolve_data_root
    from rqbench.training.groups import write_groups
    from rqbench.training.mining import mine_candidates
    from rqbench.types import read_trec_run

    data = load_dataset(dataset, resolve_data_root(data_root))
    groups = mine_candidates(read_trec_run(run_file), data, split, depth=depth)
    count = write_groups(groups, out)
    Console().print(f"wrote {count} training groups to {escape(str(out))}")


@data_app.command("inspect")
def data_inspect(
    dataset: Annotated[str, typer.Argument(help="Folder, short name or ir_datasets id.")],
    data_root: DataRoot = None,
    json_out: JsonOut = False,
) -> None:
    """Counts per split, fingerprints and problems of a dataset."""
    from rqbench.data import format_inspection, inspect_dataset, resolve_data_root

    info = inspect_dataset(dataset, resolve_data_root(data_root))
    print(json.dumps(info, indent=2) if json_out else format_inspection(info))


@app.command()
def backends() -> None:
    """List registered backends and their capabilities."""
    from rqbench.backend import capabilities, load_backend_class, registry

    table = Table(title="rqbench backends")
    for col in ("name", "capabilities", "target", "origin"):
        table.add_column(col)
    for info in registry().values():
        try:
            caps = ", ".join(capabilities(load_backend_class(info.name)))
        except RqbenchError as exc:
            caps = f"[red]unavailable: {exc.problem}[/]"
        table.add_row(info.name, caps, info.target, info.origin)
    Console().print(table)


def _signed(x: float) -> str:
    """+0.0123; a difference that rounds to zero is +0.0000, never -0.0000."""
    text = f"{x:+.4f}"
    return "+0.0000" if text == "-0.0000" else text


def _records_for(target: Path, results: Path) -> tuple[Path, str, str | None, list[str] | None]:
    if target.suffix == ".toml":
        from rqbench.suite import load_suite

        spec = load_suite(target)
        return results / spec.name / "records.jsonl", spec.name, spec.baseline, spec.all_measures()
    if not target.exists():
        raise RqbenchError("file not found", target)
    return target, target.parent.name, None, None


def _fault_line(exc: OSError) -> str:
    """One line for a filesystem fault: the path and the operating system's words."""
    where = exc.filename if exc.filename is not None else ""
    if exc.filename2 is not None:
        where = f"{where} -> {exc.filename2}"
    reason = exc.strerror or exc.__class__.__name__
    return f"{where}: {reason}" if where else reason


def main() -> None:
    """Exit codes: 0 ok, 1 regression (check only), 2 bad input, 3 environment or filesystem fault."""
    debug = "--debug" in sys.argv[1:]
    if debug:
        sys.argv.remove("--debug")
    try:
        result = app(standalone_mode=False)  # click returns typer.Exit's code here instead of exiting
    except RqbenchError as exc:
        if debug:
            raise
        print(f"rqbench: error: {exc.one_line()}", file=sys.stderr)
        sys.exit(getattr(exc, "exit_code", 2))
    except typer.Exit as exc:
        sys.exit(exc.exit_code)
    except KeyboardInterrupt:
        print("rqbench: interrupted; finished artifacts are kept, run again to resume", file=sys.stderr)
        sys.exit(130)
    except OSError as exc:  # read-only folders, a file where a folder is expected, full disk, ...
        if debug:
            raise
        print(f"rqbench: error: {_fault_line(exc)} (an environment or filesystem fault; --debug shows where)",
              file=sys.stderr)
        sys.exit(3)
    except Exception as exc:  # click usage errors arrive here in standalone_mode=False
        import click

        if isinstance(exc, click.exceptions.ClickException):
            exc.show()
            sys.exit(exc.exit_code)
        if isinstance(exc, click.exceptions.Abort):
            sys.exit(130)
        raise
    sys.exit(result if isinstance(result, int) else 0)


if __name__ == "__main__":
    main()
