"""CPU time of the report's survival figures, per figure (draw and write PNG, SVG and PDF).

    python benchmarks/bench_figures.py [--copies 100] [--repeats 3]

The cohort is ``copies`` copies of the synthetic twin (39 patients each; 100 copies = 3,900 patients, as in
``bench_report.py``). For every protocol figure it prints the process CPU seconds of ``km_figure`` (draw the
figure and write its three files; best of ``repeats``), and for the drawn figure the cost of writing the
files: three ``savefig`` calls (PNG at 300 dpi, SVG, PDF: each draws the figure again; PDF fonts subset once
per process as the report does) against
``figure_bytes`` (one Agg drawing whose pixels are written as the PNG, then SVG and PDF). The script only
uses ``km_figure`` and ``figure_bytes``, so it runs on older versions of the package too (``PYTHONPATH``) to
compare before and after.

``--parts`` prints instead, per figure, what handing it to a worker process costs and where the drawing's
time goes: laying it out (``draw_km_figure``), pickling and unpickling it, the Agg drawing at 300 dpi, the
PNG encoding, the SVG and the PDF; and whether the SVG and PDF renderers measure text alike (if they did,
one text layout could serve both passes).
"""

from __future__ import annotations

import argparse
import io
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))


def _cpu(fn, repeats: int) -> float:
    best = float("inf")
    for _ in range(repeats):
        t0 = time.process_time()
        fn()
        best = min(best, time.process_time() - t0)
    return best


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--copies", type=int, default=100)
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--parts", action="store_true", help="cost of each step of one figure (see above)")
    args = ap.parse_args()

    import matplotlib
    from bench_report import write_cohort

    from blincompass.derive import derive_all
    from blincompass.protocol import load_protocol
    from blincompass.report import figures
    from blincompass.report.model import ReportContext
    from blincompass.report.sections import survival_results
    from blincompass.validate import load_dataset

    proto = load_protocol()
    with tempfile.TemporaryDirectory() as tmp:
        write_cohort(Path(tmp), args.copies)
        validation = load_dataset(tmp)
    derived = derive_all(validation.dataset, proto)
    ctx = ReportContext(dataset=validation.dataset, derived=derived, protocol=proto, adae=None, synthetic=True)
    groups = figures.figure_groups(survival_results(ctx))
    n = int(len(derived.adsl))
    print(f"{n} patients, {len(groups)} figures; CPU seconds, best of {args.repeats}")
    if args.parts:
        _parts(groups, proto, args.repeats)
        return
    print(f"{'figure':<8}{'km_figure':>11}{'3x savefig':>12}{'figure_bytes':>14}")
    total = [0.0, 0.0, 0.0]
    fonts_once = getattr(figures, "_pdf_fonts_once", None) or __import__(
        "blincompass.report.plotting", fromlist=["pdf_fonts_once"]).pdf_fonts_once
    for fid, panels in groups:
        whole = _cpu(lambda fid=fid, panels=panels: figures.km_figure(fid, panels, proto, synthetic=True),
                     args.repeats)
        with matplotlib.rc_context(figures.RC_PARAMS):
            fig, _ = figures.draw_km_figure(fid, panels, proto, synthetic=True)

            def three(fig=fig) -> None:
                with fonts_once():  # as the report writes PDFs: fonts subset once per process
                    for fmt in ("png", "svg", "pdf"):
                        fig.savefig(io.BytesIO(), format=fmt, dpi=300)

            saves = _cpu(three, args.repeats)
            once = _cpu(lambda fig=fig: figures.figure_bytes(fig), args.repeats)
        for i, v in enumerate((whole, saves, once)):
            total[i] += v
        print(f"{fid:<8}{whole:>11.3f}{saves:>12.3f}{once:>14.3f}", flush=True)
    print(f"{'total':<8}{total[0]:>11.3f}{total[1]:>12.3f}{total[2]:>14.3f}")


def _parts(groups, proto, repeats: int) -> None:
    import pickle

    import matplotlib
    import numpy as np
    from matplotlib import image
    from matplotlib.font_manager import FontProperties

    from blincompass.report import figpool, figures
    from blincompass.report.plotting import DPI, RC_PARAMS, pdf_fonts_once

    names = ("layout", "pickle", "Agg", "PNG", "SVG", "PDF")
    print(f"{'figure':<8}" + "".join(f"{n:>9}" for n in names))
    total = dict.fromkeys(names, 0.0)
    texts: list[str] = []
    with matplotlib.rc_context(RC_PARAMS):
        for fid, panels in groups:
            row = {"layout": _cpu(lambda fid=fid, panels=panels: figures.draw_km_figure(fid, panels, proto,
                                                                                        synthetic=True), repeats)}
            fig, _ = figures.draw_km_figure(fid, panels, proto, synthetic=True)
            texts += [line for t in fig.findobj(matplotlib.text.Text) for line in t.get_text().split("\n") if line]
            row["pickle"] = _cpu(lambda fig=fig: figpool.load_figure(pickle.dumps(fig)), repeats)
            fig.set_dpi(DPI)
            row["Agg"] = _cpu(fig.canvas.draw, repeats)
            rgba = np.asarray(fig.canvas.buffer_rgba())
            row["PNG"] = _cpu(lambda rgba=rgba: image.imsave(io.BytesIO(), rgba, format="png", dpi=DPI), repeats)
            row["SVG"] = _cpu(lambda fig=fig: fig.savefig(io.BytesIO(), format="svg", dpi=DPI), repeats)

            def pdf(fig=fig) -> None:
                with pdf_fonts_once():
                    fig.savefig(io.BytesIO(), format="pdf", dpi=DPI)

            row["PDF"] = _cpu(pdf, repeats)
            for k in names:
                total[k] += row[k]
            print(f"{fid:<8}" + "".join(f"{row[k]:>9.3f}" for k in names), flush=True)
        print(f"{'total':<8}" + "".join(f"{total[k]:>9.3f}" for k in names))
        from matplotlib.backends.backend_pdf import PdfFile, RendererPdf
        from matplotlib.backends.backend_svg import RendererSVG

        svg = RendererSVG(100, 100, io.StringIO())
        pdf_r = RendererPdf(PdfFile(io.BytesIO()), 72, 100, 100)
        prop = FontProperties(family=RC_PARAMS["font.family"], size=RC_PARAMS["font.size"])
        unique = sorted(set(texts))
        differ = sum(svg.get_text_width_height_descent(t, prop, False)
                     != pdf_r.get_text_width_height_descent(t, prop, False) for t in unique)
        print(f"text metrics (width, height, descent) of the SVG and PDF renderers differ for {differ} of "
              f"{len(unique)} texts of these figures")


if __name__ == "__main__":
    main()
