"""Which judged queries a run answers, and the checks `eval` and `compare` make before scoring.

A run whose query ids do not match the qrels (ids written as `q1` against qrels `1`, a run of another
split, a run cut short) scores silently low under trec_eval's conventions. rqbench refuses a run that
leaves judged queries unanswered (exit 2) unless the user says `--allow-partial`; then those score 0
(trec_eval -c). Run queries without judgements are ignored, as trec_eval does (TREC runs cover the whole
topic set, of which a subset is judged), and counted. The counts are always reported.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from rqbench.errors import RqbenchError
from rqbench.types import Qrels, Run, iter_lines


@dataclass(frozen=True)
class Coverage:
    judged: int  # queries in the qrels
    answered: int  # judged queries the run has results for
    unjudged: tuple[str, ...]  # run queries the qrels do not judge (ignored), sorted

    @property
    def complete(self) -> bool:
        return self.answered == self.judged and not self.unjudged

    def text(self) -> str:
        """'answers 9 of 10 judged queries (1 scores 0); 2 run queries have no qrels (ignored)'."""
        words = f"answers {self.answered} of {self.judged} judged queries"
        if self.answered < self.judged:
            words += f" ({self.judged - self.answered} score 0)"
        if self.unjudged:
            words += f"; {len(self.unjudged)} run queries have no qrels (ignored)"
        return words

    def as_dict(self) -> dict[str, int]:
        return {"judged": self.judged, "answered": self.answered, "unjudged_in_run": len(self.unjudged)}


def coverage_of(run: Run, qrels: Qrels) -> Coverage:
    return Coverage(len(qrels), len(set(run) & set(qrels)), tuple(sorted(set(run) - set(qrels))))


def require_coverage(coverage: Coverage, run: Run, qrels: Qrels, run_path: str | Path, allow_partial: bool) -> None:
    """A one-line error (exit 2) when the run's query ids do not match the qrels, unless `allow_partial`."""
    if coverage.answered == coverage.judged or allow_partial:
        return
    if coverage.answered == 0:
        problem = (f"no query id of the run is in the qrels (run: {_examples(run)}; qrels: {_examples(qrels)})"
                   + _prefix_hint(run, qrels))
    else:
        problem = coverage.text()
        if coverage.unjudged:
            problem += f" (e.g. {', '.join(coverage.unjudged[:3])})"
    raise RqbenchError(problem + "; --allow-partial scores it anyway (unanswered judged queries score 0)", run_path)


def _examples(ids: Run | Qrels, n: int = 3) -> str:
    return ", ".join(sorted(ids)[:n]) + (", ..." if len(ids) > n else "")


def _prefix_hint(run: Run, qrels: Qrels) -> str:
    """' (the run's ids carry a prefix 'q')' when stripping one common prefix would make them match."""
    prefixes = {qid[: len(qid) - len(q)] for qid in run for q in qrels if qid.endswith(q) and qid != q}
    for prefix in sorted(prefixes, key=len):
        if {qid[len(prefix):] for qid in run if qid.startswith(prefix)} & set(qrels):
            return f" (the run's ids look like the qrels' with a prefix '{prefix}')"
    return ""


def looks_like(path: str | Path) -> str | None:
    """'run' (6 columns, Q0), 'qrels' (4 columns ending in a whole number, or 3 tab-separated) or None, from
    the first line with content; used only to explain a parse error."""
    try:
        for _, line in iter_lines(path):
            if not line.strip():
                continue
            parts = line.split()
            if len(parts) == 6:
                return "run"
            tabbed = line.split("\t")
            if len(parts) == 4 and parts[3].lstrip("-").isdigit():
                return "qrels"
            if len(tabbed) == 3 or parts[:1] in (["query-id"], ["qid"]):
                return "qrels"
            return None
    except (RqbenchError, OSError):
        return None
    return None


def swapped_hint(qrels_path: Path, run_path: Path) -> str | None:
    """The one-line error for files given in the wrong order, or None when they do not look swapped."""
    if looks_like(qrels_path) == "run" and looks_like(run_path) == "qrels":
        return (f"'{qrels_path}' looks like a run and '{run_path}' like qrels: give QRELS first, then the runs "
                "(trec_eval's and ir_measures' order)")
    return None
