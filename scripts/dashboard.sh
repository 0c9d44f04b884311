#!/usr/bin/env bash
# One command: set up .venv (first time only) and open a run folder in the dashboard (Streamlit, http://localhost:8501).
#   bash scripts/dashboard.sh                      # the latest run under reports/
#   bash scripts/dashboard.sh reports/<run-id>     # a given run; further options go to `statarb dashboard`
source "$(dirname "${BASH_SOURCE[0]}")/env.sh"
if [ $# -eq 0 ] || [[ "$1" == -* ]]; then
  latest="$(ls -1dt reports/*/ 2>/dev/null | head -n 1 || true)"
  if [ -z "$latest" ]; then
    echo "no run folder under reports/: run the main job first (bash scripts/run.sh)" >&2
    exit 1
  fi
  set -- "${latest%/}" "$@"
fi
exec statarb dashboard "$@"
