"""Speed and memory of blincompass.stats.kaplan_meier + logrank_test against lifelines and R.

Usage::

    python benchmarks/bench_survival.py [--sizes 1e5,1e6,1e7] [--skip-peer-above N] [--repeats 3]

For each size and each kind of time values — (a) exponential times rounded to 0.1 day (many ties) and
(b) unique float times — the script times, in the same run and on the same arrays:

* ours: ``kaplan_meier(time, event)`` (curve, median with its interval, restricted mean) followed by a
  two-group ``logrank_test(time, event, group)``;
* lifelines: ``KaplanMeierFitter().fit(time, event)`` with ``median_survival_time_`` and
  ``lifelines.statistics.logrank_test`` on the two groups;
* R (when ``Rscript`` is found): ``survfit`` + ``quantile(fit, 0.5)`` + ``survdiff`` inside one R
  process, timed with ``system.time`` (reading the data is not timed).  R runs with its defaults;
  its ``timefix = TRUE`` merges float times closer than about 1e-8 (relative), so for (b) R's
  statistic can differ from ours and lifelines' in the 6th digit.  (``survdiff(timefix = FALSE)``
  fails in survival 3.5-3: the argument is passed on to ``model.frame``.)

Times on a decimal lattice (case (a)) are counted in one pass without sorting
(``blincompass.stats._fast``); that pass is compiled with numba when the optional ``fast`` extra is
installed.  ``--kernel numpy`` times the numpy version of the pass instead.  numba compiles (or loads
from its on-disk cache) on first use: the script calls both functions once on a small data set before
any timing, so compilation is never inside a timed region.

``--arrays`` selects the dtypes of the event and group arrays handed over: ``default`` (event bool, group
int64), ``int8`` (both int8, as Parquet files and pandas often give them), ``uint8``, ``int16`` or
``nullable`` (pandas ``Int8`` Series without missing values).  lifelines and R always get the same values.

Timings are the best of ``--repeats`` runs for every implementation (``--peer-repeats`` for lifelines
and R).  Peak memory is measured separately with :mod:`tracemalloc` (numpy reports its buffers to it),
as the largest amount of memory allocated during one call on top of what existed before it, divided by
the size of the input arrays (time float64 + event bool + group int64 = 17 bytes per row).
"""

from __future__ import annotations

import argparse
import gc
import os
import platform
import shutil
import subprocess
import sys
import tempfile
import time
import tracemalloc
import warnings
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "src"))

from blincompass.stats import _fast, kaplan_meier, logrank_test  # noqa: E402

R_SCRIPT = r"""
args <- commandArgs(TRUE)
n <- as.integer(args[1]); dir <- args[2]; reps <- as.integer(args[3])
suppressPackageStartupMessages(library(survival))
t <- readBin(file.path(dir, "time.bin"), "double", n)
e <- readBin(file.path(dir, "event.bin"), "integer", n, size = 1, signed = FALSE)
g <- readBin(file.path(dir, "group.bin"), "integer", n, size = 1, signed = FALSE)
best <- Inf
for (i in seq_len(reps)) {
  gc()
  el <- system.time({
    f <- survfit(Surv(t, e) ~ 1)
    q <- quantile(f, 0.5)
    d <- survdiff(Surv(t, e) ~ g)
  })[["elapsed"]]
  best <- min(best, el)
}
cat(sprintf("%.6f %.10g\n", best, d$chisq))
"""


def make_data(n: int, kind: str, seed: int = 20261125) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    t = rng.exponential(1000.0, n)
    c = rng.uniform(0.0, 3000.0, n)
    time_ = np.minimum(t, c)
    event = t <= c
    if kind == "rounded":
        time_ = np.round(time_, 1)
    group = rng.integers(0, 2, n)
    return time_, event, group


ARRAYS = ("default", "int8", "uint8", "int16", "nullable")


def as_arrays(e: np.ndarray, g: np.ndarray, arrays: str) -> tuple[object, object]:
    """The event and group arrays in the dtypes named by ``arrays`` (see ``--arrays``)."""
    if arrays == "default":
        return e, g
    if arrays == "nullable":
        import pandas as pd

        return pd.Series(e.astype(np.int8), dtype="Int8"), pd.Series(g.astype(np.int8), dtype="Int8")
    return e.astype(arrays), g.astype(arrays)


def best_of(fn, repeats: int) -> tuple[float, object]:
    best, out = float("inf"), None
    for _ in range(repeats):
        gc.collect()
        t0 = time.perf_counter()
        out = fn()
        best = min(best, time.perf_counter() - t0)
    return best, out


def ours(t: np.ndarray, e: np.ndarray, g: np.ndarray) -> tuple[float, float]:
    km = kaplan_meier(t, e)
    lr = logrank_test(t, e, g)
    return km.median, lr.statistic


def lifelines_run(t: np.ndarray, e: np.ndarray, g: np.ndarray) -> tuple[float, float]:
    from lifelines import KaplanMeierFitter
    from lifelines.statistics import logrank_test as ll_logrank

    kmf = KaplanMeierFitter().fit(t, e)
    med = kmf.median_survival_time_
    m = g == 0
    res = ll_logrank(t[m], t[~m], e[m], e[~m])
    return med, res.test_statistic


def peak_ratio(fn, input_bytes: int) -> float:
    gc.collect()
    tracemalloc.start()
    base, _ = tracemalloc.get_traced_memory()
    out = fn()
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    del out
    return (peak - base) / input_bytes


def r_run(t: np.ndarray, e: np.ndarray, g: np.ndarray, repeats: int) -> tuple[float, float] | None:
    rscript = shutil.which("Rscript")
    if rscript is None:
        return None
    with tempfile.TemporaryDirectory() as d:
        t.astype(np.float64).tofile(os.path.join(d, "time.bin"))
        e.astype(np.uint8).tofile(os.path.join(d, "event.bin"))
        g.astype(np.uint8).tofile(os.path.join(d, "group.bin"))
        script = os.path.join(d, "bench.R")
        Path(script).write_text(R_SCRIPT)
        proc = subprocess.run(
            [rscript, script, str(t.size), d, str(repeats)], capture_output=True, text=True, check=False
        )
    if proc.returncode != 0:
        print(f"  R failed: {proc.stderr.strip()[:300]}", file=sys.stderr)
        return None
    el, chisq = proc.stdout.split()
    return float(el), float(chisq)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--sizes", default="1e5,1e6,1e7", help="comma-separated row counts (default 1e5,1e6,1e7)")
    ap.add_argument("--kinds", default="rounded,unique", help="rounded (0.1 day) and/or unique float times")
    ap.add_argument(
        "--arrays", default="default,int8",
        help=f"comma-separated dtypes of event/group arrays: {', '.join(ARRAYS)} (default default,int8)",
    )
    ap.add_argument("--repeats", type=int, default=3, help="best of this many runs for our code")
    ap.add_argument("--peer-repeats", type=int, default=2, help="best of this many runs for lifelines and R")
    ap.add_argument(
        "--skip-peer-above", type=float, default=float("inf"), help="do not run lifelines/R above this size"
    )
    ap.add_argument("--no-r", action="store_true", help="do not run R")
    ap.add_argument(
        "--kernel", choices=("auto", "numpy"), default="auto",
        help="counting pass for lattice times: auto (numba when installed) or numpy",
    )
    args = ap.parse_args()
    _fast.set_backend(args.kernel)
    # warm-up outside any timed region: numba compiles (or loads its cache) on first use
    wt, we, wg = make_data(2 * _fast.NUMBA_MIN_ROWS, "rounded", seed=1)
    arrays_list = args.arrays.split(",")
    for arrays in arrays_list:
        if arrays not in ARRAYS:
            ap.error(f"--arrays: {arrays!r} is not one of {', '.join(ARRAYS)}")
        we_a, wg_a = as_arrays(we, wg, arrays)
        kaplan_meier(wt, we_a)
        logrank_test(wt, we_a, wg_a)
    kernel = _fast.backend(10**7)
    if kernel == "numba":
        import numba

        kernel = f"numba {numba.__version__} (compiled before timing)"
    sizes = [int(float(s)) for s in args.sizes.split(",")]
    kinds = args.kinds.split(",")

    import lifelines
    import pandas as pd
    import scipy

    print(f"# {platform.platform()} | {os.cpu_count()} CPUs | Python {platform.python_version()}")
    print(f"# numpy {np.__version__} | scipy {scipy.__version__} | pandas {pd.__version__} | lifelines "
          f"{lifelines.__version__}")
    if shutil.which("Rscript") and not args.no_r:
        ver = subprocess.run(
            ["Rscript", "-e", 'cat(R.version.string, "| survival", format(packageVersion("survival")))'],
            capture_output=True, text=True, check=False,
        ).stdout.strip()
        print(f"# {ver}")
    print(f"# counting pass for lattice times: {kernel}")
    print("# times in seconds (best of repeats); ratio = peer time / our time; peak = tracemalloc peak of one")
    print("# call / input bytes (time f64 + event bool + group int64)")
    print()
    print("| n | times | arrays | ours KM | ours LR | ours total | lifelines total | x lifelines | R total | x R "
          "| peak KM | peak LR |")
    print("|---|---|---|---|---|---|---|---|---|---|---|---|")
    warnings.simplefilter("ignore")
    for n in sizes:
        for kind, arrays in [(k, a) for k in kinds for a in arrays_list]:
            t, e0, g0 = make_data(n, kind)
            e, g = as_arrays(e0, g0, arrays)
            inp = t.nbytes + e0.nbytes + g0.nbytes
            t_km, _ = best_of(lambda t=t, e=e: kaplan_meier(t, e).median, args.repeats)
            t_lr, lr = best_of(lambda t=t, e=e, g=g: logrank_test(t, e, g), args.repeats)
            ours_total = t_km + t_lr
            ll_txt = ll_ratio = r_txt = r_ratio = "–"
            if n <= args.skip_peer_above:
                t_ll, (ll_med, ll_stat) = best_of(
                    lambda t=t, e=e0, g=g0: lifelines_run(t, e, g), args.peer_repeats
                )
                ll_txt, ll_ratio = f"{t_ll:.3f}", f"{t_ll / ours_total:.1f}"
                if not np.isclose(ll_stat, lr.statistic, rtol=1e-6):
                    print(f"  warning: lifelines statistic {ll_stat} differs from ours {lr.statistic}")
                if not args.no_r:
                    r = r_run(t, e0, g0, args.peer_repeats)
                    if r is not None:
                        r_txt, r_ratio = f"{r[0]:.3f}", f"{r[0] / ours_total:.1f}"
                        if not np.isclose(r[1], lr.statistic, rtol=1e-6 if kind == "rounded" else 1e-3):
                            print(f"  warning: R statistic {r[1]} differs from ours {lr.statistic}")
            pk_km = peak_ratio(lambda t=t, e=e: kaplan_meier(t, e), inp)
            pk_lr = peak_ratio(lambda t=t, e=e, g=g: logrank_test(t, e, g), inp)
            print(
                f"| {n:.0e} | {kind} | {arrays} | {t_km:.4f} | {t_lr:.4f} | {ours_total:.4f} | {ll_txt} | {ll_ratio} "
                f"| {r_txt} | {r_ratio} | {pk_km:.2f} | {pk_lr:.2f} |",
                flush=True,
            )
            del t, e, g, e0, g0


if __name__ == "__main__":
    main()
