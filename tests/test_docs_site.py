"""The documentation site: built from the notebooks by scripts/build_docs.py, then opened in headless Chromium.

The site is built once per session into a temporary folder (the processed notebooks are cached in the gitignored
`_proc/docs`, as `scripts/docs.sh` does). Checks without a browser: a page per notebook, hidden cells gone,
exported source and API entries present, no remote assets, every internal link and anchor resolves (with a
checker that is shown to catch a broken link). Checks in Chromium (selenium + Debian's chromium-driver, over a
loopback HTTP server): every page loads with a title and a body and no failed resource, every link in the
rendered DOM resolves, plots are decoded images, maths renders as MathML, and search finds a class.
Browser tests skip when Chromium is absent, unless STATARB_REQUIRE_BROWSER=1 (CI), where they fail.
"""
import functools
import html
import http.server
import json
import re
import subprocess
import sys
import threading
from html.parser import HTMLParser
from pathlib import Path
from urllib.parse import unquote, urldefrag, urlsplit
from urllib.request import urlopen

import pytest
from conftest import chromium_driver

ROOT = Path(__file__).resolve().parents[1]
NBS = ROOT / "nbs"
MAIN_CLASSES = {  # name -> its module's API page
    "KalmanHedge": "kalman", "PairsStrategy": "strategy", "BasketStrategy": "strategy", "DataHandler": "data_handler",
    "Portfolio": "portfolio", "ExecutionHandler": "execution", "BacktestResult": "backtest", "Tearsheet": "report",
    "WalkForwardResult": "walkforward", "OUFit": "ou",
}
PLOT_PAGES = ["11_alpha.kalman.html", "43_risk.report.html"]


# ---------------------------------------------------------------- the site, built once


@pytest.fixture(scope="session")
def site(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("docs") / "site"
    r = subprocess.run([sys.executable, str(ROOT / "scripts" / "build_docs.py"), "--out", str(out)],
                       cwd=ROOT, capture_output=True, text=True, timeout=900)
    assert r.returncode == 0, f"docs build failed:\n{r.stdout[-3000:]}\n{r.stderr[-5000:]}"
    assert "warning:" not in r.stderr, r.stderr[-3000:]
    return out


def _pages(site: Path) -> list[Path]:
    return sorted(site.rglob("*.html"))


# ---------------------------------------------------------------- a link checker


class _Links(HTMLParser):
    "The ids of a page, and the href/src of its links, scripts, styles and images."

    def __init__(self):
        super().__init__()
        self.ids, self.refs = set(), []

    def handle_starttag(self, tag, attrs):
        a = dict(attrs)
        for k in ("id", "name") if tag == "a" else ("id",):
            if a.get(k):
                self.ids.add(a[k])
        for k in ("href", "src"):
            if a.get(k) is not None and tag in ("a", "link", "script", "img", "iframe", "source"):
                self.refs.append((tag, a[k]))


@functools.cache
def _parse(path: Path) -> _Links:
    p = _Links()
    p.feed(path.read_text(encoding="utf-8"))
    return p


def broken_links(site: Path) -> list[str]:
    "Every internal href/src of every page whose file, or whose #anchor in that file, does not exist."
    site = site.resolve()
    bad = []
    for page in _pages(site):
        for _tag, ref in _parse(page).refs:
            u = urlsplit(ref)
            if u.scheme in ("http", "https", "mailto", "data", "javascript") or u.netloc or not ref:
                continue
            path, frag = urldefrag(ref)
            target = (page.parent / unquote(path)).resolve() if path else page
            if target.is_dir():
                target = target / "index.html"
            if site not in target.parents and target != site:
                bad.append(f"{page.relative_to(site)}: {ref} leaves the site")
            elif not target.is_file():
                bad.append(f"{page.relative_to(site)}: {ref} (no file)")
            elif frag and target.suffix == ".html" and unquote(frag) not in _parse(target).ids:
                bad.append(f"{page.relative_to(site)}: {ref} (no anchor #{frag})")
    return bad


def test_link_checker_catches_a_broken_link(tmp_path):
    (tmp_path / "a.html").write_text('<h1 id="top">A</h1><a href="b.html#here">ok</a><a href="#top">ok</a>')
    (tmp_path / "b.html").write_text('<h2 id="here">B</h2><a href="a.html">ok</a><img src="pic.png">')
    (tmp_path / "pic.png").write_bytes(b"x")
    assert broken_links(tmp_path) == []
    (tmp_path / "c.html").write_text('<a href="missing.html">x</a><a href="a.html#nowhere">y</a>'
                                     '<a href="https://example.org/">external</a><script src="gone.js"></script>')
    _parse.cache_clear()
    assert broken_links(tmp_path) == ["c.html: missing.html (no file)", "c.html: a.html#nowhere (no anchor #nowhere)",
                                      "c.html: gone.js (no file)"]


# ---------------------------------------------------------------- the built files


def test_a_page_per_notebook_and_the_api_reference(site):
    for nb in sorted(NBS.glob("*.ipynb")):
        page = site / f"{nb.stem}.html"
        assert page.is_file(), f"no page for {nb.name}"
        text = page.read_text(encoding="utf-8")
        assert re.search(r"<title>[^<]+</title>", text), page.name
        assert f'href="{nb.stem}.html"' in text, f"{nb.name} is not in its own page's sidebar"
    index = (site / "index.html").read_text(encoding="utf-8")
    for nb in NBS.glob("*.ipynb"):  # the sidebar lists every notebook, tutorials and apps included
        assert f'href="{nb.stem}.html"' in index, f"{nb.name} missing from the sidebar"
    assert (site / "api" / "index.html").is_file()


def test_internal_links_resolve(site):
    assert broken_links(site) == []


def test_no_remote_assets(site):
    "Nothing is fetched from the network when a page is viewed: no CDN script, stylesheet, font or image."
    remote = re.compile(r'<(?:script|img|iframe|source|audio|video|embed)\b[^>]*\bsrc="(?:https?:)?//'
                        r'|<link\b[^>]*\bhref="(?:https?:)?//|@import\s+url\(["\']?https?:|url\(["\']?https?://')
    for f in [*_pages(site), *site.rglob("*.css"), *site.rglob("*.js")]:
        text = f.read_text(encoding="utf-8", errors="replace")
        m = remote.search(text)
        assert m is None, f"{f.relative_to(site)} loads {m.group(0)[:100]}"
    assert "katex" not in (site / "11_alpha.kalman.html").read_text(encoding="utf-8")


def _cells(nb: Path):
    for c in json.loads(nb.read_text(encoding="utf-8"))["cells"]:
        if c["cell_type"] == "code":
            src = "".join(c["source"])
            dirs = {m.group(1) for m in re.finditer(r"^#\|\s*([\w-]+)", src, re.M)}
            yield dirs, [ln for ln in src.splitlines() if ln.strip() and not ln.startswith("#|")]


def test_directives_hidden_cells_and_exported_source(site):
    "`#| hide` cells are not shown, no directive line is, and exported code appears as folded source."
    checked_hidden = checked_export = 0
    for nb in sorted(NBS.glob("*.ipynb")):
        text = html.unescape(re.sub(r"<[^>]+>", "", (site / f"{nb.stem}.html").read_text(encoding="utf-8")))
        assert not re.search(r"^#\|\s*(export|hide|default_exp)", text, re.M), nb.name
        cells = list(_cells(nb))
        shown = " ".join(ln.strip() for dirs, lines in cells if "hide" not in dirs for ln in lines)
        for dirs, lines in cells:
            if "hide" in dirs:
                for ln in lines:
                    if len(ln.strip()) > 30 and ln.strip() not in shown:
                        assert ln.strip() not in text, f"{nb.name}: a line of a hidden cell is shown: {ln}"
                        checked_hidden += 1
            if "export" in dirs:
                for ln in lines:
                    if ln.startswith(("def ", "class ")):
                        assert ln.strip() in text, f"{nb.name}: exported source missing: {ln}"
                        checked_export += 1
    assert checked_hidden > 10 and checked_export > 50, (checked_hidden, checked_export)
    kalman = (site / "11_alpha.kalman.html").read_text(encoding="utf-8")
    assert re.search(r"<details[^>]*>\s*<summary[^>]*>Source</summary>", kalman)


def test_api_entries_for_the_main_classes(site):
    for name, module in MAIN_CLASSES.items():
        page = site / "api" / f"{module}.html"
        p = _parse(page)
        assert name in p.ids, f"no API entry #{name} on api/{module}.html"
        text = page.read_text(encoding="utf-8")
        entry = text[text.index(f'id="{name}"'):][:6000]
        assert re.search(rf"<code[^>]*>.*{name}\(", entry, re.S), f"no signature for {name}"
        # the notebook page carries nbdev's show_doc entry for the class too
        hits = [f for f in site.glob("*.html") if re.search(rf"<h3[^>]*>{name}</h3>", f.read_text(encoding="utf-8"))]
        assert hits, f"no show_doc entry for {name} in any notebook page"


def test_search_index(site):
    entries = json.loads((site / "search.json").read_text(encoding="utf-8"))
    hrefs = {e["href"].split("#")[0] for e in entries}
    assert {"11_alpha.kalman.html", "43_risk.report.html", "api/kalman.html"} <= hrefs
    assert any("KalmanHedge" in e.get("text", "") + e.get("section", "") for e in entries)
    js = (site / "site_libs" / "search-index.js").read_text(encoding="utf-8")
    assert js.startswith("window.smalldocsSearchIndex = [")


# ---------------------------------------------------------------- in Chromium


@pytest.fixture(scope="module")
def browser():
    driver = chromium_driver(console_log=True)
    driver.set_page_load_timeout(60)
    yield driver
    driver.quit()


@pytest.fixture(scope="module")
def served(site):
    "The site over HTTP on a loopback port, as `python -m http.server -d docs/site` serves it."
    handler = functools.partial(_QuietHandler, directory=str(site))
    server = _QuietServer(("127.0.0.1", 0), handler)
    t = threading.Thread(target=server.serve_forever, daemon=True)
    t.start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()
    server.server_close()


class _QuietHandler(http.server.SimpleHTTPRequestHandler):
    def log_message(self, *args):
        pass


class _QuietServer(http.server.ThreadingHTTPServer):
    def handle_error(self, request, client_address):  # the browser may drop a connection it no longer needs
        pass


_PAGE_STATE = """
const imgs = [...document.images].map(i => ({src: i.src.slice(0, 60), ok: i.complete && i.naturalWidth > 0,
                                              w: i.naturalWidth}));
const maths = [...document.querySelectorAll('math')].map(m => m.getBoundingClientRect().width);
return {title: document.title, main: (document.querySelector('main') || document.body).innerText.length,
        links: [...document.querySelectorAll('a[href]')].map(a => a.href), imgs: imgs, maths: maths};
"""


def test_every_page_in_chromium(site, served, browser):
    "Every page loads (HTTP 200, a title, a body, no failed resource); every link in the DOM resolves; images decode."
    site = site.resolve()
    failures, pages, link_count = [], _pages(site), 0
    images = {}
    for page in pages:
        rel = page.relative_to(site).as_posix()
        with urlopen(f"{served}/{rel}") as r:
            assert r.status == 200, rel
        browser.get(f"{served}/{rel}")
        state = browser.execute_script(_PAGE_STATE)
        if not state["title"].strip() or state["main"] < 50:
            failures.append(f"{rel}: empty page (title {state['title']!r}, {state['main']} chars)")
        for entry in browser.get_log("browser"):
            failures.append(f"{rel}: console {entry['level']}: {entry['message'][:200]}")
        for img in state["imgs"]:
            if not img["ok"]:
                failures.append(f"{rel}: image not rendered {img['src']}")
        images[rel] = [i["w"] for i in state["imgs"] if i["ok"]]
        for href in state["links"]:
            if not href.startswith(served):
                continue
            link_count += 1
            path, frag = urldefrag(href[len(served):])
            target = site / unquote(path.lstrip("/"))
            if target.is_dir():
                target = target / "index.html"
            if not target.is_file():
                failures.append(f"{rel}: link {href} -> 404")
            elif frag and target.suffix == ".html" and unquote(frag) not in _parse(target).ids:
                failures.append(f"{rel}: link {href} -> no anchor")
    assert not failures, "\n".join(failures[:40])
    assert link_count > 20 * len(pages)
    for rel in PLOT_PAGES:  # plots saved in the notebooks show as decoded images
        assert images[rel] and min(images[rel]) > 100, (rel, images[rel])


def test_maths_and_search_in_chromium(site, served, browser):
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support import expected_conditions as ec
    from selenium.webdriver.support.ui import WebDriverWait

    browser.get(f"{served}/11_alpha.kalman.html")
    widths = browser.execute_script(_PAGE_STATE)["maths"]
    assert len(widths) > 20 and min(widths) > 0, "MathML not laid out"
    browser.get(f"{served}/index.html")
    box = browser.find_element(By.CSS_SELECTOR, ".smalldocs-search input")
    if not box.is_displayed():  # the navbar search opens from its button
        browser.find_element(By.CSS_SELECTOR, ".smalldocs-search button").click()
    box.send_keys("KalmanHedge")
    WebDriverWait(browser, 20).until(ec.presence_of_element_located((By.CSS_SELECTOR, "a.search-result")))
    hrefs = [a.get_attribute("href") for a in browser.find_elements(By.CSS_SELECTOR, "a.search-result")]
    assert any("kalman" in h for h in hrefs), hrefs


def test_search_works_from_disk(site, browser):
    "Opened as files (file://), where fetch() of search.json is refused, search loads the index as a script."
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support import expected_conditions as ec
    from selenium.webdriver.support.ui import WebDriverWait

    browser.get((site / "api" / "kalman.html").resolve().as_uri())
    browser.get_log("browser")  # fetch() of search.json on file:// logs an error; the fallback is what is tested
    box = browser.find_element(By.CSS_SELECTOR, ".smalldocs-search input")
    if not box.is_displayed():
        browser.find_element(By.CSS_SELECTOR, ".smalldocs-search button").click()
    box.send_keys("Tearsheet")
    WebDriverWait(browser, 20).until(ec.presence_of_element_located((By.CSS_SELECTOR, "a.search-result")))
    hrefs = [a.get_attribute("href") for a in browser.find_elements(By.CSS_SELECTOR, "a.search-result")]
    assert any("report" in h for h in hrefs), hrefs
