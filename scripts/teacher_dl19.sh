#!/usr/bin/env bash
# The DL19 audit of RocketQA's denoising premise (reports/teacher-dl19/negatives-audit.md + .json), from the shared
# data only (no model, no training, well under two minutes of CPU):
#  (a) the 43 TREC DL19 queries split at random (seed --seed) into a fit half (21) and an audit half (22);
#  (b) teachers = calibrated fusions (rqbench fuse --method calibrated) of published runs, fitted on the fit half
#      (one fit per relevance level) and applied to the audit half's queries;
#  (c) rqbench audit-negatives on the audit half: each published run as the miner, depth 50 (RocketQA's scan) and
#      10, one positive kept per query, relevant = grade >= 2 (TREC DL's binary relevance) and >= 1.
# The reading of the figures is reports/teacher-dl19/findings.md (a person's, not generated), included as it is.
# Usage: bash scripts/teacher_dl19.sh [--data-root DIR] [--seed N] [--out DIR]
set -euo pipefail
cd "$(dirname "$0")/.."
[ -n "${VIRTUAL_ENV:-}" ] || . .venv/bin/activate
data_root="${RQBENCH_DATA:-../shared/data}"
seed=0
out=reports/teacher-dl19
while [ $# -gt 0 ]; do
  case "$1" in
    --data-root) data_root="${2:?--data-root needs a folder}"; shift 2 ;;
    --seed) seed="${2:?--seed needs a number}"; shift 2 ;;
    --out) out="${2:?--out needs a folder}"; shift 2 ;;
    *) echo "usage: bash scripts/teacher_dl19.sh [--data-root DIR] [--seed N] [--out DIR]" >&2; exit 2 ;;
  esac
done
dl19="$data_root/msmarco-dl19"
[ -f "$dl19/qrels.dl19.txt" ] || { echo "no $dl19/qrels.dl19.txt: give --data-root (the shared data folder)" >&2; exit 2; }
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
mkdir -p "$out/models" "$out/audits"

# (a) the split: random.Random(seed).sample of the sorted query ids, half of them (rounded down) to fit on
python - "$dl19/qrels.dl19.txt" "$seed" "$work" "$out/split.json" <<'EOF'
import json, random, sys
from rqbench.types import read_qrels, write_qrels
qrels, seed, work, split = read_qrels(sys.argv[1]), int(sys.argv[2]), sys.argv[3], sys.argv[4]
fit = set(random.Random(seed).sample(sorted(qrels), len(qrels) // 2))
write_qrels({q: j for q, j in qrels.items() if q in fit}, f"{work}/qrels.fit.txt")
write_qrels({q: j for q, j in qrels.items() if q not in fit}, f"{work}/qrels.audit.txt")
with open(split, "w") as fh:
    json.dump({"seed": seed, "rule": "fit = random.Random(seed).sample(sorted(qids), len(qids) // 2)",
               "fit": sorted(fit), "audit": sorted(set(qrels) - fit)}, fh, indent=2)
    fh.write("\n")
EOF

runs="$dl19/runs"
bm25="$runs/bm25.dl19.trec"; rm3="$runs/bm25-rm3.dl19.trec"; tasb="$runs/d-bert-kd-tasb.dl19.trec"
ada2="$runs/open-ai-ada2.dl19.trec"; splade="$runs/splade-p-p-ensemble-distil.dl19.trec"
declare -A members=( ["cal-bm25+tasb"]="$bm25 $tasb" ["cal-bm25+tasb+splade+ada2"]="$bm25 $tasb $splade $ada2" )

# (b) the teachers: fit on the fit half (--save-model), apply the saved fit (--model); the in-sample run is dropped
for rel in 2 1; do
  mkdir -p "$work/rel$rel"
  for teacher in "cal-bm25+tasb" "cal-bm25+tasb+splade+ada2"; do
    model="$out/models/$teacher.rel$rel.json"
    # shellcheck disable=SC2086
    rqbench fuse ${members[$teacher]} --method calibrated --rel "$rel" --fit-qrels "$work/qrels.fit.txt" \
      --save-model "$model" --out "$work/in-sample.trec" >/dev/null 2>&1
    # shellcheck disable=SC2086
    rqbench fuse ${members[$teacher]} --method calibrated --model "$model" --out "$work/rel$rel/$teacher.trec" >/dev/null
  done
done

# (c) the audits: every published run as the miner, both teachers of the same relevance level
for depth in 50 10; do
  for rel in 2 1; do
    rqbench audit-negatives "$work/qrels.audit.txt" "$bm25" "$rm3" "$tasb" "$ada2" "$splade" \
      --teacher "$work/rel$rel/cal-bm25+tasb.trec" --teacher "$work/rel$rel/cal-bm25+tasb+splade+ada2.trec" \
      --depth "$depth" --keep 1 --rel "$rel" --seed "$seed" --threshold 0.1 \
      --out "$out/audits/depth$depth-rel$rel.json" >/dev/null
  done
done

# the report: figures from the audits, the teachers' calibration on the audit half, then findings.md
python - "$out" "$work" <<'EOF'
import json, sys
from pathlib import Path
from rqbench.calibration import calibration_of
from rqbench.negatives_audit import markdown_tables
from rqbench.types import read_qrels, read_trec_run

out, work = Path(sys.argv[1]), Path(sys.argv[2])
split = json.loads((out / "split.json").read_text())
audit_qrels = read_qrels(work / "qrels.audit.txt")
lines = ["# Mined hard negatives on TREC DL19: false negatives and calibrated-fusion teachers", "",
         "Made by `bash scripts/teacher_dl19.sh` from the shared data only (published runs, official qrels; no model,",
         "no training). RocketQA (arXiv 2010.08191, section 4.2) denoises hard negatives because a retriever's top-k",
         "\"negatives\" hold unlabelled relevant passages, and removes a candidate when a teacher's P(relevant) >= 0.1.",
         "DL19's judgments are deep enough to check this: per query all relevant passages but one (seeded) are",
         "hidden, each published run's top-k minus the kept passage is mined as negatives, and each mined negative",
         "is a **hidden positive** (a false negative), **judged non-relevant** (grade below the relevance level;",
         "at grade >= 2 this includes the grade-1 \"related\" passages) or **unjudged** (outside the DL19 pool).", "",
         f"- Queries: the 43 DL19 queries split with seed {split['seed']} (`split.json`): {len(split['fit'])} to fit",
         f"  the teachers, {len(split['audit'])} audited (every one has a passage graded 2 or more).",
         "- Teachers: `rqbench fuse --method calibrated` (a logistic regression over z-scored member scores and",
         "  \"retrieved\" indicators) of BM25 + TAS-B and of BM25 + TAS-B + SPLADE++ + ada2, fitted on the fit half at",
         "  the audit's relevance level (`models/`), applied to the audited queries. A teacher scores only passages its",
         "  members retrieved (top-100 each); a mined negative it never scored is kept (P = 0): `unscored`.",
         "- A removal at random has precision equal to the FN rate: a teacher helps only where its precision is",
         "  well above it. Precision = hidden positives removed / removed; recall = hidden positives removed /",
         "  hidden positives among the mined negatives; `judged` = judged non-relevant removed (true hard negatives",
         "  lost); FN rate after = hidden positives left / negatives left.", ""]
lines += ["## Teachers' calibration on the audited queries (held out from their fit)", "",
          "| teacher | relevant = | fitted on (queries, pairs, relevant) | ECE on the audit half | Brier | pairs |",
          "|---|---|---|---:|---:|---:|"]
for rel in (2, 1):
    for teacher in ("cal-bm25+tasb", "cal-bm25+tasb+splade+ada2"):
        model = json.loads((out / "models" / f"{teacher}.rel{rel}.json").read_text())
        run = {q: docs for q, docs in read_trec_run(work / f"rel{rel}" / f"{teacher}.trec").items() if q in audit_qrels}
        cal = calibration_of(run, audit_qrels, rel=rel)
        lines.append(f"| {teacher} | grade >= {rel} | {model['fitted_queries']}, {model['fitted_pairs']}, "
                     f"{model['fitted_positives']} | {cal['ece']:.4f} | {cal['brier']:.4f} | {cal['pairs']} |")
combined = {"split": split, "audits": {}}
for depth in (50, 10):
    for rel in (2, 1):
        data = json.loads((out / "audits" / f"depth{depth}-rel{rel}.json").read_text())
        data["qrels"] = "msmarco-dl19/qrels.dl19.txt, the audited queries of split.json"  # not the temp path
        for teacher in data["teachers"]:
            teacher["path"] = f"models/{Path(teacher['path']).stem}.rel{rel}.json applied to its members' runs"
        combined["audits"][f"depth{depth}-rel{rel}"] = data
        names = [(r["name"], r["audit"]) for r in data["runs"]]
        lines += ["", f"## Depth {depth}, relevant = grade >= {rel}", "", markdown_tables(names).rstrip()]
findings = out / "findings.md"
if findings.exists():
    lines += ["", findings.read_text().rstrip()]
(out / "negatives-audit.md").write_text("\n".join(lines) + "\n")
(out / "negatives-audit.json").write_text(json.dumps(combined, indent=1) + "\n")
print(f"wrote {out}/negatives-audit.md and negatives-audit.json")
EOF
rm -rf "$out/audits"
