"""Measure names as people write them, turned into ir-measures' spelling: ir-measures names, paper aliases
(`MRR@10`, `Hit@10`), any of them in any case (`ndcg@10`, `mAp`), and trec_eval's names (`ndcg_cut.10`,
`ndcg_cut_10`, `recip_rank`, `P_5`, `iprec_at_recall_0.10`, `set_F.0.5`, ...).

`to_ir_measures` only rewrites text; `rqbench.measures.parse_measure` hands the result to ir-measures, which
validates it and gives the canonical name (`str(measure)`). `split_measures` splits one argument such as
"nDCG@10 P@5" or "nDCG@10,R(rel=2)@1000" into names (whitespace and commas outside parentheses).
"""

from __future__ import annotations

import difflib
import re
from collections.abc import Iterator
from functools import cache

# Common spellings in papers, mapped to ir-measures' names (matched without regard to case).
ALIASES = {
    "MRR": "RR",
    "Recall": "R",
    "Hit": "Success",
    "HitRate": "Success",
    "Hit_Rate": "Success",  # ranx's hit_rate@k
    "Hits": "Success",
    "NDCG": "nDCG",
    "MAP": "AP",
    "Precision": "P",
}

# trec_eval's measure stems -> (ir-measures name without a parameter, template with one). A parameter follows
# the stem after '.' or '_' (`ndcg_cut.10`, `ndcg_cut_10`); None: that form does not exist (trec_eval's `P`
# alone means P at nine cutoffs; here it asks for one).
TREC_EVAL_NAMES: dict[str, tuple[str | None, str | None]] = {
    "map": ("AP", None),
    "map_cut": (None, "AP@{}"),
    "ndcg": ("nDCG", None),
    "ndcg_cut": (None, "nDCG@{}"),
    "P": (None, "P@{}"),
    "recall": (None, "R@{}"),
    "success": (None, "Success@{}"),
    "recip_rank": ("RR", "RR@{}"),
    "Rprec": ("Rprec", None),
    "bpref": ("Bpref", None),
    "infAP": ("infAP", None),
    "iprec_at_recall": (None, "IPrec@{}"),
    "num_q": ("NumQ", None),
    "num_ret": ("NumRet", None),
    "num_rel": ("NumRel", None),
    "num_rel_ret": ("NumRet(rel=1)", None),
    "set_P": ("SetP", None),
    "set_relative_P": ("SetP(relative=True)", None),
    "set_recall": ("SetR", None),
    "set_map": ("SetAP", None),
    "set_F": ("SetF", "SetF(beta={})"),
    "judged": ("Judged", "Judged@{}"),  # not trec_eval's: ir-measures' Judged@k as PyTerrier users write it
}
# Stems whose parameter may be fractional (a recall level, an F beta); the others take whole-number cutoffs.
FRACTIONAL_PARAMETER = {"iprec_at_recall", "set_F"}
# trec_eval measures that ir-measures does not compute.
TREC_EVAL_UNSUPPORTED = {"gm_map", "gm_bpref", "11pt_avg", "Rndcg", "ndcg_rel", "binG", "G", "utility",
                         "relative_P", "Rprec_mult", "num_nonrel_judged_ret", "relstring", "runid"}
EXAMPLES = "e.g. nDCG@10, RR@10, R@100, AP, P@5, or trec_eval's ndcg_cut.10, recip_rank, map"

# a name with an optional numeric parameter after '.' or '_': `ndcg_cut_10` -> ("ndcg_cut", "10")
TREC_FORM = re.compile(r"(\w+?)(?:[._](\d+(?:\.\d+)?))?")
_HEAD = re.compile(r"[^\W\d]\w*")
_NUMBER = re.compile(r"\d+(?:\.\d+)?")
_CUTOFF_TAIL = re.compile(r"(.*?[@._])(\d+(?:\.\d+)?)")
_UNSUPPORTED = frozenset(stem.lower() for stem in TREC_EVAL_UNSUPPORTED)
# a cutoff written before the parameters, `MRR@10(rel=2)`: ir-measures wants `RR(rel=2)@10`
_CUTOFF_FIRST = re.compile(r"([^\W\d]\w*)\s*@\s*(\d+)\s*\((.*)\)\s*")


class UnknownName(ValueError):
    """A name that is no measure; `hint` is " (did you mean 'x'?)" or a few examples."""

    def __init__(self, problem: str, hint: str = ""):
        super().__init__(problem)
        self.problem = problem
        self.hint = hint


def to_ir_measures(text: str) -> str:
    """ir-measures' spelling of one measure name (not yet validated by ir-measures); UnknownName if the
    name's stem is no measure in any of the accepted vocabularies."""
    registry = _registry()
    misplaced = _CUTOFF_FIRST.fullmatch(text)
    if misplaced and (misplaced.group(1) in registry or misplaced.group(1).lower() in _ir_names()):
        raise UnknownName("malformed", _reordered(*misplaced.groups()))
    trec = TREC_FORM.fullmatch(text)
    if trec:
        stem, arg = trec.groups()
        if not (stem in registry and arg is None):  # exact ir-measures names win ("P", "Rprec", "Judged")
            translated = _from_trec(stem, arg)
            if translated is not None:
                return translated
    head = _HEAD.match(text)
    if head is None:
        raise UnknownName("malformed", f" ({EXAMPLES})")
    name, rest = head.group(0), text[head.end():]
    if name in registry:
        return text
    resolved = _ir_names().get(name.lower())
    if resolved is None:
        stem = trec.group(1) if trec else name
        raise UnknownName("unknown", suggest(stem, trec_first=trec is not None, rest=text[len(stem):]))
    return resolved + rest


def _from_trec(stem: str, arg: str | None) -> str | None:
    """A trec_eval name (any case) in ir-measures' spelling; `<ir-measures name>_N` as `<name>@N`; None: neither."""
    key = stem.lower()
    if key in _UNSUPPORTED:
        raise UnknownName("unknown", f" (trec_eval's '{stem}' has no ir-measures equivalent; {EXAMPLES})")
    spelled = _trec_names().get(key)
    if spelled is None:
        ir_name = _ir_names().get(key)
        return f"{ir_name}@{arg}" if ir_name is not None and arg is not None else None
    plain, template = TREC_EVAL_NAMES[spelled]
    if arg is None:
        if plain is None:
            raise UnknownName("malformed", f" (trec_eval's '{spelled}' needs a cutoff, as in {spelled}.10)")
        return plain
    if template is None:
        with_cut = f"{spelled}_cut"
        instead = f"; use {with_cut}.{arg}" if with_cut in TREC_EVAL_NAMES else ""
        raise UnknownName("malformed", f" (trec_eval's '{spelled}' takes no parameter{instead})")
    if spelled in FRACTIONAL_PARAMETER:
        return template.format(float(arg))
    if "." in arg:
        raise UnknownName("malformed", f" (the cutoff of '{spelled}' must be a whole number)")
    return template.format(arg)


def _reordered(name: str, cutoff: str, params: str) -> str:
    """The hint for `name@cutoff(params)` (a known name): " (did you mean 'RR(rel=2)@10'?)" when that spelling,
    with the name in ir-measures' form, is a valid measure; else where the parameters go, and which it takes."""
    import ir_measures

    canonical = name if name in _registry() else _ir_names()[name.lower()]
    candidate = f"{canonical}({params.strip()})@{cutoff}"
    try:
        measure = ir_measures.parse_measure(candidate)
    except (NameError, ValueError, TypeError, SyntaxError, KeyError):
        return f" (the parameters come before the cutoff, as in {canonical}(rel=2)@{cutoff})"
    unknown = sorted(set(measure.params) - set(measure.SUPPORTED_PARAMS))
    if unknown:
        return (f" (the cutoff goes last, as in '{candidate}', but {measure.NAME} has no parameter "
                f"{', '.join(unknown)}; it takes {', '.join(sorted(measure.SUPPORTED_PARAMS))})")
    return f" (did you mean '{measure}'?)"


def suggest(stem: str, trec_first: bool = False, rest: str = "") -> str:
    """" (did you mean 'x'?)" for the closest known name, whatever its case; else a few examples. trec_first:
    show trec_eval's spelling where a name is both (the user wrote `ndcg_cutt.10`, not `nDGC@10`). `rest` (the
    cutoff or parameters the user wrote after the name) is kept in the suggestion: 'nDGC@10' -> 'nDCG@10'."""
    names = {**_display(), **_trec_names()} if trec_first else {**_trec_names(), **_display()}
    close = difflib.get_close_matches(stem.lower(), list(names), n=1, cutoff=0.5)
    if not close:
        return f" ({EXAMPLES})"
    name = names[close[0]]
    if name in TREC_EVAL_NAMES and rest.startswith("@"):  # 'recip_rank@10': say it in ir-measures' spelling
        plain, template = TREC_EVAL_NAMES[name]
        name, rest = (template.format(rest[1:]), "") if template else (plain or name, rest)
    return f" (did you mean '{name}{rest}'?)"


def split_measures(text: str) -> Iterator[str]:
    """The names in one argument: separated by whitespace or commas outside parentheses. A bare number after
    a name with a cutoff is another cutoff of that name (trec_eval's `ndcg_cut.5,10`, also `nDCG@5,10`).
    ValueError for unbalanced parentheses or a number with no name before it."""
    piece: list[str] = []
    depth = 0
    previous: str | None = None
    comma = after_comma = False  # a comma since the last name; one before the name being read
    for char in text + " ":
        if char == "(":
            depth += 1
        elif char == ")":
            depth -= 1
            if depth < 0:
                raise ValueError(f"unbalanced parentheses in '{text}'")
        if depth or not (char.isspace() or char == ","):
            if not piece:
                after_comma, comma = comma, False
            piece.append(char)
            continue
        comma = comma or char == ","
        if piece:
            name = "".join(piece)
            if _NUMBER.fullmatch(name):
                tail = _CUTOFF_TAIL.fullmatch(previous or "") if after_comma else None
                if tail is None:
                    raise ValueError(f"'{name}' is not a measure (a list of cutoffs follows a name and a comma, "
                                     "as in ndcg_cut.5,10)")
                name = tail.group(1) + name
            yield name
            previous, piece = name, []
    if depth:
        raise ValueError(f"unbalanced parentheses in '{text}'")


@cache
def _registry() -> frozenset[str]:
    import ir_measures

    return frozenset(ir_measures.measures.registry)


@cache
def _ir_names() -> dict[str, str]:
    """Lower-cased ir-measures names and aliases -> a spelling ir-measures parses."""
    return {**{name.lower(): name for name in _registry()}, **{k.lower(): v for k, v in ALIASES.items()}}


@cache
def _trec_names() -> dict[str, str]:
    """Lower-cased trec_eval stems -> trec_eval's spelling (`set_p` -> `set_P`)."""
    return {stem.lower(): stem for stem in TREC_EVAL_NAMES}


@cache
def _display() -> dict[str, str]:
    """Lower-cased ir-measures names and aliases -> the spelling to suggest (the measure's own NAME where
    only the case differs: `ndcg` -> `nDCG`, `bpref` -> `Bpref`)."""
    import ir_measures

    out = {}
    for name, measure in ir_measures.measures.registry.items():
        own = str(getattr(measure, "NAME", name))
        out[name.lower()] = own if own.lower() == name.lower() else name
    return {**{k.lower(): k for k in ALIASES}, **out}
