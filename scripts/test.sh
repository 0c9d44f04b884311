#!/usr/bin/env bash
# One command from a fresh clone: set up .venv (first time only) and run every test:
#   1. nbdev sync check: nbdev-export, nbdev-clean and the README generator must leave the tree unchanged
#   2. ruff
#   3. every notebook executed under nbval, outputs compared (see nbs/conftest.py and nbs/nbval_sanitize.cfg)
#   4. nbdev-test
#   5. the compiled-twin tests again with STATARB_NO_CYTHON=1 (pure-Python references)
#   6. pytest tests/
source "$(dirname "${BASH_SOURCE[0]}")/env.sh"

# the browser tests (documentation site, dashboard) drive Debian's chromium through chromedriver
if ! command -v chromium >/dev/null || ! command -v chromedriver >/dev/null; then
  if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
    echo "== installing chromium and chromium-driver (browser tests)"
    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium chromium-driver >/dev/null
  else
    echo "note: chromium/chromedriver not found and cannot be installed here (needs root and apt-get):" \
         "the browser tests will be skipped (set STATARB_REQUIRE_BROWSER=1 to make that a failure)" >&2
  fi
fi

snapshot() { { git status --porcelain=v1 -uall; git diff; git ls-files --others --exclude-standard -z | xargs -0 -r cat; } | sha256sum; }

echo "== 1/6 nbdev sync check (nbdev-export, nbdev-clean, README from nbs/index.ipynb)"
before="$(snapshot)"
nbdev-export
nbdev-clean
python scripts/make_readme.py
if [ "$before" != "$(snapshot)" ]; then
  echo "FAILED: nbdev-export / nbdev-clean / make_readme changed the tree: notebooks, statarb/ and README.md are out of sync." >&2
  git status --short >&2
  exit 1
fi
echo "in sync"

echo "== 2/6 ruff"
ruff check statarb tests benchmarks scripts data nbs/conftest.py

echo "== 3/6 notebooks under nbval"
pytest --nbval --nbval-current-env --nbval-sanitize-with nbs/nbval_sanitize.cfg nbs/ -q -p no:cacheprovider

echo "== 4/6 nbdev-test"
nbdev-test --n-workers 2

echo "== 5/6 compiled-twin tests with STATARB_NO_CYTHON=1"
STATARB_NO_CYTHON=1 pytest tests/ -m twins -q -p no:cacheprovider

echo "== 6/6 pytest tests/"
pytest tests/ -q -p no:cacheprovider "$@"
