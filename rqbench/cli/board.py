"""`rqbench leaderboard`: systems x (evaluation set, measure) across the records of any number of suites,
with ranks, tie groups and means; printed, and written as Markdown, CSV, JSON or one HTML page."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated

import typer

from rqbench.cli.options import Alpha, Correction, JsonOut, Measures, Test

Sources = Annotated[list[Path] | None, typer.Argument(
    metavar="[RECORDS]...", help="records.jsonl files, suite result folders, committed reports "
    "(reports/<suite>) or folders holding several (default: --results).", show_default=False)]
Out = Annotated[Path | None, typer.Option(metavar="FILE", help="Also write it here.")]


def leaderboard_command(
    sources: Sources = None,
    results: Annotated[Path, typer.Option("--results", metavar="DIR", help="The results folder read when no "
                                          "RECORDS are given.")] = Path("results"),
    measure: Measures = None,
    dataset: Annotated[list[str] | None, typer.Option("--dataset", "-d", metavar="NAME", help="Only this "
                                                      "evaluation set: 'name' or 'name (split)' (repeatable).")] = None,
    sort: Annotated[str | None, typer.Option("--sort", metavar="KEY", help="A measure (its mean over the "
                                             "evaluation sets), an evaluation set 'name' or 'name (split)' (the "
                                             "first measure there) or a column 'dataset (split) measure'; default: "
                                             "the first measure's mean when every row has every set, else its "
                                             "set with the most rows. The legend states the order.")] = None,
    cost: Annotated[bool, typer.Option("--cost", help="Show training, indexing and search cost where the records "
                                       "have them, with the hardware.")] = False,
    alpha: Alpha = 0.05,
    test: Test = "randomization",
    correction: Correction = "holm",
    markdown: Out = None,
    csv: Out = None,
    html: Out = None,
    json_out: JsonOut = False,
) -> None:
    """Systems x (evaluation set, measure) across suites: ranks, statistically tied groups per column (paired
    tests over the column's queries, corrected over its pairs) and a mean per measure; nDCG@10 by default."""
    from rqbench.board import Options, build_leaderboard, load_records
    from rqbench.board.terminal import print_terminal
    from rqbench.io import atomic_write_text
    from rqbench.measures import parse_measure_list
    from rqbench.report.significance import check_options

    check_options(test, correction, "baseline")
    measures = [str(m) for m in parse_measure_list(measure)] if measure else None
    records = load_records(sources or [results])
    board = build_leaderboard(records, Options(measures=measures, datasets=dataset, sort=sort, alpha=alpha,
                                               test=test, correction=correction, cost=cost))
    if json_out:
        print(json.dumps(board.to_dict(), indent=2))
    else:
        print_terminal(board)
    for path, text in ((markdown, board.to_markdown), (csv, board.to_csv), (html, board.to_html)):
        if path is not None:
            atomic_write_text(path, text())
