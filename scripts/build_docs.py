"""Build the documentation site from the notebooks, offline: nbdev's processors, then smalldocs.

    python scripts/build_docs.py [--out docs/site] [--stage _proc/docs] [--workers 2] [--force]

1. Every `nbs/*.ipynb` goes through nbdev's own doc processors (the ones `nbdev-docs` runs before Quarto):
   front matter from `# Title` + `> summary`, `#| hide` and `#| default_exp` cells dropped, a `show_doc` cell
   (signature, docstring, docments table) after each exported definition. Two changes to nbdev's defaults:
   exported source is kept, folded under "Source", and only the cells `show_doc` needs are executed
   (exported cells, cells that are nothing but imports, `show_doc` calls) -- nbdev also runs any cell that
   merely contains an import, which runs test code out of context. Saved outputs are kept as they are.
2. smalldocs (a pure-Python reader of Quarto projects) renders the processed notebooks, plus one API page per
   module of `statarb` made from signatures and docstrings, into a static site with a sidebar and a search
   index. Every asset (Bootstrap, icons, Fuse.js search) is copied into the site: it needs no network.

The processed notebooks are cached in the stage folder (gitignored `_proc/`); a notebook is processed again
only when it, or this script, changed. The site folder is emptied and written anew on each build.
"""

import argparse
import ast
import hashlib
import html
import json
import os
import re
import sys
import time
from concurrent.futures import ProcessPoolExecutor
from multiprocessing import get_context
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
NBS = ROOT / "nbs"
TITLE = "statarb"
DESCRIPTION = "Notebook-first research library for statistical arbitrage: data, alpha, engine, risk"
# Sidebar sections, by the area of a notebook's name (`NN_<area>.<module>.ipynb`); unknown areas get a section
# of their own, titled from the area, so a new notebook needs no change here.
SECTIONS = {
    "index": "Getting started",
    "core": "Foundations",
    "config": "Foundations",
    "data": "Data",
    "alpha": "Alpha",
    "engine": "Engine",
    "validation": "Validation",
    "risk": "Risk",
    "cli": "Command line and apps",
    "dashboard": "Command line and apps",
    "tutorial": "Tutorials",
}
_EXPORT = {"export", "exports", "exporti"}


# ---------------------------------------------------------------- step 1: nbdev's processors


def _only_imports(trees) -> bool:
    "Whether a cell's parsed source is nothing but import statements."
    nodes = [n for t in trees for n in (t.body if isinstance(t, ast.Module) else [t])]
    return bool(nodes) and all(isinstance(n, ast.Import | ast.ImportFrom) for n in nodes)


def _filter():
    "nbdev's `FilterDefaults` with two processors replaced (see the module docstring)."
    from nbdev.processors import FilterDefaults, _show_docs, exec_show_docs, rm_export

    class exec_needed(exec_show_docs):
        "Execute only what `show_doc` needs: exported cells, import-only cells and the `show_doc` calls."

        def __call__(self, cell):
            if not getattr(self.nb, "has_docs_", False) or not hasattr(self, "k") or cell.cell_type != "code":
                return
            if not cell.source or cell.directives_.get("eval", "").lower() == "false":
                return
            trees = cell.parsed_()
            if not trees:
                return
            if not (cell.directives_.keys() & (_EXPORT | {"exec_doc"}) or _only_imports(trees) or _show_docs(trees)):
                return
            self.k.cell(cell)
            if e := self.k.exc:
                raise RuntimeError(f"{self.nb.path_}: cell {cell.idx_} failed while building its docs:\n{cell.source}\n"
                                   f"{type(e).__name__}: {e}") from e

    def keep_export_source(cell):
        "Drop `#| hide` and `#| default_exp` cells; fold the source of exported cells under 'Source'."
        if cell.cell_type != "code" or not cell.directives_:
            return
        d = cell.directives_.keys()
        if d & {"hide", "default_exp"}:
            del cell["source"]
        elif d & {"export", "exporti"}:
            cell.source = f'#| code-fold: true\n#| code-summary: "Source"\n{cell.source}'

    def offline(cell):
        "Drop show_doc's `source` links to the hosted repository, the `output-file` key and nbval's marker comments."
        if cell.cell_type == "code" and "NBVAL_" in cell.source:
            cell.source = re.sub(r"(?m)^# ?NBVAL_[A-Z_]+[ \t]*\n?", "", cell.source)
        if cell.cell_type == "raw" and cell.source.startswith("---"):
            cell.source = re.sub(r"(?m)^output-file:.*\n", "", cell.source)
        for o in cell.get("outputs", []):
            md = o.get("data", {}).get("text/markdown")
            if md is not None:
                md = "".join(md) if isinstance(md, list) else md
                o["data"]["text/markdown"] = re.sub(r"\[source\]\(https?://[^)]*\)(\{[^}]*\})?\n*", "", md)

    class Filter(FilterDefaults):
        def base_procs(self):
            swap = {exec_show_docs: exec_needed, rm_export: keep_export_source}
            # add_links writes links to the hosted docs of each name: an offline site links by smalldocs' linkify
            return [swap.get(p, p) for p in super().base_procs() if p.__name__ != "add_links"] + [offline]

    return Filter()


def process_notebook(src: str, dst: str) -> tuple[str, float]:
    "Run the doc processors on one notebook and write the result; returns the name and the seconds taken."
    import warnings

    from fastcore.nbio import read_nb, write_nb

    t = time.perf_counter()
    os.chdir(ROOT)  # nbdev reads its config from the working directory
    os.environ["IN_TEST"] = "1"
    nb = read_nb(src)
    nb.path_ = Path(src).name
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        try:
            _filter()(nb)
        except Exception as e:
            raise RuntimeError(f"nbs/{Path(src).name}: the doc processors failed: {type(e).__name__}: {e}") from e
    tmp = Path(dst).with_suffix(".tmp")
    write_nb(nb, tmp)
    tmp.replace(dst)
    return Path(src).name, time.perf_counter() - t


def _fingerprint() -> str:
    "A hash of what the processing depends on besides the notebook: this script and nbdev's version."
    import nbdev

    return hashlib.sha256(Path(__file__).read_bytes() + nbdev.__version__.encode()).hexdigest()


def process_all(stage: Path, workers: int, force: bool) -> list[Path]:
    "Process every notebook of nbs/ into `stage`, reusing the cached ones that are up to date."
    stage.mkdir(parents=True, exist_ok=True)
    stamp = stage / ".fingerprint"
    if force or not stamp.exists() or stamp.read_text() != _fingerprint():
        for f in stage.glob("*.ipynb"):
            f.unlink()
    nbs = sorted(NBS.glob("*.ipynb"))
    if not nbs:
        raise SystemExit(f"no notebooks in {NBS}")
    names = {p.name for p in nbs}
    for f in stage.glob("*.ipynb"):  # a notebook that was removed or renamed
        if f.name not in names:
            f.unlink()
    todo = [(str(p), str(stage / p.name)) for p in nbs
            if not (stage / p.name).exists() or (stage / p.name).stat().st_mtime < p.stat().st_mtime]
    if todo:
        print(f"== processing {len(todo)} of {len(nbs)} notebook(s) with nbdev's doc processors", flush=True)
        done, failed = [], []
        if workers > 1 and len(todo) > 1:
            with ProcessPoolExecutor(min(workers, len(todo)), mp_context=get_context("spawn")) as ex:
                futures = {ex.submit(process_notebook, s, d): (s, d) for s, d in todo}
                for f, job in futures.items():
                    try:
                        done.append(f.result())
                    except Exception as e:  # noqa: BLE001  (retried once below, then raised)
                        failed.append((job, e))
        else:
            failed = [(job, None) for job in todo]
        for (s, d), e in failed:
            # a notebook (or pyproject.toml) being rewritten while it is read fails once; a real error fails twice
            if e is not None:
                print(f"   retrying {Path(s).name} after: {e}", flush=True)
            done.append(process_notebook(s, d))
        slow = sorted(done, key=lambda x: -x[1])[:3]
        print("   slowest: " + ", ".join(f"{n} {s:.1f}s" for n, s in slow), flush=True)
    stamp.write_text(_fingerprint())
    return [stage / p.name for p in nbs]


# ---------------------------------------------------------------- step 2: smalldocs


def _area(stem: str) -> str:
    "The area of a notebook from its name: `21_engine.data_handler` -> `engine`, `90_tutorial.x` -> `tutorial`."
    if stem == "index":
        return "index"
    return re.sub(r"^\d+[a-z]?_", "", stem).split(".")[0]


def quarto_yml(pages: list[Path], api: list[str], out: Path) -> dict:
    "The `_quarto.yml` of the staged project: a sidebar over every notebook, grouped by area, then the API pages."
    sections: dict[str, list[str]] = {}
    for p in pages:
        area = _area(p.stem)
        sections.setdefault(SECTIONS.get(area, area.replace("_", " ").title()), []).append(p.name)
    order = list(dict.fromkeys([*SECTIONS.values()]))
    sidebar = []
    for title in sorted(sections, key=lambda t: (order.index(t) if t in order else len(order), t)):
        files = sections[title]
        sidebar += files if title == "Getting started" else [{"section": title, "contents": files}]
    sidebar.append({"section": "API reference", "contents": api})
    return {
        "project": {"type": "website", "output-dir": str(out)},
        "website": {
            "title": TITLE,
            "description": DESCRIPTION,
            "navbar": {"left": [{"text": "Home", "href": "index.ipynb"}, {"text": "API reference", "href": "api/index.qmd"}],
                       "search": True},
            "sidebar": {"style": "floating", "contents": sidebar},
            "search": {"location": "navbar", "type": "overlay"},
            "page-navigation": True,
            "favicon": "favicon.svg",
        },
        "format": {"html": {"theme": "cosmo", "toc": True, "code-copy": True, "css": ["site.css"]}},
        # `_symbols.json`, written with the API pages, turns a name in backticks into a link to its entry
        "smalldocs": {"linkify": True},
    }


def api_pages(stage: Path) -> list[str]:
    "One page per public module of statarb (signatures, docstrings, docments), and an index; returns them in order."
    from smalldocs import api

    s = api.Settings(site=stage, packages=["statarb"], out="api", root=ROOT)
    pages = api.build(s)
    rows = []
    for f in pages:
        text = f.read_text(encoding="utf-8")
        # nbdev puts "Docs: <hosted url>" in each module docstring: offline, the page itself is the docs
        new = re.sub(r"(?m)^Docs: https?://\S+\n?", "", text)
        if new != text:
            f.write_text(new, encoding="utf-8")
        m = re.search(r'^title: "(.*)"$', new, re.M)
        d = re.search(r'^description: "(.*)"$', new, re.M)
        name = json.loads(f'"{m.group(1)}"') if m else f.stem
        desc = json.loads(f'"{d.group(1)}"') if d else ""
        rows.append((name, f"| [`{name}`]({f.name}) | {desc} |", f"api/{f.name}"))
    rows.sort()
    (stage / "api" / "index.qmd").write_text(
        "---\ntitle: API reference\ndescription: Signatures and docstrings of every public module of statarb, made "
        "from the code.\n---\n\n| module | summary |\n|---|---|\n" + "\n".join(r[1] for r in rows) + "\n", encoding="utf-8")
    return ["api/index.qmd", *(r[2] for r in rows)]


_MATH = re.compile(r'<span class="math (inline|display)">\\[(\[](.*?)\\[)\]]</span>', re.S)
_KATEX = re.compile(r'<link[^>]*katex[^>]*>|<script[^>]*katex[^>]*></script>')
# an asset the browser would fetch from elsewhere: src=, or href= of a <link> (stylesheet, icon, preload)
_REMOTE = re.compile(r'<(?:script|img|iframe|source|audio|video|embed)\b[^>]*\bsrc="(?:https?:)?//|<link\b[^>]*\bhref="(?:https?:)?//')


_CSS_IMPORT = re.compile(r'@import\s+url\(["\']?(?:https?:)?//[^)]*\)\s*;?')
_CSS_REMOTE = re.compile(r'url\(["\']?(?:https?:)?//')


def _mathml(m: re.Match) -> str:
    "TeX to MathML, which Chromium and Firefox render natively: no KaTeX from a CDN."
    from latex2mathml.converter import convert

    kind, tex = m.group(1), html.unescape(m.group(2))
    try:
        xml = convert(tex, display="block" if kind == "display" else "inline")
    except Exception:  # noqa: BLE001  (a macro latex2mathml lacks: show the TeX rather than fail the build)
        return m.group(0)
    return f'<span class="math {kind}">{xml}</span>'


def offline_html(out: Path) -> None:
    "Render the maths to MathML, drop the CDN KaTeX tags and the themes' web-font imports; refuse any remote asset."
    bad = []
    for f in out.rglob("*.html"):
        text = f.read_text(encoding="utf-8")
        new = _KATEX.sub("", _MATH.sub(_mathml, text))
        if new != text:
            f.write_text(new, encoding="utf-8")
        bad += [f"{f.relative_to(out)}: {m.group(0)[:120]}" for m in _REMOTE.finditer(new)]
    for f in out.rglob("*.css"):  # Bootswatch imports its fonts from a web-font service: fall back to system fonts
        text = f.read_text(encoding="utf-8")
        new = _CSS_IMPORT.sub("", text)
        if new != text:
            f.write_text(new, encoding="utf-8")
        bad += [f"{f.relative_to(out)}: {m.group(0)[:120]}" for m in _CSS_REMOTE.finditer(new)]
    if bad:
        raise SystemExit("the site would load remote assets (it must work offline):\n" + "\n".join(bad[:20]))


# smalldocs fetches search.json, which a browser refuses for a page opened from disk (file://); the same index as a
# script loads there, so search works whether the site is served or opened as files
_FETCH = 'const r = await fetch(offset + "search.json");\n      index = await r.json();\n    } catch (e) { index = []; }'
_FETCH_OR_SCRIPT = (
    'const r = await fetch(offset + "search.json");\n      index = await r.json();\n    } catch (e) {\n'
    '      index = await new Promise((done) => {\n'
    '        const s = document.createElement("script");\n'
    '        s.src = offset + "site_libs/search-index.js";\n'
    '        s.onload = () => done(window.smalldocsSearchIndex || []);\n'
    '        s.onerror = () => done([]);\n'
    '        document.head.appendChild(s);\n'
    '      });\n    }')
CSS = """/* statarb docs: display maths is MathML (rendered offline by the browser), not KaTeX */
.math.display { display: block; overflow-x: auto; overflow-y: hidden; padding: 0.2em 0; }
math[display="block"] { margin: 0.4em 0; }
/* pandas tables saved in the notebooks */
.cell-output-display { overflow-x: auto; }
.cell-output-display table.dataframe { border: none; border-collapse: collapse; font-size: 0.85em; margin: 0.5em 0; }
.cell-output-display table.dataframe th, .cell-output-display table.dataframe td {
  border: none; border-bottom: 1px solid var(--bs-border-color, #dee2e6); padding: 0.25em 0.6em; text-align: right; }
.cell-output-display table.dataframe thead th { border-bottom: 2px solid var(--bs-border-color, #adb5bd); }
"""

# a spread reverting to its mean: the site's own icon, so no page asks the server for /favicon.ico
FAVICON = """<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 32 32"><rect width="32" height="32" rx="6" fill="#2780e3"/>
<path d="M3 16h26" stroke="#fff" stroke-opacity=".5" stroke-width="1.5"/>
<path d="M3 22l5-12 5 14 5-16 5 13 6-7" fill="none" stroke="#fff" stroke-width="2.5" stroke-linejoin="round"/></svg>
"""


def search_from_file(out: Path) -> None:
    "Write the search index also as a script, and let the search load it when fetch fails (a page opened from disk)."
    js = out / "site_libs" / "smalldocs.js"
    text = js.read_text(encoding="utf-8")
    if _FETCH not in text:
        raise SystemExit(f"{js}: smalldocs' search loader changed; update _FETCH in {Path(__file__).name}")
    js.write_text(text.replace(_FETCH, _FETCH_OR_SCRIPT), encoding="utf-8")
    index = (out / "search.json").read_text(encoding="utf-8")
    (out / "site_libs" / "search-index.js").write_text(f"window.smalldocsSearchIndex = {index};\n", encoding="utf-8")


def render(stage: Path, pages: list[Path], out: Path) -> list[str]:
    "Write the API pages and the config, let smalldocs build the site into `out`, make it offline; returns warnings."
    import yaml
    from smalldocs.site import build

    print(f"== rendering {len(pages)} notebook(s) and the API reference with smalldocs", flush=True)
    api = api_pages(stage)
    (stage / "site.css").write_text(CSS, encoding="utf-8")
    (stage / "favicon.svg").write_text(FAVICON, encoding="utf-8")
    cfg = quarto_yml(pages, api, out)
    (stage / "_quarto.yml").write_text(yaml.safe_dump(cfg, sort_keys=False), encoding="utf-8")
    site = build(stage, quiet=True)
    offline_html(out)
    search_from_file(out)
    return site.warnings


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--out", type=Path, default=ROOT / "docs" / "site", help="the site folder (emptied at each build)")
    ap.add_argument("--stage", type=Path, default=ROOT / "_proc" / "docs", help="the processed notebooks (a cache)")
    ap.add_argument("--workers", type=int, default=2, help="processes for the notebooks")
    ap.add_argument("--force", action="store_true", help="process every notebook again")
    ap.add_argument("--strict", action="store_true", help="fail on any smalldocs warning (a broken link, ...)")
    a = ap.parse_args(argv)
    try:
        import latex2mathml  # noqa: F401
        import smalldocs  # noqa: F401
    except ImportError as e:
        raise SystemExit(f"{e}: the docs need the dev extras (pip install -e '.[dev]'), or: pip install smalldocs "
                         "latex2mathml") from e
    t = time.perf_counter()
    out, stage = a.out.resolve(), a.stage.resolve()
    pages = process_all(stage, a.workers, a.force)
    warnings = render(stage, pages, out)
    for w in warnings:
        print(f"warning: {w}", file=sys.stderr)
    print(f"== site written to {out} ({len(list(out.rglob('*.html')))} pages, {time.perf_counter() - t:.0f}s); "
          f"open {out / 'index.html'}", flush=True)
    return 1 if a.strict and warnings else 0


if __name__ == "__main__":
    # run as the module `build_docs`, so the spawned workers can import `process_notebook` by name
    sys.path.insert(0, str(Path(__file__).resolve().parent))
    import build_docs

    sys.exit(build_docs.main())
