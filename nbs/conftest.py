"""pytest hooks for running the notebooks under nbval (`pytest --nbval nbs/`).

`nbdev-clean` nulls every execution count so that notebooks diff cleanly in git. nbval reads a null execution count
as "this reference cell was never run": it then skips the output comparison, and fails outright with "Unrun reference
cell has outputs" when the cell kept its outputs. Our notebooks are always executed before they are committed (the
outputs are real), so before the cells run we number every code cell in order, as a fresh top-to-bottom run would.
The effect: nbval executes every cell and compares its fresh outputs with the committed ones, after the sanitizers in
nbval_sanitize.cfg; a cell whose committed output is empty must still produce no output. Images are not compared
(nbval's default); cells marked `# NBVAL_IGNORE_OUTPUT` are run but not compared.

Notebooks on test-only data (front matter `requires_shared_data: true`, e.g. the basket and intraday tutorials)
are skipped, with the reason, when ../shared/data is not beside the clone.
"""


import json
from functools import cache
from pathlib import Path

import pytest

# test-only data beside the clone (see ../shared/data/README.md); notebooks that need it say so in their front matter
SHARED = Path(__file__).resolve().parents[2] / "shared" / "data"


@cache
def _needs_shared(path: str) -> bool:
    "A notebook whose first cell is raw front matter with `requires_shared_data: true`."
    cells = json.loads(Path(path).read_text())["cells"]
    return bool(cells) and cells[0]["cell_type"] == "raw" and "requires_shared_data: true" in "".join(cells[0]["source"])


def pytest_collection_modifyitems(session, config, items):
    try:
        from nbval.plugin import IPyNbCell
    except ImportError:
        return
    for item in items:
        if not isinstance(item, IPyNbCell): continue
        if not SHARED.is_dir() and _needs_shared(str(item.fspath)):
            item.add_marker(pytest.mark.skip(reason=f"needs the test-only data in {SHARED}, which is absent"))
        if item.cell.get("execution_count") is None:
            item.cell["execution_count"] = item.cell_num + 1
