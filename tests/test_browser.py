"""The built leaderboard site in a real browser: headless Chromium against a local server.

Builds the site from small real results, serves it on 127.0.0.1 from a thread, and uses
``chromium --headless --dump-dom`` (the DOM after scripts ran) and ``--screenshot``. Screenshots
go to ``test-artifacts/`` (gitignored) and to pytest's tmp directory.

Run with ``pytest tests/test_browser.py -m browser``; skipped when no Chromium is installed
(Debian: ``apt-get install chromium``). ``ESTBENCH_CHROMIUM`` may name the browser binary.
"""

from __future__ import annotations

import contextlib
import functools
import html
import html.parser
import http.server
import os
import shutil
import subprocess
import sys
import threading
import urllib.parse
import urllib.request
from pathlib import Path

import pytest

from leaderboard.build import build
from leaderboard.demo import DEMO_SPLIT, shared_demo_results, stage_site_project

ROOT = Path(__file__).resolve().parent.parent
ARTIFACTS = ROOT / "test-artifacts"
CANDIDATES = ("/usr/bin/chromium", "chromium", "chromium-browser", "google-chrome",
              "google-chrome-stable")


def find_chromium() -> str | None:
    """``$ESTBENCH_CHROMIUM``, ``/usr/bin/chromium``, or a Chromium/Chrome on ``PATH``."""
    explicit = os.environ.get("ESTBENCH_CHROMIUM")
    if explicit:
        return explicit if shutil.which(explicit) else None
    for name in CANDIDATES:
        found = shutil.which(name)
        if found:
            return found
    return None


CHROMIUM = find_chromium()

pytestmark = [
    pytest.mark.browser,
    pytest.mark.skipif(CHROMIUM is None, reason="headless Chromium not found (/usr/bin/chromium "
                       "absent; install it with `apt-get install chromium` or set "
                       "ESTBENCH_CHROMIUM)"),
]


class _Handler(http.server.SimpleHTTPRequestHandler):
    """Static files; records (path, status) of every request for the assertions."""

    log: list[tuple[str, int]]

    def log_request(self, code="-", size="-") -> None:
        self.log.append((urllib.parse.urlsplit(self.path).path, int(getattr(code, "value",
                                                                          code))))

    def log_message(self, format, *args) -> None:  # keep pytest's output clean
        pass


def with_bootstrap(results: Path, out: Path, data_dir: str) -> Path:
    """A copy of ``results`` whose files carry ``metrics.bootstrap``, computed from their real
    scores and the real ground truth as the harness stores it (so CI tooltips and rank groups
    show)."""
    import json

    import numpy as np

    from harness.splits import load_split
    from harness.uncertainty import bootstrap_metrics
    from leaderboard import analysis

    shutil.copytree(results, out, ignore=shutil.ignore_patterns(".*"))
    split = load_split(DEMO_SPLIT)
    truth = np.asarray(split.ground_truth(data_dir), dtype=float)
    for path in sorted(out.glob(f"*/{DEMO_SPLIT}.json")):
        obj = json.loads(path.read_text())
        matrix = analysis.seed_scores(path.parent / obj["scores_file"], split.arch_ids,
                                      obj["protocol"]["seeds"])
        obj["metrics"]["bootstrap"] = bootstrap_metrics(
            [analysis.floor_failures(row) for row in matrix], truth)
        path.write_text(json.dumps(obj))
    return out


@pytest.fixture(scope="module")
def server(tmp_path_factory, data_dir):
    """The built site served on 127.0.0.1: yields (base URL, request log, site folder)."""
    work = tmp_path_factory.mktemp("browser")
    base = tmp_path_factory.getbasetemp()
    results = shared_demo_results(base.parent if os.environ.get("PYTEST_XDIST_WORKER")
                                  else base, data_dir)
    results = with_bootstrap(results, work / "results", data_dir)
    config = stage_site_project(work / "project")
    build(results, work / "project" / "docs", data_dir=data_dir, results_label="results")
    site = work / "site"
    proc = subprocess.run([sys.executable, "-m", "mkdocs", "build", "--strict", "--config-file",
                           str(config), "--site-dir", str(site)], capture_output=True, text=True,
                          timeout=180, env=dict(os.environ, NO_MKDOCS_2_WARNING="1"))
    assert proc.returncode == 0, proc.stdout + proc.stderr
    (site / "probe.html").write_text(PROBE_PAGE, encoding="utf-8")
    log: list[tuple[str, int]] = []
    with _serve(site, log) as base:
        yield base, log


@contextlib.contextmanager
def _serve(site: Path, log: list[tuple[str, int]]):
    """``site`` served on 127.0.0.1 from a thread; yields the base URL; requests go to ``log``."""
    handler = type("Handler", (_Handler,), {"log": log})
    httpd = http.server.ThreadingHTTPServer(
        ("127.0.0.1", 0), functools.partial(handler, directory=str(site)))
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{httpd.server_address[1]}/"
    finally:
        httpd.shutdown()
        httpd.server_close()
        thread.join(timeout=10)


def chromium(url: str, profile: Path, *args: str) -> subprocess.CompletedProcess:
    cmd = [CHROMIUM, "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic",
           "--no-first-run", "--disable-background-networking", "--disable-component-update",
           "--disable-sync", "--disable-dev-shm-usage", "--hide-scrollbars",
           f"--user-data-dir={profile}", *args, url]
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr[-3000:]
    return proc


class _Tables(html.parser.HTMLParser):
    """Rows of every <table> (cell texts) and attributes of every <table> and <img>."""

    def __init__(self) -> None:
        super().__init__()
        self.tables: list[dict] = []
        self.images: list[dict] = []
        self._cell: list[str] | None = None
        self._row: list[str] | None = None

    def handle_starttag(self, tag, attrs):
        if tag == "table":
            self.tables.append({"attrs": dict(attrs), "rows": []})
        elif tag == "tr" and self.tables:
            self._row = []
        elif tag in ("td", "th") and self._row is not None:
            self._cell = []
        elif tag == "img":
            self.images.append(dict(attrs))

    def handle_endtag(self, tag):
        if tag in ("td", "th") and self._cell is not None and self._row is not None:
            self._row.append(" ".join("".join(self._cell).split()))
            self._cell = None
        elif tag == "tr" and self._row is not None:
            self.tables[-1]["rows"].append(self._row)
            self._row = None

    def handle_data(self, data):
        if self._cell is not None:
            self._cell.append(data)


def parse(dom: str) -> _Tables:
    p = _Tables()
    p.feed(dom)
    return p


def test_home_table_renders(server, tmp_path):
    base, _ = server
    dom = chromium(base, tmp_path / "profile", "--dump-dom").stdout
    page = parse(dom)
    board = next(t for t in page.tables if t["rows"] and "Estimator" in t["rows"][0])
    header, *rows = board["rows"]
    assert header == ["#", "Estimator", "Kind", "Status", DEMO_SPLIT, "Mean τ", "Group",
                      "s/arch"]
    # params (1 seed, higher τ) ranks first, provisionally; random (3 seeds) second.
    assert [r[1] for r in rows] == ["params", "random"]
    assert rows[0][0] == "1" and rows[0][2] == "baseline" and rows[0][3] == "◐"
    assert rows[1][0] == "2" and rows[1][3] == "✓"
    assert 'title="provisional: 1 of 3 seeds"' in dom
    # Rank groups from the stored bootstrap samples: params is clearly better than random.
    assert [r[6] for r in rows] == ["1", "2"]
    # docs/javascripts/tablesort.js ran and made the table sortable.
    assert board["attrs"].get("data-sortable") == "ready"
    assert 'role="columnheader"' in dom


# Loads the home page in a 1,440 px wide frame of the same origin and measures it after its
# scripts ran: overflow, the heatmap, sorting by clicks, and the CI tooltips.
PROBE_PAGE = """<!doctype html><html><body style="margin:0">
<iframe id="f" src="./" style="width:1440px;height:1000px;border:0"></iframe>
<script>
  var frame = document.getElementById("f");
  function order(table) {
    return Array.from(table.tBodies[0].rows)
      .map(function (r) { return r.cells[1].textContent.trim(); }).join(",");
  }
  function probe(tries) {
    var d = frame.contentDocument, w = frame.contentWindow;
    var board = d && d.querySelector(".lb-home table");
    var img = d && d.querySelector('img[src$="tau-heatmap.svg"]');
    var ready = board && board.dataset.sortable === "ready" && img && img.complete;
    if (!ready && tries > 0) { setTimeout(function () { probe(tries - 1); }, 100); return; }
    var out = {ready: !!ready};
    if (ready) {
      var wrap = board.closest(".md-typeset__scrollwrap") || board.parentElement;
      var article = d.querySelector("article");
      out.innerWidth = w.innerWidth;
      out.pageOverflow = d.documentElement.scrollWidth - w.innerWidth;
      out.tableOverflow = wrap.scrollWidth - wrap.clientWidth;
      out.tableRight = board.getBoundingClientRect().right;
      out.articleRight = article.getBoundingClientRect().right;
      out.heatmap = [img.naturalWidth, img.naturalHeight, img.getBoundingClientRect().width];
      var tips = Array.from(board.tBodies[0].rows).map(function (r) {
        var span = r.cells[4].querySelector("span[title]");
        return span ? span.getAttribute("title") : "";
      });
      out.tips = tips;
      var th = board.tHead.rows[0].cells;
      out.initial = order(board);
      th[4].click(); out.tau1 = order(board); out.aria1 = th[4].getAttribute("aria-sort");
      th[4].click(); out.tau2 = order(board); out.aria2 = th[4].getAttribute("aria-sort");
      th[0].click(); out.rank = order(board);
    }
    document.body.setAttribute("data-result", JSON.stringify(out));
  }
  frame.addEventListener("load", function () { probe(100); });
</script></body></html>"""


def test_home_at_1440_px_fits_sorts_and_shows_cis(server, tmp_path):
    """No horizontal overflow at 1,440 px; the heatmap renders; header clicks sort; every τ
    cell carries its CI tooltip."""
    import json

    base, _ = server
    dom = chromium(urllib.parse.urljoin(base, "probe.html"), tmp_path / "profile",
                   "--dump-dom", "--window-size=1500,1100", "--virtual-time-budget=30000").stdout
    start = dom.index('data-result="') + len('data-result="')
    result = json.loads(html.unescape(dom[start:dom.index('"', start)]))
    assert result["ready"], result
    assert result["innerWidth"] == 1440
    assert result["pageOverflow"] <= 0, result
    assert result["tableOverflow"] <= 0, result  # no scroll bar inside the table's wrapper
    assert result["tableRight"] <= result["articleRight"] + 1, result
    width, height, shown = result["heatmap"]
    assert width > 200 and height > 100 and shown > 200, result["heatmap"]
    assert result["initial"] == "params,random"
    # τ: high-to-low first (params has the higher τ), then reversed; "#" sorts ascending.
    assert (result["tau1"], result["aria1"]) == ("params,random", "descending")
    assert (result["tau2"], result["aria2"]) == ("random,params", "ascending")
    assert result["rank"] == "params,random"
    for tip in result["tips"]:
        assert "95 % CI [" in tip and "percentile bootstrap over architectures" in tip, tip


def test_estimator_page_plot_loads(server, tmp_path):
    base, log = server
    url = urllib.parse.urljoin(base, "estimators/random/")
    dom = chromium(url, tmp_path / "profile", "--dump-dom").stdout
    srcs = [img.get("src", "") for img in parse(dom).images]
    scatter = [s for s in srcs if s.endswith(f"{DEMO_SPLIT}-scatter.svg")]
    assert scatter, srcs
    for src in srcs:
        if "/img/estimators/" not in urllib.parse.urljoin(url, src):
            continue
        target = urllib.parse.urljoin(url, src)
        with urllib.request.urlopen(target, timeout=30) as resp:
            assert resp.status == 200
            assert resp.headers["Content-Type"].startswith("image/svg")
            assert resp.read(200).lstrip().startswith(b"<?xml")
    # The browser itself fetched the plot successfully while rendering the page.
    path = urllib.parse.urlsplit(urllib.parse.urljoin(url, scatter[0])).path
    assert (path, 200) in log or (path, 304) in log, log[-20:]


def test_screenshot(server, tmp_path):
    base, _ = server
    ARTIFACTS.mkdir(exist_ok=True)
    for name, rel, size in (("leaderboard-home", "", "1440,1000"),
                            ("leaderboard-estimator", "estimators/random/", "1280,2400")):
        shot = tmp_path / f"{name}.png"
        chromium(urllib.parse.urljoin(base, rel), tmp_path / f"profile-{name}",
                 f"--screenshot={shot}", f"--window-size={size}")
        data = shot.read_bytes()
        assert data.startswith(b"\x89PNG") and len(data) > 20_000, len(data)
        shutil.copy2(shot, ARTIFACTS / shot.name)


SORT_PAGE = """<!doctype html><html><body><article><table>
<thead><tr><th>#</th><th>Estimator</th><th>τ</th><th>BR@5%</th></tr></thead>
<tbody>
<tr><td>2</td><td>beta</td><td>0.300 <small>± 0.010</small></td><td>0.020</td></tr>
<tr><td>—</td><td>delta</td><td>—</td><td>n/a</td></tr>
<tr><td>1</td><td>alpha</td><td>0.512</td><td>0.010</td></tr>
<tr><td>3</td><td>gamma</td><td>-0.100</td><td>0.400</td></tr>
</tbody></table></article>
<script src="tablesort.js"></script>
<script>
  function order() {
    return Array.from(document.querySelectorAll("tbody tr"))
      .map(function (r) { return r.cells[1].textContent; }).join(",");
  }
  document.addEventListener("DOMContentLoaded", function () {  // after tablesort.js set up
    var th = document.querySelectorAll("th");
    var out = {};
    th[2].click(); out.tau1 = order(); th[2].click(); out.tau2 = order();
    th[3].click(); out.br = order(); th[0].click(); out.rank = order();
    th[1].click(); out.name = order();
    document.body.setAttribute("data-result", JSON.stringify(out));
  });
</script></body></html>"""


def test_tablesort_script(tmp_path):
    """docs/javascripts/tablesort.js: numeric sort, direction, missing values last."""
    import json

    shutil.copy2(ROOT / "docs" / "javascripts" / "tablesort.js", tmp_path / "tablesort.js")
    page = tmp_path / "sort.html"
    page.write_text(SORT_PAGE, encoding="utf-8")
    dom = chromium(page.as_uri(), tmp_path / "profile", "--dump-dom",
                   "--allow-file-access-from-files").stdout
    start = dom.index('data-result="') + len('data-result="')
    raw = dom[start:dom.index('"', start)]
    result = json.loads(html.unescape(raw))
    assert result["tau1"] == "alpha,beta,gamma,delta"  # higher is better: descending first
    assert result["tau2"] == "gamma,beta,alpha,delta"  # reversed; missing stays last
    assert result["br"] == "alpha,beta,gamma,delta"  # lower is better: ascending first
    assert result["rank"] == "alpha,beta,gamma,delta"  # rank ascending, unranked last
    assert result["name"] == "alpha,beta,delta,gamma"  # text: alphabetical


# Loads each page of the site in a 1,440 px wide frame of the same origin, one after the other,
# and measures what does not fit: the page itself, any table (its scroll wrapper, or past the
# article's right edge), and any image, code block or SVG past the article.
FIT_PROBE = """<!doctype html><html><body style="margin:0">
<iframe id="f" style="width:1440px;height:900px;border:0"></iframe>
<script>
  var urls = %s, names = %s, out = [], i = 0, frame = document.getElementById("f");
  function measure() {
    var d = frame.contentDocument, w = frame.contentWindow, r = {url: urls[i], tables: [],
                                                                  wide: [], wrapped: [],
                                                                  names: 0};
    var art = d.querySelector("article");
    var right = art ? art.getBoundingClientRect().right : w.innerWidth;
    r.page = d.documentElement.scrollWidth - w.innerWidth;
    d.querySelectorAll("article table").forEach(function (t, k) {
      var wrap = t.closest(".md-typeset__scrollwrap") || t.parentElement;
      var over = Math.max(wrap.scrollWidth - wrap.clientWidth,
                          t.getBoundingClientRect().right - right);
      if (over > 1) {
        r.tables.push([k, Math.round(over), (t.rows[0] ? t.rows[0].textContent : "")
                       .replace(/\\s+/g, " ").trim().slice(0, 80)]);
      }
    });
    // Short names stay on one line in a table cell: a kind ("zero-shot") or a split name
    // ("nb201-c10-1k") wrapped at its hyphens doubled or tripled the height of the rows. A cell
    // may hold one name or a list ("nb101-1k, nb201-c10-1k, ..."), which may break after a
    // comma, never inside a name: each name's own text range is measured.
    d.querySelectorAll("article td").forEach(function (cell) {
      var parts = cell.textContent.trim().split(", ");
      if (!parts.every(function (p) { return names.indexOf(p) >= 0; })) { return; }
      var nodes = [], walker = d.createTreeWalker(cell, NodeFilter.SHOW_TEXT), node;
      var full = "";
      while ((node = walker.nextNode())) { nodes.push([node, full.length]); full += node.data; }
      function at(index) {  // the text node and offset of a character of the cell's text
        for (var k = nodes.length - 1; k >= 0; k--) {
          if (nodes[k][1] <= index) { return [nodes[k][0], index - nodes[k][1]]; }
        }
        return [nodes[0][0], 0];
      }
      var from = 0;
      parts.forEach(function (name) {
        var begin = full.indexOf(name, from), end = begin + name.length;
        from = end;
        var range = d.createRange(), a = at(begin), b = at(end - 1);
        range.setStart(a[0], a[1]);
        range.setEnd(b[0], b[1] + 1);
        var tops = new Set(Array.from(range.getClientRects()).filter(function (q) {
          return q.width > 0;
        }).map(function (q) { return Math.round(q.top); }));
        r.names += 1;
        if (tops.size > 1) { r.wrapped.push(name); }
      });
    });
    d.querySelectorAll("article img, article pre, article svg").forEach(function (e) {
      var over = e.getBoundingClientRect().right - right;
      if (over > 1) { r.wide.push([e.tagName, Math.round(over)]); }
    });
    out.push(r);
    i += 1;
    next();
  }
  function next() {
    if (i >= urls.length) {
      document.body.setAttribute("data-result", JSON.stringify(out));
      return;
    }
    frame.onload = function () { setTimeout(measure, 200); };
    frame.src = urls[i];
  }
  next();
</script></body></html>"""


@pytest.fixture(scope="module")
def committed_site(tmp_path_factory):
    """The repository's own site (committed results and generated pages), built and served."""
    work = tmp_path_factory.mktemp("committed-site")
    site = work / "site"
    proc = subprocess.run([sys.executable, "-m", "mkdocs", "build", "--config-file",
                           str(ROOT / "mkdocs.yml"), "--site-dir", str(site)],
                          capture_output=True, text=True, timeout=600, cwd=ROOT,
                          env=dict(os.environ, NO_MKDOCS_2_WARNING="1"))
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    pages = sorted(p.parent.relative_to(site).as_posix() for p in site.rglob("index.html"))
    urls = ["./" if p == "." else f"./{p}/" for p in pages if p != "404"]
    import json

    # Names that must not wrap in a table cell: the kinds and every committed split (those
    # with a page and the indicative ones the estimators index lists).
    names = ["zero-shot", "one-shot", "baseline"] + sorted(
        p.stem for p in (ROOT / "harness" / "splits").glob("*.json"))
    (site / "fit-probe.html").write_text(FIT_PROBE % (json.dumps(urls), json.dumps(names)),
                                         encoding="utf-8")
    with _serve(site, []) as base:
        yield base, urls


def test_every_page_of_the_site_fits_1440_px(committed_site, tmp_path):
    """Home, every split page, every estimator page, the one-shot page and every hand-written
    page: nothing is cut off or scrolls sideways at 1,440 px, and no cell that holds a kind or a
    split name wraps."""
    import json

    base, urls = committed_site
    dom = chromium(urllib.parse.urljoin(base, "fit-probe.html"), tmp_path / "profile",
                   "--dump-dom", "--window-size=1500,1000", "--virtual-time-budget=300000"
                   ).stdout
    start = dom.index('data-result="') + len('data-result="')
    result = json.loads(html.unescape(dom[start:dom.index('"', start)]))
    assert [r["url"] for r in result] == urls  # every page was measured
    assert any("splits/" in u for u in urls) and any("estimators/" in u for u in urls)
    # The one-line check measured something: the home page's tables, split and estimator pages.
    assert next(r for r in result if r["url"] == "./")["names"] > 0
    assert any(r["names"] > 0 for r in result if "splits/" in r["url"])
    assert any(r["names"] > 0 for r in result if "estimators/" in r["url"])
    bad = [r for r in result if r["page"] > 0 or r["tables"] or r["wide"] or r["wrapped"]]
    assert not bad, "\n".join(json.dumps(r, ensure_ascii=False) for r in bad)
