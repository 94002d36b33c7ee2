#!/usr/bin/env bash
# Set up (idempotent) and run the checks CI runs, in order: format, lint, types, tests.
# Extra arguments go to pytest, e.g. `scripts/test.sh -m e2e` or `scripts/test.sh -k layers`.
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PYTHON:-python3}
[ -x .venv/bin/python ] || "$PY" -m venv .venv
.venv/bin/python -m pip install -q --disable-pip-version-check -e ".[dev]"
SRC=(gitops_sdk stacks tests benchmarks e2e/gitops_e2e)
.venv/bin/ruff format --check "${SRC[@]}"
.venv/bin/ruff check "${SRC[@]}"
.venv/bin/mypy
.venv/bin/python -m pytest "$@"
