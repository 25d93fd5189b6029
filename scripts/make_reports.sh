#!/usr/bin/env bash
# Regenerates the committed reports in reports/: runs every reference suite (cached artifacts are reused),
# renders its report from the records, and times the smoke suite cold (fresh store) and cached.
# Usage: bash scripts/make_reports.sh [--dense | --rocketqa | --only SUITE | --render-only]   (from a clean checkout,
# so records carry a clean git revision; --only renders that one suite's report, then the leaderboards;
# --render-only re-renders every committed report from its committed records, running nothing: after a change to
# the report's layout)
set -euo pipefail
cd "$(dirname "$0")/.."
[ -n "${VIRTUAL_ENV:-}" ] || . .venv/bin/activate
export RQBENCH_DATA="${RQBENCH_DATA:-../shared/data}"
results=$(mktemp -d)
trap 'rm -rf "$results"' EXIT

if [ "${1:-}" = "--render-only" ]; then
  for records in reports/*/records/records.jsonl; do
    folder=$(dirname "$(dirname "$records")"); suite=$(basename "$folder")
    [ -f "suites/$suite.toml" ] || continue
    mkdir -p "$results/$suite"
    cp "$records" "$results/$suite/records.jsonl"
    ln -s "$PWD/$folder/records/perquery" "$results/$suite/perquery"
    findings=(); [ -f "$folder/findings.md" ] && findings=(--findings "$folder/findings.md")
    rqbench report "suites/$suite.toml" --results "$results" --out "$folder" "${findings[@]}" >/dev/null
    echo "$folder: re-rendered from its records"
  done
  bash scripts/make_leaderboards.sh
  exit 0
fi

only=""
[ "${1:-}" = "--only" ] && only="${2:?--only needs a suite name (suites/<name>.toml)}"

if [ -z "$only" ]; then
  # Smoke suite: cold (empty store) then cached, wall time of the whole command.
  cold_store=$(mktemp -d)
  TIMEFORMAT=%R
  cold=$( { time rqbench run suites/smoke.toml --store "$cold_store" --results "$results" >/dev/null 2>&1; } 2>&1 )
  cached=$( { time rqbench run suites/smoke.toml --store "$cold_store" --results "$results" >/dev/null 2>&1; } 2>&1 )
  rm -rf "$cold_store"
  printf '{"cold_seconds": %.2f, "cached_seconds": %.2f}\n' "$cold" "$cached" > reports/smoke-timing.json
  echo "smoke suite: cold ${cold}s, cached ${cached}s"
fi

suites="smoke scifact-bm25 dl19-bm25 dl19-leaderboard vaswani-bm25 noveleval-bm25 negatives-audit-dl19 ci"
# the dense suite trains and encodes on the CPU (SciFact and the DL19 pool): about an hour on 2 cores
[ "${1:-}" = "--dense" ] && suites="$suites dense precision train-precision teacher-scifact teacher-search-scifact"
# RocketQA: SciFact's chain and ablation (3 seeds) and its rerun with the gated teacher, about 2 hours each;
# dev-mini's teacher search (17 minutes) and its RocketQA suite (2 seeds, under 2 hours); the stage cache keeps
# what finished, so a run cut short resumes where it stopped; RocketQAv2 on SciFact (two suites sharing the v2 arm)
# and on dev-mini, about 2 hours each
[ "${1:-}" = "--rocketqa" ] && suites="$suites rocketqa-scifact rocketqa-scifact-gated teacher-search-devmini rocketqa-devmini rocketqav2-scifact rocketqav2-scifact-lists rocketqav2-devmini"
[ -n "$only" ] && suites="$only"
for suite in $suites; do
  rqbench run "suites/$suite.toml" --results "$results" >/dev/null
  # reports/<suite>/findings.md, where there is one: a person's reading of the results (not generated)
  findings=(); [ -f "reports/$suite/findings.md" ] && findings=(--findings "reports/$suite/findings.md")
  rqbench report "suites/$suite.toml" --results "$results" --out "reports/$suite" "${findings[@]}" >/dev/null
  mkdir -p "reports/$suite/records"
  cp "$results/$suite/records.jsonl" "reports/$suite/records/records.jsonl"
  cp -r "$results/$suite/perquery" "reports/$suite/records/"
  # pseudo-labels of augmented variants, beside the report, for anyone holding labels for those queries
  if [ -d "$results/$suite/pseudo_labels" ]; then cp -r "$results/$suite/pseudo_labels" "reports/$suite/"; fi
  echo "reports/$suite: $(tail -n 1 "reports/$suite/records/records.jsonl" | python -c 'import json,sys; r=json.load(sys.stdin); print(r["variant"], {k: round(v, 4) for k, v in r["metrics"].items()})')"
done
if [ -z "$only" ]; then
  rqbench check suites/scifact-bm25.toml --results "$results"
  rqbench check suites/ci.toml --results "$results"
  rqbench check suites/dl19-leaderboard.toml --results "$results"
fi
bash scripts/make_leaderboards.sh
