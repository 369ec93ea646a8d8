"""Count tables of a registry-sized Parquet file with DuckDB: time against a plain GROUP BY, and peak memory.

Usage::

    python benchmarks/bench_counts.py [--rows 1e8] [--chunk 5e6] [--repeats 2] [--memory-limit 1GB]
                                      [--threads 2] [--dir DIR] [--keep]

1. Writes a Parquet file of ``--rows`` records in chunks of ``--chunk`` rows (deterministic seed, so the
   same file every time) into a temporary directory, deleted at the end unless ``--keep``: columns
   ``time`` (exponential, mean 1000 days, censored by U(0, 3000), rounded to 0.1 day: about 30 000
   distinct values), ``status`` (int8 0/1), ``group`` (int8 0/1 — named like the SQL reserved word) and
   ``site`` (int8, 8 strata).
2. Times, each in a fresh child process (best of ``--repeats``), with the same DuckDB settings
   (``memory_limit``, ``threads``):

   * **floor** — a plain ``SELECT site, "group", time, COUNT(*) ... GROUP BY site, "group", time`` over the
     file (the cheapest query that gives one row per stratum, group and time);
   * **count table** — :func:`blincompass.io.counts_sql.count_table_duckdb` as the library runs it: the
     count-table SQL (events, records and the input check ``n_bad`` per cell in one scan, BIGINT sums, the
     number at risk by a window sum), the check of the small result and the conversion to pandas;
   * **analysis** — the same followed by the stratified log-rank test and the Kaplan–Meier curve of the
     whole file from the table.

   The ratio of each to the floor is printed.  Peak memory is the child's peak resident set size
   (``getrusage(RUSAGE_SELF).ru_maxrss``): the Python interpreter, pandas, DuckDB and its buffers.

With ``--rows`` up to 2e6 the count table is also compared with the in-memory reduction
(:func:`blincompass.stats.count_table`) of the same rows.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

SRC = Path(__file__).resolve().parents[1] / "src"
sys.path.insert(0, str(SRC))

SEED = 20261203


def generate(path: Path, rows: int, chunk: int) -> None:
    import pyarrow as pa
    import pyarrow.parquet as pq

    rng = np.random.default_rng(SEED)
    schema = pa.schema([("time", pa.float64()), ("status", pa.int8()), ("group", pa.int8()), ("site", pa.int8())])
    with pq.ParquetWriter(path, schema, compression="snappy") as w:
        done = 0
        while done < rows:
            m = min(chunk, rows - done)
            t = rng.exponential(1000.0, m)
            c = rng.uniform(0.0, 3000.0, m)
            time_ = np.round(np.minimum(t, c), 1)
            status = (t <= c).astype(np.int8)
            del t, c
            group = rng.integers(0, 2, m, dtype=np.int8)
            site = rng.integers(0, 8, m, dtype=np.int8)
            w.write_table(pa.table({"time": time_, "status": status, "group": group, "site": site}, schema=schema),
                          row_group_size=1 << 20)
            done += m


def child(args: argparse.Namespace) -> None:
    """Run one kind of query ``--repeats`` times in this process; print JSON with times and peak RSS."""
    import duckdb

    from blincompass.io import counts_sql as cs

    spec = cs.CountSpec(time="time", event="status", group="group", strata="site")
    path = args.child_file
    times = []
    out: dict[str, object] = {}
    for _ in range(args.repeats):
        con = cs.duckdb_connection(args.memory_limit, args.threads)
        t0 = time.perf_counter()
        if args.child == "floor":
            rel = con.read_parquet(path)
            rel.create_view("raw_")
            df = con.sql('SELECT site, "group", time, COUNT(*) AS n FROM raw_ GROUP BY site, "group", time').df()
            out["rows_out"] = len(df)
        elif args.child == "count":  # as the library runs it (input checks in the same scan)
            df = cs.count_table_duckdb(path, spec, con=con)
            out["rows_out"] = len(df)
        else:  # the count table and the analyses from it
            from blincompass.stats import kaplan_meier_from_counts, logrank_from_counts

            df = cs.count_table_duckdb(path, spec, con=con)
            lr = logrank_from_counts(df)
            km = kaplan_meier_from_counts(df)
            out["rows_out"] = len(df)
            out["logrank"] = [lr.statistic, lr.pvalue]
            out["median"] = km.median
            out["n_records"] = int(df["n_event"].sum() + df["n_censor"].sum())
        times.append(time.perf_counter() - t0)
        con.close()
        del df
    out["best"] = min(times)
    out["times"] = times
    out["peak_rss_mb"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    out["duckdb"] = duckdb.__version__
    print(json.dumps(out))


def run_child(kind: str, path: Path, args: argparse.Namespace) -> dict:
    cmd = [sys.executable, __file__, "--child", kind, "--child-file", str(path), "--repeats", str(args.repeats),
           "--memory-limit", args.memory_limit, "--threads", str(args.threads)]
    proc = subprocess.run(cmd, capture_output=True, text=True, check=False)
    if proc.returncode != 0:
        raise SystemExit(f"{kind} failed:\n{proc.stderr[-2000:]}")
    return json.loads(proc.stdout.strip().splitlines()[-1])


def verify(path: Path) -> None:
    import pandas as pd

    from blincompass.io.counts_sql import CountSpec, count_table_duckdb
    from blincompass.stats import count_table

    df = pd.read_parquet(path)
    ref = count_table(df["time"], df["status"], group=df["group"], strata=df["site"])
    got = count_table_duckdb(path, CountSpec(time="time", event="status", group="group", strata="site"))
    pd.testing.assert_frame_equal(got.drop(columns="n_risk"), ref, check_dtype=False)
    print(f"# check: the DuckDB count table equals the in-memory reduction ({len(ref)} rows)")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--rows", type=float, default=1e8)
    ap.add_argument("--chunk", type=float, default=5e6)
    ap.add_argument("--repeats", type=int, default=2)
    ap.add_argument("--memory-limit", default="1GB", help="DuckDB memory_limit (default 1GB)")
    ap.add_argument("--threads", type=int, default=2, help="DuckDB threads (default 2)")
    ap.add_argument("--dir", default=None, help="directory for the generated file (default: a temporary one)")
    ap.add_argument("--keep", action="store_true", help="keep the generated file")
    ap.add_argument("--child", choices=("floor", "count", "analysis"), help=argparse.SUPPRESS)
    ap.add_argument("--child-file", help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.child:
        child(args)
        return
    rows, chunk = int(args.rows), int(args.chunk)
    tmp = Path(tempfile.mkdtemp(prefix="bench_counts_", dir=args.dir))
    path = tmp / "registry.parquet"
    try:
        t0 = time.perf_counter()
        generate(path, rows, chunk)
        gen = time.perf_counter() - t0
        size = path.stat().st_size / 1e6
        print(f"# {platform.platform()} | {os.cpu_count()} CPUs | Python {platform.python_version()}")
        print(f"# {rows:.3g} rows, Parquet {size:.0f} MB written in {gen:.1f} s; DuckDB memory_limit "
              f"{args.memory_limit}, threads {args.threads}; best of {args.repeats}, each query kind in a fresh "
              "process")
        if rows <= 2_000_000:
            verify(path)
        res = {k: run_child(k, path, args) for k in ("floor", "count", "analysis")}
        floor = res["floor"]["best"]
        print(f"# duckdb {res['floor']['duckdb']}; count table rows: {res['count']['rows_out']}; "
              f"records counted: {res['analysis']['n_records']}; stratified log-rank chi2 "
              f"{res['analysis']['logrank'][0]:.6g}; median {res['analysis']['median']}")
        print()
        print("| query | best (s) | all runs (s) | × floor | peak RSS (MB) |")
        print("|---|---|---|---|---|")
        for k, label in (("floor", "plain GROUP BY (floor)"), ("count", "count table"),
                         ("analysis", "count table + log-rank + Kaplan–Meier")):
            r = res[k]
            runs = ", ".join(f"{x:.2f}" for x in r["times"])
            print(f"| {label} | {r['best']:.2f} | {runs} | {r['best'] / floor:.2f} | {r['peak_rss_mb']:.0f} |")
    finally:
        if not args.keep:
            shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
