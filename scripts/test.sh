#!/usr/bin/env bash
# The test command (README, .ci/run): make sure the environment is installed, then run the tests.
set -uo pipefail
cd "$(dirname "$0")/.."
bash scripts/install.sh || exit 1
if [ -z "${VIRTUAL_ENV:-}" ]; then
  # shellcheck disable=SC1091
  . .venv/bin/activate
fi
# Byte-code caching on for the tests (an environment may turn it off with PYTHONDONTWRITEBYTECODE): every CLI
# subprocess and pytest-xdist worker would otherwise compile rqbench and re-rewrite the test modules anew.
unset PYTHONDONTWRITEBYTECODE
python -m pytest -q "$@"
rc=$?
if [ "$rc" -eq 5 ]; then
  echo "pytest collected no tests (exit 5): treated as success" >&2
  exit 0
fi
exit "$rc"
