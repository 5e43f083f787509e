#!/usr/bin/env bash
# One entry point for a fresh machine with Python 3.11: it makes the virtual
# environment and installs what each job needs, then runs it.
#
#   bash dev.sh main    # the main job (cross-corpus benchmark / demo), prints its table
#   bash dev.sh test    # lint, the default test suite with doctests, the docs build
#   bash dev.sh slow    # the tests marked slow
#   bash dev.sh floors  # the default tests in .venv-min at the minimum versions (constraints-min.txt)
set -euo pipefail
cd "$(dirname "$0")"

PY=${PYTHON:-python3.11}
command -v "$PY" >/dev/null 2>&1 || PY=python3
VENV=${DALIB_VENV:-.venv}
CONSTRAINTS=constraints.txt

setup() {  # $1: pip extras
  if [ ! -x "$VENV/bin/python" ]; then
    "$PY" -m venv "$VENV"
    "$VENV/bin/python" -m pip install --quiet --upgrade pip
  fi
  "$VENV/bin/python" -m pip install --quiet -c "$CONSTRAINTS" -e ".[$1]"
}

# constraints.txt with the packages pinned in constraints-min.txt swapped for
# those pins (pip refuses two different pins of one package), written to $1.
merge_floors() {
  awk -F'==' '
    function norm(n) { n = tolower(n); gsub(/[-_.]+/, "-", n); return n }
    FNR == NR { if ($0 !~ /^[[:space:]]*(#|$)/) { floor[norm($1)] = 1; print }; next }
    $0 ~ /^[[:space:]]*(#|$)/ || !(norm($1) in floor)
  ' constraints-min.txt constraints.txt >"$1"
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
  floors)
    # The default tests (no lint, doctests or docs) with jax, flax, optax,
    # ott-jax and orbax at the minimum versions pyproject.toml states.
    VENV=${DALIB_MIN_VENV:-.venv-min}
    mkdir -p "$VENV"
    CONSTRAINTS=$VENV/constraints-floors.txt
    merge_floors "$CONSTRAINTS"
    setup dev
    "$VENV/bin/python" -m pip list --format=freeze 2>/dev/null |
      grep -iE '^(jax|jaxlib|flax|optax|ott-jax|orbax-checkpoint|numpy)==' || true
    "$VENV/bin/python" -m pytest -m "not slow" -n 2 -q -p no:cacheprovider tests
    ;;
  *)
    echo "usage: bash dev.sh main|test|slow|floors" >&2
    exit 2
    ;;
esac
