"""index.html in headless Chromium: every figure loads, every table renders, no sideways page scroll on a
phone-sized window, and it prints (one page at least per section).

Skipped when no Chromium is installed (CI installs it: ``apt-get install -y chromium``).
"""

from __future__ import annotations

import json
import re
import shutil
import subprocess
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


def _probe(out_dir: Path, tmp: Path, size: str) -> dict:
    html = (out_dir / "index.html").read_text("utf-8").replace("</body>", PROBE + "</body>")
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
    assert len(got["imgs"]) == len(report.figures) == 8  # figures 1a-4 and the Simon-Makuch figure S1
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


def test_prints_one_section_per_page(out_dir, report, tmp_path):
    pdf = tmp_path / "print.pdf"
    res = _run(["--no-pdf-header-footer", f"--print-to-pdf={pdf}", (out_dir / "index.html").as_uri()], tmp_path)
    assert pdf.exists(), res.stderr[-2000:]
    data = pdf.read_bytes()
    assert data.startswith(b"%PDF")
    pages = len(re.findall(rb"/Type\s*/Page(?!s)", data))
    assert pages >= len(report.sections)
