"""Option types shared by the `rqbench` commands, and the console each command prints to."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console

DataRoot = Annotated[str | None, typer.Option("--data-root", metavar="DIR", help="Folder of datasets named by "
                                              "short name (default: $RQBENCH_DATA, ./data, ../shared/data).")]
Store = Annotated[Path | None, typer.Option("--store", metavar="DIR", help="Artifact store (default: "
                                            "$RQBENCH_STORE, else .rqbench/store in the current folder).")]
Results = Annotated[Path, typer.Option("--results", metavar="DIR", help="Where records, runs and per-query files "
                                       "go (relative to the current folder).")]
Verify = Annotated[bool, typer.Option("--verify", help="Check every reused artifact's full sha256 digests, not "
                                      "only sizes and times (a damaged artifact is set aside and rebuilt).")]
JsonOut = Annotated[bool, typer.Option("--json", help="Print machine-readable JSON on stdout (progress and "
                                       "tables go to stderr).")]
Jobs = Annotated[int, typer.Option("--jobs", "-j", min=1, metavar="N", help="Build up to N independent stages "
                                   "at once.")]
Variants = Annotated[list[str] | None, typer.Option("--variant", metavar="NAME", help="Only this variant "
                                                    "(repeatable).")]
Measures = Annotated[list[str] | None, typer.Option(
    "--measure", "-m", metavar="MEASURE", help="Repeatable, or several in one argument separated by spaces or "
    "commas. ir-measures names (nDCG@10, RR@10, R@100, AP, R(rel=2)@1000), trec_eval names (ndcg_cut.10, "
    "recip_rank, recall_100, map) and aliases (MRR@10, Hit@10), in any case.")]
Alpha = Annotated[float, typer.Option("--alpha", metavar="A", help="Significance level.")]
Test = Annotated[str, typer.Option("--test", metavar="TEST", help="The test that decides significance marks: "
                                   "randomization (paired, default) or t (paired t-test).")]
Correction = Annotated[str, typer.Option("--correction", metavar="NAME", help="Multiple-comparison correction "
                                         "within an evaluation set and measure: holm (default), bonferroni, none.")]
AllPairs = Annotated[bool, typer.Option("--all-pairs", help="Compare every pair of systems, not only each with "
                                        "the baseline.")]
Format = Annotated[str, typer.Option("--format", "-f", metavar="FORMAT", help="What to print on stdout: table "
                                     "(default), json, csv, latex, markdown, html.")]


def console_for(json_mode: bool) -> Console:
    """With --json (or another machine format) stdout carries only that; tables and progress go to stderr."""
    return Console(stderr=True) if json_mode else Console()
