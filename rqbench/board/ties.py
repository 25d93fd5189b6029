"""Statistical tie groups, as IR papers print them: the systems of one column ordered by score, every pair
tested (paired by query), the p-values corrected over the column's pairs, and letters such that two
systems share a letter exactly when they are not significantly different (a compact letter display).

The groups are built by Piepho's insert-absorb (2004): start from one group holding every system; for each
significant pair, replace every group holding both by two copies, one without each; drop any group inside
another. What remains are the maximal sets of mutually tied systems, so every tied pair shares a group
and no significant pair does. Significance need not be transitive (A ~ C, B ~ C, A > B gives "a", "b",
"ab"). Letters go to the groups in the order of their best system ("a" holds the top system).
"""

from __future__ import annotations

import string
from collections.abc import Iterable, Mapping, Sequence
from itertools import combinations

from rqbench.stats import compare_pairs


def letters_for(ordered: Sequence[str], tied: Mapping[tuple[str, str], bool]) -> dict[str, str]:
    """Letters per system from the systems in score order (best first) and `tied[(a, b)]` (either order
    present) for each pair: True when not significantly different."""
    position = {name: i for i, name in enumerate(ordered)}

    def is_tied(a: str, b: str) -> bool:
        return tied.get((a, b), tied.get((b, a), False))

    groups: list[frozenset[str]] = [frozenset(ordered)] if ordered else []
    for a, b in combinations(ordered, 2):
        if is_tied(a, b):
            continue
        split: list[frozenset[str]] = []
        for g in groups:
            split += [g - {a}, g - {b}] if a in g and b in g else [g]
        unique = list(dict.fromkeys(g for g in split if g))
        groups = [g for g in unique if not any(g < other for other in unique)]
    groups.sort(key=lambda g: sorted(position[n] for n in g))
    labels: dict[str, list[str]] = {name: [] for name in ordered}
    for i, group in enumerate(groups):
        for name in sorted(group, key=position.__getitem__):
            labels[name].append(_letter(i))
    sep = "" if len(groups) <= 26 else "."  # past z the labels have two letters: "a.ab" is not "aa.b"
    return {name: sep.join(letters) for name, letters in labels.items()}


def has_two_letter_labels(groups: Iterable[str]) -> bool:
    """Whether any tie-group label has two letters (more than 26 groups: labels are then joined with '.').
    The 27th group's "aa" is someone's label, alone or joined; below 27 groups no letter repeats in a label."""
    return any("." in g or g == "aa" for g in groups)


def _letter(i: int) -> str:
    """a..z, then aa, ab, ... (more than 26 groups in one column)."""
    alphabet = string.ascii_lowercase
    return alphabet[i] if i < len(alphabet) else _letter(i // len(alphabet) - 1) + alphabet[i % len(alphabet)]


def tie_groups(
    per_query: Mapping[str, Mapping[str, float]],
    ordered: Sequence[str],
    measure: str,
    *,
    alpha: float = 0.05,
    test: str = "randomization",
    correction: str = "holm",
    n_resamples: int = 10000,
    seed: int = 0,
) -> dict[str, str]:
    """Letters for the systems in `ordered` (best first), from every pair's paired `test` on their
    per-query values (system -> qid -> value, already aligned), corrected over the pairs."""
    if len(ordered) < 2:
        return {name: "a" for name in ordered}
    pairs = list(combinations(ordered, 2))
    compared = compare_pairs(per_query, pairs, measure, correction=correction, n_resamples=n_resamples,
                             seed=seed, alpha=alpha)
    tied = {pair: not c.significant(alpha, test) for pair, c in compared.items()}
    return letters_for(ordered, tied)
