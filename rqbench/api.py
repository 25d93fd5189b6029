"""The Python API, for notebooks: the objects the CLI renders, built from run files, qrels and records.

    import rqbench
    qrels = rqbench.load_qrels("qrels.dl19.txt")
    runs = {"bm25": rqbench.load_run("bm25.trec"), "tas-b": rqbench.load_run("tasb.trec")}
    rqbench.evaluate(runs["bm25"], qrels, ["nDCG@10", "RR(rel=2)@10"])   # {"nDCG@10": 0.5058, ...}
    report = rqbench.compare(qrels, runs, ["nDCG@10"])                    # a Report: to_markdown(), to_frame()
    rqbench.drilldown(qrels, runs, "nDCG@10", dataset="msmarco-dl19")   # the queries they differ on most
    board = rqbench.leaderboard(runs=runs, qrels=qrels, measures=["nDCG@10"])  # or leaderboard("results/")

Runs and qrels may be given as paths or as loaded objects. Queries are aligned explicitly: every judged
query counts, a query a run does not answer scores 0 and is counted; a run sharing no query with the
qrels, two systems of one name and a missing file are one-line errors (`rqbench.errors.RqbenchError`).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from numbers import Integral
from pathlib import Path
from typing import TYPE_CHECKING, Any

from rqbench.errors import RqbenchError
from rqbench.types import RELEVANCE_MAX, RELEVANCE_MIN, Qrels, Run, check_id, read_qrels, read_trec_run, show_id

if TYPE_CHECKING:
    from rqbench.board import Leaderboard
    from rqbench.pair.detail import PairDetail
    from rqbench.report import Report

RunLike = Run | str | Path
QrelsLike = Qrels | str | Path
DEFAULT_MEASURES = ("nDCG@10", "RR@10", "R@100")


def load_run(path: str | Path) -> Run:
    """A TREC run file (qid Q0 docid rank score tag)."""
    return read_trec_run(path)


def load_qrels(path: str | Path) -> Qrels:
    """A qrels file (TREC or BEIR TSV)."""
    return read_qrels(path)


def _qrels(qrels: QrelsLike) -> Qrels:
    """Qrels from a file, or a dict held to the file readers' rules (ids, whole grades in range)."""
    if isinstance(qrels, str | Path):
        return read_qrels(qrels)
    for qid, judged in qrels.items():
        for what, value in (("query", qid), *(("document", d) for d in judged)):
            if not isinstance(value, str):
                raise RqbenchError(f"{what} id {value!r} is not a string")
            check_id(what, value)
        for docid, grade in judged.items():
            whole = isinstance(grade, Integral) and not isinstance(grade, bool)
            if not whole or not RELEVANCE_MIN <= grade <= RELEVANCE_MAX:
                raise RqbenchError(f"relevance {grade!r} of query {show_id(qid)}, document {show_id(docid)} is not "
                                   f"a whole number in {RELEVANCE_MIN}..{RELEVANCE_MAX}")
    return qrels


def _label(qrels: QrelsLike, dataset: str | None) -> str:
    """The column / report label of runs on `qrels`: `dataset`, else the qrels file's stem."""
    return dataset or (Path(qrels).stem if isinstance(qrels, str | Path) else "qrels")


def _runs(runs: Mapping[str, RunLike] | Sequence[str | Path], qrels: Qrels) -> tuple[dict[str, Run], dict[str, Path]]:
    """name -> Run (and name -> file for those given as paths); names of a sequence are the files' stems."""
    if isinstance(runs, Mapping):
        named = {str(k): v for k, v in runs.items()}
        if len(named) != len(runs):
            raise RqbenchError("two runs have the same name")
    else:
        from rqbench.run_files import run_names

        paths = [Path(p) for p in runs]
        named = dict(zip(run_names(paths), paths, strict=True))
    if not named:
        raise RqbenchError("no runs given")
    loaded: dict[str, Run] = {}
    files: dict[str, Path] = {}
    for name, run in named.items():
        if isinstance(run, str | Path):
            files[name] = Path(run)
            run = read_trec_run(run)
        if run and not set(run) & set(qrels):
            raise RqbenchError(f"run '{name}' shares no query with the qrels (a run of another dataset?)")
        loaded[name] = run
    return loaded, files


class Scores(dict):
    """measure -> mean over every judged query; a dict that also renders itself like the CLI's objects."""

    def _rows(self) -> list[tuple[str, float]]:
        return [(str(m), float(v)) for m, v in self.items()]

    def to_markdown(self) -> str:
        from rqbench.report.mdtext import md_cell, md_text

        return "| measure | value |\n|---|---:|\n" + "".join(f"| {md_cell(md_text(m))} | {v:.4f} |\n"
                                                          for m, v in self._rows())

    def to_csv(self) -> str:
        return "measure,value\n" + "".join(f"{m},{v!r}\n" for m, v in self._rows())

    def to_html(self) -> str:
        from html import escape

        rows = "".join(f"<tr><td>{escape(m)}</td><td>{v:.4f}</td></tr>" for m, v in self._rows())
        return f"<table><tr><th>measure</th><th>value</th></tr>{rows}</table>"

    def to_frame(self) -> Any:
        import pandas as pd

        return pd.DataFrame(self._rows(), columns=["measure", "value"]).set_index("measure")

    def _repr_markdown_(self) -> str:
        return self.to_markdown()


def evaluate(run: RunLike, qrels: QrelsLike, measures: Sequence[str] = DEFAULT_MEASURES) -> Scores:
    """The mean of each measure over every judged query (an unanswered one scores 0)."""
    from rqbench.measures import evaluate as _evaluate
    from rqbench.measures import parse_measure_list

    q = _qrels(qrels)
    loaded, _ = _runs({"run": run}, q)
    return Scores(_evaluate(loaded["run"], q, parse_measure_list(list(measures))).aggregate)


def compare(
    qrels: QrelsLike,
    runs: Mapping[str, RunLike] | Sequence[str | Path],
    measures: Sequence[str] = DEFAULT_MEASURES,
    *,
    baseline: str | None = None,
    dataset: str | None = None,
    **options: Any,
) -> Report:
    """The significance report of `compare`: each run against `baseline` (default the first), paired by
    query; `options` go to `rqbench.report.build_report` (alpha, test, correction, pairs="all", ...)."""
    from rqbench.measures import parse_measure_list
    from rqbench.report import build_report
    from rqbench.run_files import records_from_runs

    q = _qrels(qrels)
    loaded, files = _runs(runs, q)
    names = [str(m) for m in parse_measure_list(list(measures))]
    label = _label(qrels, dataset)
    records = records_from_runs(q, loaded, names, dataset_label=label, split=None, run_paths=files,
                                qrels_path=Path(qrels) if isinstance(qrels, str | Path) else None)
    return build_report(records, baseline=baseline or next(iter(loaded)), measures=names, **options)


def leaderboard(
    *sources: str | Path,
    runs: Mapping[str, RunLike] | Sequence[str | Path] | None = None,
    qrels: QrelsLike | None = None,
    dataset: str | None = None,
    split: str | None = None,
    measures: Sequence[str] | None = None,
    datasets: Sequence[str] | None = None,
    sort: str | None = None,
    alpha: float = 0.05,
    test: str = "randomization",
    correction: str = "holm",
    cost: bool = False,
) -> Leaderboard:
    """A Leaderboard from records (`sources`: results folders, suite folders, committed reports or
    records.jsonl files) and/or `runs` on `qrels` (named `dataset`, default the qrels file's stem, and
    `split`: with the dataset and split of a suite's records and the same qrels, the runs join its column)."""
    from rqbench.board import Options, build_leaderboard, load_records

    records: list[dict[str, Any]] = load_records(sources) if sources else []
    if runs is not None:
        if qrels is None:
            raise RqbenchError("runs need qrels to be evaluated")
        from rqbench.run_files import records_from_runs

        q = _qrels(qrels)
        loaded, files = _runs(runs, q)
        recorded = {str((r.get("system") or {}).get("name") or r["variant"]) for r in records}
        recorded |= {str(r["arm"]) for r in records if r.get("arm")}
        clash = sorted(set(loaded) & recorded)
        if clash:
            raise RqbenchError(f"run name '{clash[0]}' is also a system in the records: name the run otherwise")
        names = list(measures or ("nDCG@10",))
        from rqbench.measures import parse_measure_list

        names = [str(m) for m in parse_measure_list(names)]
        label = _label(qrels, dataset)
        records += records_from_runs(q, loaded, names, dataset_label=label, split=split, run_paths=files,
                                     qrels_path=Path(qrels) if isinstance(qrels, str | Path) else None,
                                     suite="runs")
    if not records:
        raise RqbenchError("nothing to rank: give records (folders or files) or runs with qrels")
    return build_leaderboard(records, Options(measures=measures, datasets=datasets, sort=sort, alpha=alpha,
                                              test=test, correction=correction, cost=cost))


def drilldown(
    qrels: QrelsLike,
    runs: Mapping[str, RunLike] | Sequence[str | Path],
    measure: str = "nDCG@10",
    *,
    dataset: str | None = None,
    split: str | None = None,
    n: int = 10,
    top: int = 3,
    baseline: str | None = None,
) -> PairDetail:
    """Two runs query by query: win / tie / loss, every query's difference, and the `n` queries where they
    differ most with both runs' `top` passages; texts from `dataset` (a name under the data root or a
    folder; its `split`'s queries, default the only or the "test" split) when given. Differences are
    candidate - `baseline` (default: the first run), the sign `compare` and `rqbench compare` use."""
    from rqbench.pair.detail import pair_detail, texts_of

    q = _qrels(qrels)
    loaded, _ = _runs(runs, q)
    queries, corpus = texts_of(dataset, split) if dataset is not None else (None, None)
    label = Path(qrels).stem if isinstance(qrels, str | Path) else (dataset or "qrels")
    base = baseline if baseline is not None else next(iter(loaded), None)
    return pair_detail(loaded, q, measure, label=label, queries=queries, corpus=corpus, n=n, top=top,
                       baseline=base)
