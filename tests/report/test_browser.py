"""index.html in headless Chromium: every figure loads, every table renders, no sideways page scroll on a
phone-sized window, and it prints (one page at least per section).

Skipped when no Chromium is installed (CI installs it: ``apt-get install -y chromium``).
"""

from __future__ import annotations

import json
import re
import shutil
import subprocess
from html import escape
from pathlib import Path

import pytest

CHROMIUM = next((p for p in (shutil.which("chromium"), shutil.which("chromium-browser"), "/usr/bin/chromium")
                 if p and Path(p).exists()), None)
pytestmark = pytest.mark.skipif(CHROMIUM is None, reason="Chromium not installed (apt-get install -y chromium)")

FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
         "--disable-background-networking", "--disable-component-update", "--disable-sync",
         "--disable-extensions", "--mute-audio", "--hide-scrollbars"]

#: Appended to a copy of index.html: after load, record what rendered into the DOM for --dump-dom.
PROBE = """
<script>
window.addEventListener("load", function () {
  var imgs = Array.prototype.map.call(document.images, function (i) {
    return {alt: i.alt, ok: i.complete && i.naturalWidth > 0, w: i.getBoundingClientRect().width};
  });
  var tables = Array.prototype.map.call(document.querySelectorAll("table"), function (t) {
    var r = t.getBoundingClientRect();
    return {rows: t.rows.length, h: r.height, w: r.width};
  });
  var out = {imgs: imgs, tables: tables, scrollWidth: document.documentElement.scrollWidth,
             innerWidth: window.innerWidth, sections: document.querySelectorAll("section").length};
  var pre = document.createElement("pre");
  pre.id = "probe";
  pre.textContent = JSON.stringify(out);
  document.body.appendChild(pre);
});
</script>
"""


def _run(args: list[str], tmp: Path) -> subprocess.CompletedProcess[str]:
    profile = tmp / f"profile-{len(list(tmp.iterdir()))}"
    profile.mkdir()
    return subprocess.run([CHROMIUM, *FLAGS, f"--user-data-dir={profile}", *args],  # type: ignore[list-item]
                          capture_output=True, text=True, timeout=120, check=False)


#: Headless Chromium does not make windows narrower than 500 px; a phone's 375 px viewport is an iframe that
#: wide. The probe finds, in the framed report, the widest table with a p column, whether it overflows its
#: wrapper and shows the scroll hint, and where the p column and the first column are before and after the
#: wrapper is scrolled to bring the p column next to the first column.
SCROLL_PAGE = """<!DOCTYPE html><html><body style="margin:0">
<iframe id="phone" style="width:375px;height:812px;border:0" srcdoc="SRCDOC"></iframe>
<script>
document.getElementById("phone").addEventListener("load", function () {
  var win = this.contentWindow, doc = this.contentDocument;
  function box(el) { var r = el.getBoundingClientRect(); return {l: r.left, r: r.right, w: r.width}; }
  var best = null;
  Array.prototype.forEach.call(doc.querySelectorAll(".table-wrap"), function (wrap) {
    var head = wrap.querySelector("thead tr:last-child");
    if (!head) return;
    var idx = -1;
    Array.prototype.forEach.call(head.cells, function (c, i) {
      if (idx < 0 && /^p\\b/.test(c.textContent.trim())) idx = i;
    });
    if (idx < 0) return;
    if (best === null || wrap.scrollWidth > best.wrap.scrollWidth) best = {wrap: wrap, idx: idx};
  });
  var out = {found: best !== null, innerWidth: win.innerWidth,
             pageOverflow: doc.documentElement.scrollWidth - win.innerWidth};
  if (best) {
    var wrap = best.wrap, table = wrap.querySelector("table");
    var row = Array.prototype.find.call(table.tBodies[0].rows, function (r) { return r.cells.length > best.idx; });
    var pCell = row.cells[best.idx], first = row.cells[0];
    var fig = wrap.closest("figure"), hint = fig.querySelector(".scroll-hint");
    out.id = fig.id;
    out.overflow = wrap.scrollWidth - wrap.clientWidth;
    out.hint = hint !== null && win.getComputedStyle(hint).display !== "none" && box(hint).w > 0;
    out.shadow = win.getComputedStyle(wrap).backgroundAttachment;
    out.wrapBefore = box(wrap); out.pBefore = box(pCell); out.firstBefore = box(first);
    // scroll until the p column's left edge meets the sticky first column's right edge
    wrap.scrollLeft = out.pBefore.l - out.firstBefore.r;
    out.scrolled = wrap.scrollLeft;
    out.wrapAfter = box(wrap); out.pAfter = box(pCell); out.firstAfter = box(first);
    out.pText = pCell.textContent;
  }
  var pre = document.createElement("pre");
  pre.id = "probe";
  pre.textContent = JSON.stringify(out);
  document.body.appendChild(pre);
});
</script></body></html>
"""


def _probe(out_dir: Path, tmp: Path, size: str, phone: bool = False) -> dict:
    html = (out_dir / "index.html").read_text("utf-8")
    if phone:
        html = SCROLL_PAGE.replace("SRCDOC", escape(html, quote=True))
    else:
        html = html.replace("</body>", PROBE + "</body>")
    page = tmp / f"probe-{size.replace(',', 'x')}.html"  # index.html is self-contained: any folder works
    page.write_text(html, encoding="utf-8")
    res = _run([f"--window-size={size}", "--virtual-time-budget=10000", "--dump-dom", page.as_uri()], tmp)
    m = re.search(r'<pre id="probe">(.*?)</pre>', res.stdout, re.S)
    assert m, f"probe not found; chromium stderr: {res.stderr[-2000:]}"
    return json.loads(m.group(1).replace("&quot;", '"').replace("&amp;", "&").replace("&lt;", "<")
                      .replace("&gt;", ">"))


def test_figures_and_tables_render(out_dir, report, tmp_path):
    got = _probe(out_dir, tmp_path, "1280,2000")
    assert got["sections"] == len(report.sections)
    assert len(got["imgs"]) == len(report.figures) == 12  # 1a-4, Simon-Makuch S1, CIF, CONSORT, swimmer, forest
    for img in got["imgs"]:
        assert img["ok"] and img["w"] > 300, img
    assert len(got["tables"]) == len(report.tables)
    for t, table in zip(got["tables"], report.tables, strict=True):
        assert t["rows"] == len(table.header) + len(table.rows)
        assert t["h"] > 0 and t["w"] > 0


def test_phone_width_has_no_page_overflow(out_dir, tmp_path):
    got = _probe(out_dir, tmp_path, "390,844")
    # wide tables scroll inside their wrappers; the page itself does not scroll sideways
    assert got["scrollWidth"] <= got["innerWidth"] + 1, got["scrollWidth"]
    assert all(i["ok"] and i["w"] <= got["innerWidth"] for i in got["imgs"])


def test_phone_scrolls_wide_table_to_p_column(out_dir, tmp_path):
    """At a 375 px wide window the widest table with a p column overflows its wrapper with a visible cue
    (hint and scroll shadows); scrolled sideways, the p column is fully in view and the first column
    (row labels) still is, at the wrapper's left edge, beside it."""
    got = _probe(out_dir, tmp_path, "800,900", phone=True)
    assert got["found"], got
    assert got["innerWidth"] == 375, got["innerWidth"]
    assert got["pageOverflow"] <= 1, got  # the page itself does not scroll sideways
    assert got["overflow"] > 50, got  # the table is wider than the phone: it must scroll
    assert got["pBefore"]["l"] >= got["wrapBefore"]["r"], got  # the p column starts out of view ...
    assert got["hint"], got  # ... and the reader is told
    assert "local" in got["shadow"], got["shadow"]
    assert got["scrolled"] > 0
    wrap, p, first = got["wrapAfter"], got["pAfter"], got["firstAfter"]
    assert wrap["l"] - 1 <= p["l"] and p["r"] <= wrap["r"] + 1, got  # p column reachable
    assert abs(first["l"] - wrap["l"]) <= 2, got  # first column stuck at the left edge
    assert first["r"] <= p["l"] + 1, got  # and not covering the p column
    assert first == got["firstBefore"], got
    assert got["pText"].strip() and got["pText"].strip()[0].isdigit()


def test_prints_one_section_per_page(out_dir, report, tmp_path):
    pdf = tmp_path / "print.pdf"
    res = _run(["--no-pdf-header-footer", f"--print-to-pdf={pdf}", (out_dir / "index.html").as_uri()], tmp_path)
    assert pdf.exists(), res.stderr[-2000:]
    data = pdf.read_bytes()
    assert data.startswith(b"%PDF")
    pages = len(re.findall(rb"/Type\s*/Page(?!s)", data))
    assert pages >= len(report.sections)
