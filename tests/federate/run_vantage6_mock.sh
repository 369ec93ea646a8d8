#!/usr/bin/env bash
# The vantage6 algorithm (blincompass.federate.vantage6) under vantage6's MockNetwork with three
# organisations (tests/federate/vantage6_mock.py). vantage6-algorithm-tools 5 needs Python >= 3.13, so
# this runs in its own environment, .venv-vantage6 (or $BLINCOMPASS_V6_VENV), made on first use.
#   run_vantage6_mock.sh          set up the environment if needed, then run the mock
#   run_vantage6_mock.sh --setup  only set up the environment
# Exit 3 when no Python 3.13 interpreter is found (python3.13 on PATH, or pyenv's 3.13.x).
set -euo pipefail
cd "$(dirname "$0")/../.."
VENV="${BLINCOMPASS_V6_VENV:-.venv-vantage6}"

find_python() {
    local p
    for p in "$(command -v python3.13 || true)" "${PYENV_ROOT:-$HOME/.pyenv}"/versions/3.13*/bin/python3.13; do
        # a pyenv shim exists without the version behind it: check that the interpreter runs
        if [ -n "$p" ] && [ -x "$p" ] && "$p" -c 'import sys; assert sys.version_info >= (3, 13)' 2>/dev/null; then
            echo "$p"
            return 0
        fi
    done
    return 1
}

STAMP="$VENV/.installed"
if [ ! -f "$STAMP" ] || [ pyproject.toml -nt "$STAMP" ]; then
    PY="$(find_python)" || { echo "no Python 3.13 interpreter found" >&2; exit 3; }
    "$PY" -m venv "$VENV"
    "$VENV/bin/python" -m pip install --quiet --upgrade pip
    "$VENV/bin/python" -m pip install --quiet -e '.[vantage6]'
    touch "$STAMP"
fi
if [ "${1:-}" = "--setup" ]; then
    exit 0
fi
PYTHONPATH="src:." exec "$VENV/bin/python" tests/federate/vantage6_mock.py
