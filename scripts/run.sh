#!/usr/bin/env bash
# One command from a fresh clone: set up .venv (first time only) and run the main job on the bundled data.
# Extra arguments go to `statarb run` (see `statarb run --help`).
source "$(dirname "${BASH_SOURCE[0]}")/env.sh"
statarb run "$@"
