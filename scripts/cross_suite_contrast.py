"""A paired contrast between arms of two committed reports (the same dataset and split), from their per-query files.

A suite's report contrasts its own arms; an arm of another suite (RocketQA v1's MD2 beside RocketQAv2's
retriever) is compared here: each arm's per-query values averaged over the given seeds, then the paired
randomization test and bootstrap CI of `rqbench.stats.paired_compare` (10,000 resamples, seed 0), uncorrected
(say how many such tests a finding rests on). Both reports must hold every seed and the same queries.

    python scripts/cross_suite_contrast.py rocketqav2-scifact:v2@scifact rocketqa-scifact-gated:md2-t@scifact \\
        -m nDCG@10 --seeds 13 14
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def arm_values(ref: str, seeds: list[int], measure: str, reports: Path) -> dict[str, float]:
    """REPORT:ARM@EVALUATION -> query id -> the arm's value averaged over `seeds`."""
    report, _, rest = ref.partition(":")
    arm, _, evaluation = rest.partition("@")
    folder = reports / report / "records"
    records = [json.loads(line) for line in (folder / "records.jsonl").read_text(encoding="utf-8").splitlines()]
    per: dict[str, list[float]] = {}
    for seed in seeds:
        name = f"{arm}[seed={seed}]"
        mine = [r for r in records
                if r["variant"] == name and (r.get("evaluation") or {}).get("name", "") == evaluation]
        if not mine:
            sys.exit(f"cross_suite_contrast: {folder}: no record of {name} on '{evaluation}'")
        values = json.loads((folder / mine[-1]["per_query_file"]).read_text(encoding="utf-8"))[measure]
        for qid, value in values.items():
            per.setdefault(qid, []).append(float(value))
    if any(len(v) != len(seeds) for v in per.values()):
        sys.exit(f"cross_suite_contrast: {ref}: the seeds were evaluated on different queries")
    return {qid: sum(v) / len(v) for qid, v in per.items()}


def main() -> int:
    from rqbench.stats import paired_compare

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("a", help="REPORT:ARM@EVALUATION")
    parser.add_argument("b", help="REPORT:ARM@EVALUATION (the baseline)")
    parser.add_argument("-m", "--measure", default="nDCG@10")
    parser.add_argument("--seeds", type=int, nargs="+", required=True)
    parser.add_argument("--reports", type=Path, default=ROOT / "reports")
    args = parser.parse_args()
    a = arm_values(args.a, args.seeds, args.measure, args.reports)
    b = arm_values(args.b, args.seeds, args.measure, args.reports)
    if set(a) != set(b):
        sys.exit("cross_suite_contrast: the two arms were evaluated on different queries")
    c = paired_compare(a, b, args.measure, seed=0)
    print(f"{args.a} - {args.b} {args.measure} (seeds {' '.join(map(str, args.seeds))}, {c.n} queries): "
          f"{c.mean_a:.4f} vs {c.mean_b:.4f}, {c.diff:+.4f} [{c.ci_low:+.4f}, {c.ci_high:+.4f}], "
          f"randomization p {c.rand_p:.4f}, wins/ties/losses {c.wins}/{c.ties}/{c.losses}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
