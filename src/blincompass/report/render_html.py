"""Self-contained HTML rendering: inline CSS, figures embedded as SVG data URIs, responsive and printable."""

from __future__ import annotations

import base64
from html import escape

from blincompass.report.model import Figure, Paragraph, Report, Section, Table

__all__ = ["CSS", "render_html"]

CSS = """
:root { --fg: #1b1b1b; --muted: #555; --line: #c9c9c9; --head: #eef2f6; --warn: #b00020; }
* { box-sizing: border-box; }
body { font-family: "Segoe UI", Roboto, "Helvetica Neue", Arial, sans-serif; color: var(--fg); margin: 0;
       line-height: 1.45; font-size: 16px; }
main { max-width: 1100px; margin: 0 auto; padding: 1rem; }
header.report { padding: 1rem 0 .5rem; border-bottom: 2px solid var(--fg); margin-bottom: 1rem; }
header.report h1 { font-size: 1.5rem; margin: 0 0 .25rem; }
header.report p { margin: 0; color: var(--muted); }
.synthetic-banner { background: var(--warn); color: #fff; font-weight: 700; text-align: center;
                    padding: .6rem 1rem; letter-spacing: .03em; position: sticky; top: 0; z-index: 10; }
nav.toc ol { padding-left: 1.2rem; margin: .25rem 0 1rem; }
nav.toc a { color: #0b4f8a; }
section { margin: 1.5rem 0 2rem; }
h2 { font-size: 1.25rem; border-bottom: 1px solid var(--line); padding-bottom: .2rem; }
p.note { color: var(--muted); font-size: .9rem; }
p.warning { color: var(--warn); font-weight: 700; border: 2px solid var(--warn); padding: .5rem .75rem; }
figure.table { margin: 1rem 0 1.5rem; }
figure.table figcaption, figure.plot figcaption { font-weight: 600; margin: .25rem 0 .5rem; }
/* Wide tables scroll inside their wrapper. Scroll shadows (background-attachment: local covers): a shadow
   shows at an edge only while more columns lie beyond it, so a phone reader sees that the table goes on. */
.table-wrap { overflow-x: auto; -webkit-overflow-scrolling: touch; border: 1px solid var(--line);
  background: linear-gradient(to right, #fff 30%, rgba(255,255,255,0)) left center / 2.5rem 100% no-repeat local,
              linear-gradient(to left, #fff 30%, rgba(255,255,255,0)) right center / 2.5rem 100% no-repeat local,
              radial-gradient(farthest-side at 0 50%, rgba(0,0,0,.28), rgba(0,0,0,0))
                left center / .9rem 100% no-repeat scroll,
              radial-gradient(farthest-side at 100% 50%, rgba(0,0,0,.28), rgba(0,0,0,0))
                right center / .9rem 100% no-repeat scroll; background-color: #fff; }
.scroll-hint { display: none; font-size: .8rem; color: var(--muted); margin: 0 0 .25rem; }
/* The first column (row labels) stays in view while the rest scrolls. */
td:first-child, th:first-child { position: sticky; left: 0; z-index: 1; background: #fff;
  box-shadow: 1px 0 0 var(--line); }
th:first-child { background: var(--head); }
tr.heading td:first-child { background: #fafafa; }
td[colspan]:first-child { position: static; box-shadow: none; }
footer.provenance { margin: 2rem 0 1rem; padding-top: .5rem; border-top: 1px solid var(--line);
  font-size: .8rem; color: var(--muted); }
footer.provenance dl { display: grid; grid-template-columns: max-content 1fr; gap: .1rem .75rem; margin: .25rem 0; }
footer.provenance dt { font-weight: 600; } footer.provenance dd { margin: 0; overflow-wrap: anywhere; }
table { border-collapse: collapse; width: 100%; font-size: .88rem; font-variant-numeric: tabular-nums; }
th, td { border-bottom: 1px solid var(--line); padding: .3rem .5rem; text-align: right; vertical-align: top; }
th { background: var(--head); text-align: center; min-width: 3.5rem; }
td:first-child, th:first-child { text-align: left; }
tr.heading td { font-weight: 700; background: #fafafa; }
tr.total td { font-weight: 600; }
td.txt { text-align: left; }
td.l1 { padding-left: 1.4rem; } td.l2 { padding-left: 2.6rem; }
ol.footnotes, ul.footnotes { font-size: .8rem; color: var(--muted); margin: .4rem 0 0; padding-left: 1.1rem; }
figure.plot { margin: 1rem 0 2rem; }
figure.plot img { width: 100%; height: auto; border: 1px solid var(--line); background: #fff; }
figure.plot .files { font-size: .8rem; }
@media (max-width: 640px) {
  body { font-size: 15px; } main { padding: .5rem; } table { font-size: .8rem; }
  th, td { padding: .25rem .35rem; }
  td:first-child { min-width: 9rem; max-width: 11rem; }
  .wide .scroll-hint { display: block; }
}
@media print {
  body { font-size: 10pt; } main { max-width: none; padding: 0; }
  nav.toc { display: none; }
  section { page-break-before: always; break-before: page; }
  section:first-of-type { page-break-before: avoid; break-before: avoid; }
  .table-wrap { overflow: visible; border: none; background: none; }
  .scroll-hint { display: none !important; }
  td:first-child, th:first-child { position: static; box-shadow: none; }
  figure.table, figure.plot { page-break-inside: avoid; break-inside: avoid; }
  .synthetic-banner { position: static; -webkit-print-color-adjust: exact; print-color-adjust: exact; }
  a { color: inherit; text-decoration: none; }
}
"""


#: Above this estimated width (in characters of the longest text per column, summed), a table is "wide": on a
#: phone it gets a visible "scroll" hint above it besides the scroll shadows.
WIDE_CHARS = 40


def _width_chars(t: Table) -> int:
    """Estimated width of a table in characters: the first column's longest label (capped, it wraps) plus
    each other column's longest cell."""
    widths = [0] * t.n_columns
    for r in t.rows:
        if Table.spans_row(r):
            continue
        for i, c in enumerate(r.cells[: t.n_columns]):
            widths[i] = max(widths[i], len(c))
    if t.header:
        for i, hc in enumerate(t.header[-1][: t.n_columns]):
            if hc.span == 1:
                widths[i] = max(widths[i], min(len(hc.text), 12))
    return min(widths[0], 18) + sum(widths[1:]) if widths else 0


def _table(t: Table) -> str:
    wide = _width_chars(t) > WIDE_CHARS
    out = [f'<figure class="table{" wide" if wide else ""}" id="{escape(t.id)}">'
           f"<figcaption>{escape(t.caption)}</figcaption>"]
    if wide:
        out.append('<p class="scroll-hint" aria-hidden="true">Wide table: swipe sideways for more columns \u2192</p>')
    # a focusable, labelled region: keyboard users can scroll a wide table too
    out += [f'<div class="table-wrap" tabindex="0" role="region" aria-label="{escape(t.caption)}"><table>',
            "<thead>"]
    for hrow in t.header:
        cells = "".join(
            f'<th scope="col"{f" colspan={c.span}" if c.span > 1 else ""}>{escape(c.text)}</th>' for c in hrow
        )
        out.append(f"<tr>{cells}</tr>")
    out.append("</thead><tbody>")
    for r in t.rows:
        if Table.spans_row(r):
            out.append(f'<tr class="heading"><td colspan="{t.n_columns}">{escape(r.cells[0])}</td></tr>')
            continue
        tds = []
        for i, c in enumerate(r.cells):
            classes = [f"l{r.level}"] if i == 0 and r.level else []
            if i > 0 and t.alignment(i) == "left":
                classes.append("txt")
            cls = f' class="{" ".join(classes)}"' if classes else ""
            tds.append(f"<td{cls}>{escape(c)}</td>")
        kind = f' class="{r.kind}"' if r.kind != "data" else ""
        out.append(f"<tr{kind}>{''.join(tds)}</tr>")
    out.append("</tbody></table></div>")
    if t.footnotes:
        out.append('<ul class="footnotes">' + "".join(f"<li>{escape(f)}</li>" for f in t.footnotes) + "</ul>")
    out.append("</figure>")
    return "\n".join(out)


def _figure(f: Figure) -> str:
    data = base64.b64encode(f.svg).decode("ascii")
    links = " ".join(f'<a href="figures/{escape(f.stem)}.{ext}">{ext.upper()}</a>' for ext in ("png", "svg", "pdf"))
    # figures are drawn at print size (300 dpi PNG); on screen 160 px per inch of print
    width = int.from_bytes(f.png[16:20], "big") * 160 // 300 if f.png[:8] == b"\x89PNG\r\n\x1a\n" else 640
    return (f'<figure class="plot" id="figure-{escape(f.id)}">'
            f'<img src="data:image/svg+xml;base64,{data}" alt="{escape(f.alt)}" style="max-width: {width}px">'
            f"<figcaption>{escape(f.caption)}</figcaption>"
            f'<div class="files">Files: {links}</div></figure>')


def _section(s: Section) -> str:
    parts = [f'<section id="{escape(s.id)}"><h2>{escape(s.title)}</h2>']
    for b in s.blocks:
        if isinstance(b, Table):
            parts.append(_table(b))
        elif isinstance(b, Figure):
            parts.append(_figure(b))
        elif isinstance(b, Paragraph):
            cls = f' class="{b.kind}"' if b.kind != "text" else ""
            parts.append(f"<p{cls}>{escape(b.text)}</p>")
    parts.append("</section>")
    return "\n".join(parts)


def _provenance(report: Report) -> str:
    if report.provenance is None:
        return ""
    items = "".join(f"<dt>{escape(k)}</dt><dd>{escape(v)}</dd>" for k, v in report.provenance.lines())
    return f'<footer class="provenance" id="provenance"><strong>Provenance</strong><dl>{items}</dl></footer>\n'


def render_html(report: Report) -> str:
    """The whole report as one HTML document (no external resources; figure files linked as extras)."""
    title = escape(report.title)
    banner = ('<div class="synthetic-banner" role="alert">SYNTHETIC DATA \u2013 not real patients. '
              "Do not cite these results.</div>") if report.synthetic else ""
    toc = "".join(f'<li><a href="#{escape(s.id)}">{escape(s.title)}</a></li>' for s in report.sections)
    body = "\n".join(_section(s) for s in report.sections)
    page_title = f"SYNTHETIC \u2013 {title}" if report.synthetic else title
    return (
        "<!DOCTYPE html>\n"
        '<html lang="en"><head><meta charset="utf-8">'
        '<meta name="viewport" content="width=device-width, initial-scale=1">'
        f"<title>{page_title}</title><style>{CSS}</style></head><body>\n"
        f"{banner}<main><header class=\"report\"><h1>{title}</h1><p>{escape(report.subtitle)}</p></header>\n"
        f'<nav class="toc" aria-label="Contents"><strong>Contents</strong><ol>{toc}</ol></nav>\n'
        f"{body}\n{_provenance(report)}</main></body></html>\n"
    )
