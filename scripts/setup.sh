#!/usr/bin/env bash
# Create (or update) the project-local environment .venv with hepgraph, Snakemake and every dependency.
# Idempotent: does nothing when .venv is newer than pyproject.toml. Python >= 3.11 must be on PATH
# (or named by $PYTHON).
set -euo pipefail
cd "$(dirname "$0")/.."
python=${PYTHON:-python3}
stamp=.venv/.hepgraph-installed
if [ -f "$stamp" ] && [ "$stamp" -nt pyproject.toml ]; then
  exit 0
fi
"$python" -c 'import sys; sys.exit(sys.version_info < (3, 11))' \
  || { echo "hepgraph needs Python >= 3.11; set PYTHON=/path/to/python3.11" >&2; exit 1; }
[ -x .venv/bin/python ] || "$python" -m venv .venv
.venv/bin/python -m pip install --quiet --upgrade pip
.venv/bin/python -m pip install --quiet -e '.[test]'
touch "$stamp"
