"""Statistical tie groups, as IR papers print them: the systems of one column ordered by score, every pair
tested (paired by query), the p-values corrected over the column's pairs, and each maximal run of
consecutive systems with no significant difference among them given a letter ("a" for the run holding
the best system). A system may carry several letters; two systems sharing a letter are not significantly
different; two systems with no letter in common are.

Runs of consecutive systems are the "lines under the means" display: significance need not be transitive
(A ~ B, B ~ C, A > C gives "a", "ab", "b"), and the letters say exactly which pairs are tied.
"""

from __future__ import annotations

import string
from collections.abc import Mapping, Sequence
from itertools import combinations

from rqbench.stats import compare_pairs


def letters_for(ordered: Sequence[str], tied: Mapping[tuple[str, str], bool]) -> dict[str, str]:
    """Letters per system from the systems in score order (best first) and `tied[(a, b)]` (either order
    present) for each pair: True when not significantly different."""
    n = len(ordered)

    def is_tied(a: str, b: str) -> bool:
        return tied.get((a, b), tied.get((b, a), False))

    ends = []
    for i in range(n):  # the furthest j such that ordered[i..j] is pairwise tied
        j = i
        while j + 1 < n and all(is_tied(ordered[k], ordered[j + 1]) for k in range(i, j + 1)):
            j += 1
        ends.append(j)
    out = {name: "" for name in ordered}
    letter = 0
    for i, j in enumerate(ends):
        if i > 0 and j <= ends[i - 1]:  # contained in the previous run
            continue
        mark = _letter(letter)
        letter += 1
        for k in range(i, j + 1):
            out[ordered[k]] += mark
    return out


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
