# Sourced by scripts/run.sh and scripts/test.sh: create or reuse the project's virtual environment in .venv and
# (re)install statarb editable with its dev extras whenever the build inputs changed since the last install.
# Works on a fresh clone with nothing installed but Python >= 3.11 and a C compiler.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"
PY="${PYTHON:-python3}"
if ! "$PY" -c 'import sys; sys.exit(sys.version_info < (3, 11))' 2>/dev/null; then
  echo "statarb needs Python >= 3.11; '$PY' is $("$PY" --version 2>&1). Set PYTHON=/path/to/python3.11" >&2
  exit 1
fi
if [ ! -x .venv/bin/python ]; then
  echo "== creating .venv"
  "$PY" -m venv .venv
  .venv/bin/python -m pip install -q --upgrade pip
fi
# what a reinstall depends on: metadata, build script, Cython sources
stamp_now="$(cat pyproject.toml setup.py cython_ext/*.pyx | sha256sum | cut -d' ' -f1)"
stamp_file=.venv/.statarb-install-stamp
if [ "$(cat "$stamp_file" 2>/dev/null)" != "$stamp_now" ] || ! .venv/bin/python -c 'import statarb._hampel' 2>/dev/null; then
  echo "== installing statarb (editable, with dev extras; compiles cython_ext/)"
  .venv/bin/python -m pip install -q -e ".[dev]"
  echo "$stamp_now" > "$stamp_file"
fi
export PATH="$ROOT/.venv/bin:$PATH"
