"""Cost of the input guards: zip-bomb refusal and the column checks of validation (cut-off, formula text).

Run: ``python benchmarks/bench_guards.py [--rows N]``. Prints, each measured in the same run:

* the time to refuse a zip bomb (a workbook whose patients sheet carries ``--padding`` MiB of spaces)
  against reading the zip directory alone (the floor: the check needs nothing more) and against reading
  the same workbook without the padding (what a real workbook of that form costs);
* the time of the column checks (dates after the cut-off, formula-like and control-character text) on
  forms of ``--rows`` rows against the time of building those typed forms from records (the step just
  before the checks in validation).
"""

from __future__ import annotations

import argparse
import datetime as dt
import sys
import tempfile
import time
import tracemalloc
import zipfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))


def best(fn, repeat: int = 3) -> float:  # type: ignore[no-untyped-def]
    times = []
    for _ in range(repeat):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return min(times)


def bench_zip(padding_mib: int) -> None:
    import tests.corpus.build as corpus
    from tests.validate.helpers import example_to_xlsx

    from blincompass.io import InputReadError, read_raw

    corpus.BOMB_PADDING = padding_mib * 2**20
    with tempfile.TemporaryDirectory() as tmp:
        bomb = corpus.zip_bomb(Path(tmp) / "bomb")
        plain = example_to_xlsx(Path(tmp) / "plain.xlsx", typed=False, extra_sheets=False)

        forms = ["patients", "courses", "assessments", "adverse_events", "outcomes"]

        def refuse() -> None:
            try:
                read_raw(bomb, forms)
            except InputReadError:
                return
            raise AssertionError("the zip bomb was read")

        tracemalloc.start()
        refuse()
        _, peak = tracemalloc.get_traced_memory()
        tracemalloc.stop()
        t_refuse = best(refuse)
        t_floor = best(lambda: zipfile.ZipFile(bomb).infolist())
        t_plain = best(lambda: read_raw(plain, forms))
        total = sum(i.file_size for i in zipfile.ZipFile(bomb).infolist())
        print(f"zip bomb: {bomb.stat().st_size:,} bytes on disk, {total:,} bytes uncompressed")
        print(f"  refused in {t_refuse * 1e3:.2f} ms (peak {peak / 2**10:.0f} KiB traced); "
              f"zip directory alone {t_floor * 1e3:.2f} ms -> ratio {t_refuse / t_floor:.1f}x the floor; "
              f"reading the same workbook without padding {t_plain * 1e3:.1f} ms "
              f"-> refusal is {t_plain / t_refuse:.0f}x faster")


def bench_checks(rows: int) -> None:
    import numpy as np

    from blincompass.dictionary import load_dictionary
    from blincompass.io.dataset import build_frame
    from blincompass.validate.rules import _Collector, _frame_checks

    d = load_dictionary()
    form = d.form("adverse_events")
    rng = np.random.default_rng(1)
    base = dt.date(2018, 1, 1)
    days = rng.integers(0, 2000, rows)  # onsets 2018-2023, before the cut-off
    days[::1000] = 3000  # one row in a thousand after the cut-off (2026)
    terms = ["Fever", "Cytokine release syndrome", "Neutropenia", "Tremor"]
    records = [
        {"patient_id": f"C1-{i // 3:06d}", "course": 1, "grade": 2,
         "ae_term": '=HYPERLINK("x")' if i % 1000 == 1 else terms[i % 4],
         "onset_date": base + dt.timedelta(days=int(days[i])), "led_to_interruption": False,
         "led_to_discontinuation": False, "_row": i + 2, "_file": "adverse_events.csv"}
        for i in range(rows)
    ]
    t_build = best(lambda: build_frame(form, records), repeat=1)
    frames = {"adverse_events": build_frame(form, records)}

    def checks() -> int:
        out = _Collector()
        _frame_checks(d, {k: v.copy() for k, v in frames.items()}, {"adverse_events": "adverse_events.csv"},
                      dt.date(2024, 1, 1), "the data cut-off 2024-01-01", out)
        return len(out.findings)

    n = checks()
    t_checks = best(checks, repeat=1)
    print(f"column checks on {rows:,} adverse-event rows: {t_checks:.2f} s ({n:,} findings); building the "
          f"typed form {t_build:.2f} s -> checks cost {t_checks / t_build:.2f}x the frame build")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--padding", type=int, default=200, help="zip-bomb padding in MiB (default 200)")
    ap.add_argument("--rows", type=int, default=1_000_000, help="rows for the column checks")
    args = ap.parse_args()
    bench_zip(args.padding)
    bench_checks(args.rows)


if __name__ == "__main__":
    main()
