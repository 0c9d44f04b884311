"""Generate README.md from nbs/index.ipynb, offline.

nbdev's `nbdev-readme` renders through Quarto, which cannot be installed on these machines (its package downloads a
binary). This does the part we need without it: markdown cells verbatim, code cells as fenced Python, their saved
text outputs as fenced text (the notebook is executed before it is committed, and nbval checks those outputs), and
cells hidden with `#| hide` (or flagged `#| exec_doc`-less directives) left out, as nbdev does.

    python scripts/make_readme.py          # write README.md
    python scripts/make_readme.py --check  # exit 1 if README.md is out of date
"""
import argparse
import json
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
HEADER = "<!-- Generated from nbs/index.ipynb by scripts/make_readme.py: edit the notebook, not this file. -->\n\n"


def _src(cell) -> str:
    s = cell["source"]
    return "".join(s) if isinstance(s, list) else s


def _directives(code: str) -> set[str]:
    return {ln[3:].strip().split()[0] for ln in code.splitlines() if ln.startswith("#| ") and ln[3:].strip()}


def _strip_directives(code: str) -> str:
    return "\n".join(ln for ln in code.splitlines() if not ln.startswith("#|")).strip("\n")


def _outputs(cell) -> list[str]:
    out = []
    for o in cell.get("outputs", []):
        if o["output_type"] == "stream" and o.get("name") == "stdout":
            out.append("".join(o["text"]))
        elif o["output_type"] in ("execute_result", "display_data"):
            data = o.get("data", {})
            if "text/markdown" in data: out.append(("MD", "".join(data["text/markdown"])))
            elif "text/plain" in data and "image/png" not in data: out.append("".join(data["text/plain"]))
    return out


def render(nb_path: Path) -> str:
    nb = json.loads(nb_path.read_text(encoding="utf-8"))
    parts = [HEADER]
    for cell in nb["cells"]:
        src = _src(cell)
        if cell["cell_type"] == "markdown":
            parts.append(src.strip() + "\n")
        elif cell["cell_type"] == "code":
            d = _directives(src)
            if d & {"hide", "default_exp", "export", "exporti"} or not src.strip(): continue
            code = _strip_directives(src)
            if "echo: false" not in src and code: parts.append(f"```python\n{code}\n```\n")
            for o in _outputs(cell):
                parts.append(o[1].strip() + "\n" if isinstance(o, tuple) else f"```\n{o.rstrip()}\n```\n")
    return "\n".join(parts)


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--check", action="store_true", help="only check that README.md is up to date")
    args = ap.parse_args(argv)
    text = render(ROOT / "nbs" / "index.ipynb")
    readme = ROOT / "README.md"
    if args.check:
        if not readme.exists() or readme.read_text(encoding="utf-8") != text:
            print("README.md is out of date with nbs/index.ipynb: run python scripts/make_readme.py", file=sys.stderr)
            return 1
        return 0
    if not readme.exists() or readme.read_text(encoding="utf-8") != text: readme.write_text(text, encoding="utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(main())
