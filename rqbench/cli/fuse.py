"""`rqbench fuse`: several TREC runs of the same queries fused into one run file (`rqbench.fusion`), or
combined by a logistic fit on judged queries (`rqbench.calibration`) so that the scores are probabilities."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Annotated

import typer

from rqbench.errors import RqbenchError, did_you_mean

CLI_METHODS = ("rrf", "combsum", "combmnz", "interpolate", "max", "calibrated")

RunFiles = Annotated[list[Path], typer.Argument(metavar="RUN", help="Two or more TREC run files.",
                                                show_default=False)]


def _weights(text: str) -> list[float]:
    try:
        return [float(part) for part in text.replace(" ", "").split(",")]
    except ValueError:
        raise RqbenchError(f"--weights '{text}': give numbers separated by commas, e.g. 0.3,0.7") from None


def _refuse(given: dict[str, object], method: str) -> None:
    """A one-line error for the first option that does not apply to `method`."""
    for option, value in given.items():
        if value is not None:
            raise RqbenchError(f"{option} does not apply to --method {method}")


def fuse_command(
    runs: RunFiles,
    out: Annotated[Path, typer.Option("--out", metavar="FILE", help="The fused TREC run to write.")],
    method: Annotated[str, typer.Option("--method", metavar="METHOD", help="rrf (default), combsum, combmnz, "
                                        "interpolate, max, or calibrated (a logistic fit: P(relevant)).")] = "rrf",
    k: Annotated[float | None, typer.Option("--k", metavar="K", help="RRF's constant (default 60).")] = None,
    weights: Annotated[str | None, typer.Option("--weights", metavar="W,W", help="interpolate: one weight per "
                                                "run, e.g. 0.3,0.7.")] = None,
    norm: Annotated[str | None, typer.Option("--norm", metavar="NORM", help="Per-query score normalisation: "
                                             "none, minmax (default), zscore (calibrated's default), rank.")] = None,
    depth: Annotated[int | None, typer.Option("--depth", metavar="N", help="Cut each run, and the result, to N "
                                              "documents per query (default: all).")] = None,
    tag: Annotated[str | None, typer.Option("--tag", metavar="TAG", help="The run tag written (default: "
                                            "fuse-METHOD).")] = None,
    fit_qrels: Annotated[Path | None, typer.Option("--fit-qrels", metavar="QRELS", help="calibrated: fit on "
                                                   "the runs' queries judged here.")] = None,
    save_model: Annotated[Path | None, typer.Option("--save-model", metavar="FILE", help="calibrated: also "
                                                    "save the fit (JSON).")] = None,
    model: Annotated[Path | None, typer.Option("--model", metavar="FILE", help="calibrated: apply a saved fit "
                                               "instead (fit on dev runs, apply to test runs).")] = None,
    rel: Annotated[int, typer.Option("--rel", metavar="GRADE", help="calibrated: relevant means a grade of at "
                                     "least this.")] = 1,
) -> None:
    """Fuse runs: `rqbench fuse a.trec b.trec --out fused.trec` (reciprocal rank fusion, k=60).

    A document a run did not retrieve adds nothing to its score from that run. calibrated (also of one run:
    Platt scaling, turning its scores into probabilities) needs --fit-qrels
    (fit on these runs' judged queries: in-sample) or --model (a fit saved with --save-model)."""
    from rqbench.fusion import fuse_runs
    from rqbench.io import atomic_write_text
    from rqbench.types import read_trec_run, write_trec_run

    if method not in CLI_METHODS:
        raise RqbenchError(f"unknown --method '{method}'{did_you_mean(method, CLI_METHODS)}")
    if len(runs) < (1 if method == "calibrated" else 2):
        raise RqbenchError(f"give at least two RUN files to fuse (got {len(runs)}; one is for --method calibrated: "
                           "Platt scaling of that run's scores)")
    if len({path.resolve() for path in runs}) < len(runs):
        raise RqbenchError("a RUN file is given twice")
    if out.resolve() in {path.resolve() for path in runs}:
        raise RqbenchError(f"--out '{out}' is one of the RUN files: write the fused run elsewhere")
    calibration_only = {"--fit-qrels": fit_qrels, "--save-model": save_model, "--model": model}
    if method != "calibrated":
        _refuse(calibration_only | {"--rel": None if rel == 1 else rel}, method)
        if method == "rrf":
            _refuse({"--norm": norm}, method)
        else:
            _refuse({"--k": k}, method)
        if method != "interpolate":
            _refuse({"--weights": weights}, method)
    else:
        _refuse({"--k": k, "--weights": weights}, method)
        if (fit_qrels is None) == (model is None):
            raise RqbenchError("--method calibrated needs either --fit-qrels QRELS (fit now) or --model FILE "
                               "(apply a saved fit)")
        if model is not None and (save_model is not None or norm is not None):
            raise RqbenchError(f"{'--save-model' if save_model is not None else '--norm'} does not apply with "
                               "--model (the saved fit holds its normalisation)")
    loaded = [read_trec_run(path) for path in runs]
    if method != "calibrated":
        fused = fuse_runs(loaded, method, k=60 if k is None else k,
                          weights=None if weights is None else _weights(weights),
                          normalisation=norm or "minmax", depth=depth)
    else:
        from rqbench.calibration import CalibratedFusion, fit_calibrated
        from rqbench.types import read_qrels

        if model is not None:
            from rqbench.types import iter_lines

            text = "\n".join(line for _, line in iter_lines(model))
            try:
                fit = CalibratedFusion.from_json(text)
            except RqbenchError as exc:
                raise RqbenchError(exc.problem, model) from None
            if depth is not None and depth != fit.depth:
                raise RqbenchError(f"--depth {depth}: the saved fit was made at depth "
                                   f"{'all' if fit.depth is None else fit.depth}; leave --depth out")
        else:
            assert fit_qrels is not None
            fit = fit_calibrated(loaded, read_qrels(fit_qrels), normalisation=norm or "zscore", depth=depth,
                                 rel=rel)
            print(f"fitted on {fit.fitted_queries} queries judged in {fit_qrels} ({fit.fitted_pairs} pairs, "
                  f"{fit.fitted_positives} relevant); ECE {fit.fitted_ece:.4f} on them, in-sample (judge it on "
                  "other queries: --save-model, then --model)", file=sys.stderr)
            if save_model is not None:
                atomic_write_text(save_model, fit.to_json())
        fused = fit.apply(loaded)
    write_trec_run(fused, out, tag or f"fuse-{method}")
    lines = sum(len(docs) for docs in fused.values())
    print(f"wrote {out}: {len(fused)} queries, {lines} lines ({method} of {len(runs)} runs)")
