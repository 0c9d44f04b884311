"""pytest hooks for running the notebooks under nbval (`pytest --nbval nbs/`).

`nbdev-clean` nulls every execution count so that notebooks diff cleanly in git. nbval reads a null execution count
as "this reference cell was never run": it then skips the output comparison, and fails outright with "Unrun reference
cell has outputs" when the cell kept its outputs. Our notebooks are always executed before they are committed (the
outputs are real), so before the cells run we number every code cell in order, as a fresh top-to-bottom run would.
The effect: nbval executes every cell and compares its fresh outputs with the committed ones, after the sanitizers in
nbval_sanitize.cfg; a cell whose committed output is empty must still produce no output. Images are not compared
(nbval's default); cells marked `# NBVAL_IGNORE_OUTPUT` are run but not compared.
"""


def pytest_collection_modifyitems(session, config, items):
    try:
        from nbval.plugin import IPyNbCell
    except ImportError:
        return
    for item in items:
        if isinstance(item, IPyNbCell) and item.cell.get("execution_count") is None:
            item.cell["execution_count"] = item.cell_num + 1
