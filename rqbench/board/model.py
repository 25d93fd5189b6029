"""The leaderboard's data: systems x columns, where a column is one measure on one evaluation set
("dataset (split)"), with ranks, statistical tie groups, a mean per measure over the evaluation sets, and
what each system cost to build.

Built from records (`build_leaderboard`) or from run files (`rqbench.api.leaderboard`); rendered by
`rqbench.board.render` (terminal, Markdown, CSV, JSON, pandas) and `rqbench.board.html` (one page).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from rqbench.board.cost import COST_FIELDS


@dataclass(frozen=True, order=True)
class Column:
    """One measure on one evaluation set."""

    dataset: str  # "name (split)"
    measure: str  # canonical measure name (RR@10, nDCG@10, R(rel=2)@100, ...)

    @property
    def label(self) -> str:
        return f"{self.dataset} {self.measure}"


@dataclass(frozen=True)
class Cell:
    """A system's value in a column: the mean over the column's queries, a query the system did not
    answer (or was not evaluated on) scoring 0, so that every system in a column is averaged over the same
    queries."""

    value: float
    rank: int  # 1 = best; equal values share a rank (1, 2, 2, 4)
    groups: str  # tie-group letters ("a", "ab"; past 26 groups "z.aa"): sharing one = not significantly different
    n_queries: int  # the column's queries
    missing: int  # of those, how many this system has no value for (scored 0)
    sd: float | None = None  # spread over seeds for a multi-seed arm (sample sd of the seed means)
    paired: bool = True  # False: no per-query values were found; the record's mean is shown, no groups


@dataclass(frozen=True)
class System:
    """A leaderboard row: a suite variant or arm, or a run file."""

    name: str
    suites: tuple[str, ...] = ()
    backend: str = ""
    description: str = ""
    about: dict[str, Any] = field(default_factory=dict)  # a suite's [variants.about]: paper, model size, notes
    seeds: tuple[Any, ...] = ()  # the seeds averaged, for a multi-seed arm
    cost: dict[str, float] = field(default_factory=dict)  # COST_FIELDS -> value, where the records have it
    hardware: str = ""  # what the cost was measured on ("AMD EPYC x2", "... + NVIDIA H200")




@dataclass(frozen=True)
class Leaderboard:
    """Systems (rows, in ranking order) x columns, plus a mean per measure over the evaluation sets for
    each system that has every one of them."""

    columns: list[Column]
    systems: list[System]
    cells: dict[tuple[str, Column], Cell]  # (system name, column) -> cell; absent: not evaluated there
    means: dict[str, dict[str, float]]  # measure -> system name -> mean over every evaluation set
    sort_key: str  # what the rows are ordered by: a column label or "mean <measure>"
    order_note: str = ""  # the sentence stating the order, rows without the key included (`rqbench.board.order`)
    alpha: float = 0.05
    test: str = "randomization"
    correction: str = "holm"
    notes: list[str] = field(default_factory=list)  # alignment, seeds, unpaired systems
    conflicts: list[str] = field(default_factory=list)  # one line per name that evaluated different runs
    show_cost: bool = True  # render the cost columns (`cost_fields`)

    @property
    def datasets(self) -> list[str]:
        return list(dict.fromkeys(c.dataset for c in self.columns))

    @property
    def measures(self) -> list[str]:
        return list(dict.fromkeys(c.measure for c in self.columns))

    def cell(self, system: str, column: Column) -> Cell | None:
        return self.cells.get((system, column))

    def system(self, name: str) -> System:
        return next(s for s in self.systems if s.name == name)

    @property
    def sort_label(self) -> str:
        """The sort key in words: "mean nDCG@10" or "nDCG@10 on scifact (test)"."""
        column = next((c for c in self.columns if c.label == self.sort_key), None)
        return f"{column.measure} on {column.dataset}" if column else self.sort_key

    @property
    def order_sentence(self) -> str:
        """The legend's sentence on the order: `order_note`, or "Ordered by <sort_label>." without one."""
        return self.order_note or f"Ordered by {self.sort_label}."

    def has_mean(self) -> bool:
        """A mean column is shown only where there is more than one evaluation set to average."""
        return len(self.datasets) > 1

    def cost_fields(self) -> list[str]:
        """The cost fields some system has a value for, in COST_FIELDS order (none unless `show_cost`)."""
        if not self.show_cost:
            return []
        return [f for f in COST_FIELDS if any(f in s.cost for s in self.systems)]

    # renderers (imported lazily: the model stays free of rich, pandas and jinja)
    def to_markdown(self) -> str:
        from rqbench.board.render import to_markdown

        return to_markdown(self)

    def to_csv(self) -> str:
        from rqbench.board.render import to_csv

        return to_csv(self)

    def to_dict(self) -> dict[str, Any]:
        from rqbench.board.render import to_dict

        return to_dict(self)

    def to_frame(self) -> Any:
        """A pandas DataFrame: one row per system, a column per (evaluation set, measure) value, its rank
        and its tie groups, the means and the costs."""
        from rqbench.board.render import to_frame

        return to_frame(self)

    def _repr_markdown_(self) -> str:  # Jupyter shows the Markdown
        return self.to_markdown()

    def to_html(self) -> str:
        """One self-contained HTML page: a sortable table and figures, no external resource."""
        from rqbench.board.html import to_html

        return to_html(self)
