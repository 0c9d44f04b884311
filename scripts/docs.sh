#!/usr/bin/env bash
# One command from a fresh clone: set up .venv (first time only) and build the documentation site into docs/site/,
# offline, from the notebooks (nbdev's doc processors, then smalldocs; see docs/README.md). Then open
# docs/site/index.html in a browser, or serve it: python -m http.server -d docs/site 8000
# Options go to scripts/build_docs.py: --out DIR, --force (process every notebook again), --strict, --workers N.
source "$(dirname "${BASH_SOURCE[0]}")/env.sh"
python scripts/build_docs.py "$@"
