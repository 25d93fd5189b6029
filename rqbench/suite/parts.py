"""Parts of a suite file that stand on their own: evaluation sets, measure names, variant file names.

Measure names are canonical once a suite is loaded (`MRR@10` -> `RR@10`, `ndcg_cut.10` -> `nDCG@10`), so
records, reports and the CI gate all use ir-measures' names; an unknown measure is a one-line error with
the file and line before any work. Variant names become file names (runs, per-query sidecars): two names
that map to the same file, or a name too long for a file system, are errors at load time.
"""

from __future__ import annotations

import math
import re
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

from rqbench.errors import RqbenchError, did_you_mean

EVALUATION_KEYS = {"name", "dataset", "split", "measures", "exclude_query_id"}
MAX_FILE_NAME_BYTES = 200  # file systems allow 255; sidecars add a hash and an extension


class Where(Protocol):
    def line_of(self, key: str, start: int = 1) -> int | None: ...

    def nth_table(self, header: str, n: int) -> int | None: ...

    def error(self, problem: str, line: int | None = None) -> RqbenchError: ...


@dataclass(frozen=True)
class EvalSet:
    """One evaluation set of a suite: a dataset's split, with its measures."""

    name: str
    dataset: str | dict[str, Any]
    split: str
    measures: list[str]
    exclude_query_id: bool
    line: int | None = None
    dataset_line: int | None = None  # where the dataset is named, when not on `line`
    split_line: int | None = None  # where the split is named, when not on `line`

    def line_of_dataset(self) -> int | None:
        return self.dataset_line or self.line

    def line_of_split(self) -> int | None:
        return self.split_line or self.line



class TextWhere:
    """Finds the line of a key in the raw TOML text, so schema errors can name it (a `Where`)."""

    def __init__(self, path: Path, text: str):
        self.path = path
        self.lines = text.splitlines()

    def line_of(self, key: str, start: int = 1) -> int | None:
        pattern = re.compile(rf'^\s*(\[+\s*)?("?{re.escape(key)}"?)\s*(=|\]|\.)')
        for i in range(max(start, 1) - 1, len(self.lines)):
            if pattern.search(self.lines[i]):
                return i + 1
        pattern = re.compile(rf'[{{,\s]"?{re.escape(key)}"?\s*=')
        for i in range(max(start, 1) - 1, len(self.lines)):
            if pattern.search(self.lines[i]):
                return i + 1
        return None

    def nth_table(self, header: str, n: int) -> int | None:
        seen = -1
        for i, line in enumerate(self.lines):
            if re.match(rf"^\s*\[\[\s*{re.escape(header)}\s*\]\]", line):
                seen += 1
                if seen == n:
                    return i + 1
        return None

    def error(self, problem: str, line: int | None = None) -> RqbenchError:
        return RqbenchError(problem, self.path, line)


def canonical_measures(names: list[str], w: Where, line: int | None) -> list[str]:
    """ir-measures' names for a suite's measure list: any spelling `rqbench.measures.parse_measure_list`
    takes (aliases, trec_eval names, "nDCG@10 P@5" in one string), de-duplicated; unknown or malformed: one
    line with file:line."""
    from rqbench.measures import parse_measure_list

    try:
        return [str(m) for m in parse_measure_list(names)]
    except RqbenchError as exc:
        raise w.error(exc.problem, line) from None


def canonical_measure(name: str, w: Where, line: int | None) -> str:
    """ir-measures' name for one measure (a [check] key); unknown or malformed: one line with file:line."""
    from rqbench.measures import parse_measure

    try:
        return str(parse_measure(name))
    except RqbenchError as exc:
        raise w.error(exc.problem, line) from None


def check_file_names(variants: list[tuple[str, int | None]], w: Where) -> None:
    """Every variant's file name (`records._safe`) is distinct and short enough for a file system."""
    from rqbench.records import _safe

    owner: dict[str, str] = {}
    for name, line in variants:
        file_name = _safe(name)
        if len(file_name.encode("utf-8")) > MAX_FILE_NAME_BYTES:
            raise w.error(f"variant name '{name[:40]}...' is too long for a file name "
                          f"(over {MAX_FILE_NAME_BYTES} bytes)", line)
        if file_name in owner:
            raise w.error(f"variant names '{owner[file_name]}' and '{name}' map to the same file name "
                          f"'{file_name}'; rename one", line)
        owner[file_name] = name


def dataset_label(dataset: str | dict[str, Any]) -> str:
    if isinstance(dataset, dict):
        return str(dataset.get("name") or Path(str(dataset.get("path", "dataset"))).name)
    return Path(dataset.rstrip("/")).name or dataset


def parse_evaluations(raw: Any, dataset: str | dict[str, Any], split: str, measures: list[str], exclude: bool,
                       w: Where, head_keys: Iterable[str] = ()) -> list[EvalSet]:
    """The suite's evaluation sets; `head_keys` are the keys [suite] sets (to point errors at their lines)."""
    suite_line = w.line_of("suite")
    keys = set(head_keys)
    dataset_line = w.line_of("dataset", suite_line or 1) if "dataset" in keys else None
    split_line = w.line_of("split", suite_line or 1) if "split" in keys else None
    if raw is None:
        return [EvalSet(dataset_label(dataset), dataset, split, measures, exclude, suite_line, dataset_line,
                        split_line)]
    if not isinstance(raw, list) or not raw:
        raise w.error("evaluation must be an array of tables ([[evaluation]])", w.line_of("evaluation"))
    out: list[EvalSet] = []
    for i, table in enumerate(raw):
        line = w.nth_table("evaluation", i)
        if not isinstance(table, dict):
            raise w.error("each evaluation must be a table", line)
        for key in table:
            if key not in EVALUATION_KEYS:
                raise w.error(f"unknown evaluation key '{key}'" + did_you_mean(key, EVALUATION_KEYS),
                              w.line_of(key, line or 1))
        ds = table.get("dataset", dataset)
        if not isinstance(ds, str | dict) or (isinstance(ds, str) and not ds.strip()):
            raise w.error("evaluation dataset must be a non-empty string or a table", line)
        ev_measures = table.get("measures", measures)
        if not isinstance(ev_measures, list) or not ev_measures or not all(isinstance(m, str) for m in ev_measures):
            raise w.error("evaluation measures must be a non-empty list of strings", w.line_of("measures", line or 1))
        if "measures" in table:
            ev_measures = canonical_measures(ev_measures, w, w.line_of("measures", line or 1))
        ev_split = table.get("split", split)
        ev_exclude = table.get("exclude_query_id", exclude)
        name = table.get("name", dataset_label(ds))
        if not isinstance(ev_split, str) or not isinstance(ev_exclude, bool) or not isinstance(name, str):
            raise w.error("evaluation split and name must be strings, exclude_query_id true or false", line)
        if not re.fullmatch(r"[A-Za-z0-9][A-Za-z0-9_.-]*", name):
            raise w.error(f"evaluation name '{name}' may use letters, digits, '-', '_' and '.'", line)
        if any(ev.name == name for ev in out):
            raise w.error(f"evaluation name '{name}' is used twice (give each [[evaluation]] a name)", line)
        out.append(EvalSet(name, ds, ev_split, list(ev_measures), ev_exclude, line,
                           w.line_of("dataset", line or 1) if "dataset" in table else dataset_line,
                           w.line_of("split", line or 1) if "split" in table else split_line))
    reject_same_data(out, w)
    return out


def reject_same_data(sets: list[EvalSet], w: Where) -> None:
    """Two evaluation sets on the same dataset (by the name its records carry) and split are one set:
    records, reports and the gate tell sets apart by dataset and split, so the second would overwrite the
    first's results after the whole suite ran. Refused at load, with the one [[evaluation]] to write."""
    seen: dict[tuple[str, str], EvalSet] = {}
    for ev in sets:
        key = (record_dataset_name(ev.dataset), ev.split)
        first = seen.setdefault(key, ev)
        if first is not ev:
            measures = ", ".join(f'"{m}"' for m in dict.fromkeys([*first.measures, *ev.measures]))
            raise w.error(f"evaluation sets '{first.name}' and '{ev.name}' both evaluate {key[0]} ({key[1]}), which "
                          f"results cannot tell apart; make them one [[evaluation]] with measures = [{measures}], "
                          "or give one dataset its own name", ev.line)


def record_dataset_name(dataset: str | dict[str, Any]) -> str:
    """The dataset name a record will carry (as `rqbench.data.resolve` names it), without reading data:
    a folder's own name, else the name as written (a short name under the data root, an ir_datasets id)."""
    if isinstance(dataset, dict):
        location = str(dataset.get("path", ""))
        if dataset.get("name"):
            return str(dataset["name"])
        return location if dataset.get("format") == "irds" else _folder_name(location)
    return _folder_name(dataset)


def _folder_name(location: str) -> str:
    path = Path(location).expanduser()
    return path.resolve().name if path.is_dir() else location


def check_tolerance(table: dict[str, Any], default: float, w: Where) -> float:
    """[check] tolerance: a finite number >= 0 (`inf` would pass any drop, a negative one fail any run)."""
    value = table.get("tolerance", default)
    if not finite_number(value, minimum=0):
        raise w.error(f"[check] tolerance must be a finite number >= 0, got {value!r}",
                      w.line_of("tolerance", w.line_of("check") or 1))
    return float(value)


def finite_number(value: Any, minimum: float | None = None) -> bool:
    """True for a finite int or float (never a bool, inf or nan), at least `minimum` when given."""
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
        return False
    return minimum is None or value >= minimum


def reject_unknown(table: dict[str, Any], allowed: set[str], w: Where, what: str) -> None:
    for key in table:
        if key not in allowed:
            raise w.error(f"unknown {what} '{key}'" + did_you_mean(key, allowed), w.line_of(key))
