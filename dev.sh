#!/usr/bin/env bash
# One entry point for a fresh machine with Python 3.11: it makes the virtual
# environment and installs what each job needs, then runs it.
#
#   bash dev.sh main    # the main job (cross-corpus benchmark / demo), prints its table
#   bash dev.sh test    # lint, the default test suite with doctests, the docs build
#   bash dev.sh slow    # the tests marked slow
set -euo pipefail
cd "$(dirname "$0")"

PY=${PYTHON:-python3.11}
command -v "$PY" >/dev/null 2>&1 || PY=python3
VENV=${DALIB_VENV:-.venv}

setup() {  # $1: pip extras
  if [ ! -x "$VENV/bin/python" ]; then
    "$PY" -m venv "$VENV"
    "$VENV/bin/python" -m pip install --quiet --upgrade pip
  fi
  "$VENV/bin/python" -m pip install --quiet -c constraints.txt -e ".[$1]"
}

case "${1:-}" in
  main)
    setup "train,ser,me,experiments"
    shift
    exec "$VENV/bin/python" -m experiments.main "$@"
    ;;
  test)
    setup dev
    "$VENV/bin/ruff" check .
    # Doctests run apart from tests/: tests/conftest.py turns on float64.
    "$VENV/bin/python" -m pytest -q -p no:cacheprovider --doctest-modules dalib
    "$VENV/bin/python" -m pytest -m "not slow" -n 2 -q -p no:cacheprovider tests
    "$VENV/bin/python" -m sphinx -W --keep-going -q -b html docs docs/_build/html
    ;;
  slow)
    setup dev
    "$VENV/bin/python" -m pytest -m slow -q tests
    ;;
  *)
    echo "usage: bash dev.sh main|test|slow" >&2
    exit 2
    ;;
esac
