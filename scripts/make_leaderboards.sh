#!/usr/bin/env bash
# Regenerates reports/leaderboard/ from the committed records only (reports/<suite>/records): the TREC DL19
# leaderboard (five published runs beside rqbench's systems) and a cross-suite leaderboard of every
# committed suite. No run, no training: seconds to a minute. Called by scripts/make_reports.sh.
set -euo pipefail
cd "$(dirname "$0")/.."
[ -n "${VIRTUAL_ENV:-}" ] || . .venv/bin/activate
out=reports/leaderboard
mkdir -p "$out"

dl19_measures="nDCG@10 RR(rel=2)@10 R(rel=2)@100"
dl19_sources="reports/dl19-leaderboard"
# rqbench's trained systems evaluated zero-shot on DL19, where their suites' reports are committed
for suite in dense; do  # (rocketqa-devmini no longer evaluates on DL19: its budget)
  [ -f "reports/$suite/records/records.jsonl" ] && dl19_sources="$dl19_sources reports/$suite"
done
# shellcheck disable=SC2086
rqbench leaderboard $dl19_sources --dataset msmarco-dl19 -m "$dl19_measures" --cost \
  --markdown "$out/dl19.md" --csv "$out/dl19.csv" --html "$out/dl19.html" >/dev/null
rqbench leaderboard reports/ -m "nDCG@10 RR@10" --cost \
  --markdown "$out/all-suites.md" --csv "$out/all-suites.csv" --html "$out/all-suites.html" >/dev/null

{
  echo "# Leaderboards"
  echo
  echo "Made by \`bash scripts/make_leaderboards.sh\` from the committed records (\`reports/<suite>/records/\`),"
  echo "nothing re-run. Each table: systems in the order stated under it; in each column the letters are statistical"
  echo "tie groups (systems sharing a letter are not significantly different: paired randomization test"
  echo "over the column's queries, Holm-corrected over the column's pairs, alpha 0.05). HTML pages with a"
  echo "sortable table and figures: [dl19.html](dl19.html), [all-suites.html](all-suites.html); CSV beside them."
  echo
  echo "## TREC DL 2019 passage: published runs beside rqbench's systems"
  echo
  echo '```bash'
  echo "rqbench leaderboard $dl19_sources --dataset msmarco-dl19 -m \"$dl19_measures\" --cost"
  echo '```'
  echo
  echo "The published runs (\`suites/dl19-leaderboard.toml\`, their provenance in each variant's \`about\`) are"
  echo "top-100 rankings over the full MS MARCO passage corpus; rqbench's systems search the 31,362-passage"
  echo "DL19 pool, which holds every judged-relevant passage: not the same condition (the suite's notes)."
  echo "Published BM25 nDCG@10 0.5058 is reproduced (\`rqbench check suites/dl19-leaderboard.toml\`)."
  echo
  cat "$out/dl19.md"
  echo
  echo "## Every committed suite"
  echo
  echo '```bash'
  echo "rqbench leaderboard reports/ -m \"nDCG@10 RR@10\" --cost"
  echo '```'
  echo
  echo "Columns are evaluation sets (a split of one name with different qrels in two suites is two columns);"
  echo "a system is a suite variant or a multi-seed arm (mean ± sd over seeds). The same name with different"
  echo "runs in different suites is one row per run, labelled with a suite, listed under the table (a run"
  echo "whose hash differs but whose per-query values are identical is the same run: one row, with a note)."
  echo
  cat "$out/all-suites.md"
} > "$out/README.md"
echo "wrote $out/README.md, dl19.{md,csv,html}, all-suites.{md,csv,html}"
