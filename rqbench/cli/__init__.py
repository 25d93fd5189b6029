"""The `rqbench` command: parses options and delegates. User mistakes print one line and exit 2.

Commands live in `cli.suite` (run, check, plan, report), `cli.eval` (eval, compare), `cli.fuse` (fuse),
`cli.audit`, `cli.board`, `cli.store` and `training.cli`; this module registers them, holds the small ones,
and maps every error to one line and an exit code in `main`, whatever typer/click version raises it.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.markup import escape
from rich.table import Table

from rqbench.cli.audit import audit_negatives_command
from rqbench.cli.board import leaderboard_command
from rqbench.cli.eval import compare_command, eval_command
from rqbench.cli.fuse import fuse_command
from rqbench.cli.models import models_app
from rqbench.cli.options import DataRoot, JsonOut, console_for, show_table, terminal_width
from rqbench.cli.store import store_app
from rqbench.cli.suite import check_command, plan_command, report_command, run_command
from rqbench.errors import RqbenchError
from rqbench.training.cli import train_command

HELP = {"help_option_names": ["-h", "--help"]}
app = typer.Typer(add_completion=False, no_args_is_help=True, pretty_exceptions_enable=False,
                  rich_markup_mode=None, context_settings=HELP,
                  help="Evaluation and benchmarking harness for dense passage retrieval. Exit codes: 0 ok, "
                       "1 regression (check), 2 bad input, 3 environment or filesystem fault; --debug (anywhere "
                       "on the line) shows the traceback of an error.")
data_app = typer.Typer(no_args_is_help=True, rich_markup_mode=None, context_settings=HELP, help="Inspect datasets.")
app.add_typer(data_app, name="data")
store_app.info.context_settings = HELP
store_app.rich_markup_mode = None
app.add_typer(store_app, name="store")
models_app.info.context_settings = HELP
app.add_typer(models_app, name="models")
app.command("run")(run_command)
app.command("eval")(eval_command)
app.command("compare")(compare_command)
app.command("fuse")(fuse_command)
app.command("audit-negatives")(audit_negatives_command)
app.command("leaderboard")(leaderboard_command)
app.command("report")(report_command)
app.command("check")(check_command)
app.command("plan")(plan_command)
app.command("train")(train_command)


def _roles(inputs: dict[str, str]) -> str:
    """'role: type, ...', numbered roles of one type folded ("run0..run7: run (run1.. optional)")."""
    import re

    out: list[str] = []
    groups: dict[str, list[tuple[int, str]]] = {}
    for role, kind in inputs.items():
        match = re.fullmatch(r"([a-z_]+)(\d+)", role)
        if match:
            groups.setdefault(match[1], []).append((int(match[2]), kind))
        else:
            out.append(f"{role}: {kind}")
    for stem, members in groups.items():
        kinds = {kind.rstrip("?") for _, kind in members}
        first, last = members[0][0], members[-1][0]
        optional = [i for i, kind in members if kind.endswith("?")]
        note = f" ({stem}{optional[0]}.. optional)" if optional else ""
        out.append(f"{stem}{first}..{stem}{last}: {'/'.join(sorted(kinds))}{note}")
    return ", ".join(out)


def _version(value: bool) -> None:
    if value:
        from importlib.metadata import version

        print(f"rqbench {version('rqbench')}")
        raise typer.Exit(0)


@app.callback()
def _root(
    version: Annotated[bool, typer.Option("--version", "-V", callback=_version, is_eager=True,
                                          help="Print the version and exit.")] = False,
) -> None:
    """Evaluation and benchmarking harness for dense passage retrieval."""


@app.command()
def stages(json_out: JsonOut = False) -> None:
    """List the stage kinds: inputs, output, parameters with defaults, what each does, and for a training
    step the [variants.train] keys that bring it into a variant's chain."""
    from rqbench.plan.steps import STEPS, TRAIN_NODE_FOLLOWS, TRAIN_NODE_KEYS
    from rqbench.stages import describe_kinds

    kinds = describe_kinds()
    declared = {step.kind: (step.keys, step.follows) for step in STEPS}
    declared["train"] = (tuple(sorted(TRAIN_NODE_KEYS)), TRAIN_NODE_FOLLOWS)
    for k in kinds:
        keys, follows = declared.get(k["name"], ((), ()))
        k["train_keys"] = list(keys)
        k["follows"] = [{"key": f.key, "takes": f.takes, "input": f.feeds} for f in follows]
    if json_out:
        print(json.dumps(kinds, indent=2, default=str))
        return
    table = Table(title="rqbench stage kinds")
    for col in ("kind", "inputs", "output", "parameters (default)", "what it does", "train table keys"):
        table.add_column(col)
    for k in kinds:
        inputs = _roles(k["inputs"]) or "-"
        params = ", ".join(p["name"] + ("" if p["required"] else f"={p['default']!r}") for p in k["params"])
        follows = {f["key"]: f"{f['key']} (a variant's {f['takes']} -> {f['input']})" for f in k["follows"]}
        keys = ", ".join(follows.get(key, key) for key in k["train_keys"]) or "-"
        table.add_row(f"{k['name']} v{k['version']}", inputs, k["output"], escape(params), escape(k["doc"]),
                      escape(keys))
    show_table(console_for(False), table, wrap=False)  # too wide: one block per kind, never a split word


@app.command()
def mine(
    run_file: Annotated[Path, typer.Argument(metavar="RUN", help="TREC run of any retriever on the train split.",
                                             show_default=False)],
    dataset: Annotated[str, typer.Option("--dataset", metavar="NAME", help="Folder, short name or ir_datasets "
                                         "id.")],
    out: Annotated[Path, typer.Option("--out", metavar="FILE", help="Training groups to write (JSON lines).")],
    split: Annotated[str, typer.Option("--split", metavar="SPLIT")] = "train",
    depth: Annotated[int, typer.Option("--depth", metavar="N", help="Candidates from this many top hits.")] = 50,
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
    dataset: Annotated[str, typer.Argument(metavar="DATASET", help="Folder, short name or ir_datasets id.",
                                           show_default=False)],
    data_root: DataRoot = None,
    json_out: JsonOut = False,
) -> None:
    """Counts per split, fingerprints and every problem of a dataset (exit 2 when there are problems)."""
    from rqbench.data import format_inspection, inspect_dataset, resolve_data_root

    info = inspect_dataset(dataset, resolve_data_root(data_root))
    print(json.dumps(info, indent=2) if json_out else format_inspection(info, terminal_width()))
    if info.get("problems"):
        raise typer.Exit(2)


@app.command()
def backends(json_out: JsonOut = False) -> None:
    """List registered backends and their capabilities."""
    from rqbench.backend import capabilities, load_backend_class, registry

    rows = []
    for info in registry().values():
        try:
            caps, problem = list(capabilities(load_backend_class(info.name))), None
        except RqbenchError as exc:
            caps, problem = [], exc.problem
        rows.append({"name": info.name, "capabilities": caps, "unavailable": problem, "target": info.target,
                     "origin": info.origin})
    if json_out:
        print(json.dumps(rows, indent=2))
        return
    table = Table(title="rqbench backends")
    for col in ("name", "capabilities", "target", "origin"):
        table.add_column(col, no_wrap=col != "capabilities")
    for row in rows:
        caps = ", ".join(row["capabilities"]) if row["unavailable"] is None else \
            f"[red]unavailable: {escape(row['unavailable'])}[/]"
        table.add_row(row["name"], caps, row["target"], row["origin"])
    show_table(console_for(False), table)


def _fault_line(exc: OSError) -> str:
    """One line for a filesystem fault: the path and the operating system's words."""
    where = exc.filename if exc.filename is not None else ""
    if exc.filename2 is not None:
        where = f"{where} -> {exc.filename2}"
    reason = exc.strerror or exc.__class__.__name__
    return f"{where}: {reason}" if where else reason


def _click_classes(name: str) -> tuple[type, ...]:
    """`name` from click and from the click copy that recent typer releases vendor (typer._click)."""
    found: list[type] = []
    for module in ("click.exceptions", "typer._click.exceptions"):
        try:
            found.append(getattr(__import__(module, fromlist=[name]), name))
        except (ImportError, AttributeError):
            continue
    return tuple(found)


def usage_error_line(exc: Exception) -> str:
    """'rqbench eval: error: Missing argument ... (rqbench eval -h shows the usage)' from a click error."""
    ctx = getattr(exc, "ctx", None)
    command = getattr(ctx, "command_path", None) or "rqbench"
    message = exc.format_message() if hasattr(exc, "format_message") else str(exc)
    message = " ".join(str(message).split())
    if message.startswith("No such command") and "did you mean" not in message.lower() and ctx is not None:
        from rqbench.errors import did_you_mean  # older click releases suggest nothing

        name = message.split("'")[1] if message.count("'") >= 2 else ""
        message = message.rstrip(".") + did_you_mean(name, ctx.command.list_commands(ctx))
    return f"{command}: error: {message} ({command} -h shows the usage)"


def main() -> None:
    """Exit codes: 0 ok, 1 regression (check only), 2 bad input, 3 environment or filesystem fault."""
    debug = "--debug" in sys.argv[1:]
    if debug:
        sys.argv.remove("--debug")
    try:
        # standalone_mode=False: click returns typer.Exit's code instead of exiting, and raises usage errors
        result: Any = app(standalone_mode=False, prog_name="rqbench")
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
        if isinstance(exc, _click_classes("Abort")):
            sys.exit(130)
        if isinstance(exc, _click_classes("Exit")):
            sys.exit(getattr(exc, "exit_code", 0))
        if type(exc).__name__ == "NoArgsIsHelpError":  # click >= 8.2: a bare group prints its help
            print(exc.format_message())  # type: ignore[attr-defined]
            sys.exit(0)
        if isinstance(exc, _click_classes("ClickException")) and not debug:
            print(usage_error_line(exc), file=sys.stderr)
            sys.exit(2)
        raise
    sys.exit(result if isinstance(result, int) else 0)


if __name__ == "__main__":
    main()
