"""Choose the synthetic twin's survival times (run by hand; its result is committed in twin_patients.csv).

The clinical course of each twin patient (who responds, relapses, is transplanted, dies) is fixed by the
publication's counts. The *times* are free within each patient's constraints; this script searches them
(seeded random search, then coordinate refinement) so that the publication's log-rank p-values, its
median relapse-free survival with its SPSS-style interval, and its mean follow-up are approached, and
writes the chosen times back into ``src/blincompass/synth/data/twin_patients.csv``.

    .venv/bin/python tools/tune_twin.py [--iterations N] [--seed S] [--dry-run]
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np
import pandas as pd

from blincompass.stats import kaplan_meier, logrank_test

SKELETON = Path(__file__).resolve().parents[1] / "src/blincompass/synth/data/twin_patients.csv"
M = 30.4375

#: (comparison, target one-sided p); "os_by_cr" only needs p < 1e-4.
TARGETS = {
    "os_by_stratum": 0.005,
    "rfs_by_stratum": 0.03,
    "os_by_hsct_in_cr": 0.77,
    "rfs_by_hsct_in_cr": 0.61,
    "os_by_hsct": 0.052,
    "os_by_line": 0.10,
}
RFS_MEDIAN, RFS_LO, RFS_HI = 33.4, 7.5, 59.3
FU_MEAN = 16.0

#: Free times: (patient, column, lower bound, upper bound); bounds in months from the first course.
FREE = [
    *[(p, "fu_m", lo, hi) for p, lo, hi in [
        ("L05", 4, 40), ("L06", 6, 45), ("L07", 4, 40), ("L08", 6, 40), ("L09", 4, 40), ("L10", 6, 40),
        ("L11", 6, 40), ("L12", 5, 40), ("L13", 6, 40), ("L14", 4, 40), ("L15", 7, 45), ("L17", 13, 60),
        ("L18", 3, 40), ("L19", 14, 45), ("L20", 34, 60), ("L21", 3, 30), ("L22", 5, 40), ("L23", 6, 40),
        ("L26", 6, 40), ("H02", 5, 40), ("H04", 3, 30), ("H05", 4, 30), ("H06", 3, 30), ("L04", 18, 66),
    ]],
    *[(p, "death_m", lo, hi) for p, lo, hi in [
        ("L24", 0.7, 4), ("L25", 1, 12), ("H08", 0.6, 3), ("H09", 2.5, 8), ("H10", 2.5, 10), ("H13", 1, 8),
        ("H11", 5.5, 20), ("H12", 6, 24), ("L01", 5.5, 20), ("L02", 3, 12), ("L03", 11.5, 24),
        ("H01", 9, 24), ("H03", 10.5, 24),
    ]],
    ("L04", "relapse_m", 5, 60),
    ("H01", "hsct_m", 2.3, 5),
]


def _days(m: float) -> float:
    return np.round(m * M) / M


class Twin:
    def __init__(self, frame: pd.DataFrame) -> None:
        self.f = frame
        self.cr = frame["role"].str.startswith("cr_").to_numpy()
        self.low = (frame["stratum"] == "low").to_numpy()
        self.status = frame["status"].to_numpy()

    def times(self, values: dict[tuple[str, str], float]) -> dict[str, np.ndarray]:
        f = self.f.copy()
        for (p, c), v in values.items():
            f.loc[f["id"] == p, c] = v
        num = {c: pd.to_numeric(f[c], errors="coerce").to_numpy() for c in ("relapse_m", "hsct_m", "death_m", "fu_m")}
        death = ~np.isnan(num["death_m"])
        os_t = _days(np.where(death, num["death_m"], num["fu_m"]))
        rel = ~np.isnan(num["relapse_m"])
        rfs_ev = rel | death
        rfs_t = _days(np.where(rel, num["relapse_m"], np.where(death, num["death_m"], num["fu_m"])))
        return {"os_t": os_t, "os_e": death, "rfs_t": rfs_t, "rfs_e": rfs_ev, "hsct": ~np.isnan(num["hsct_m"]),
                "fu": os_t}

    def evaluate(self, values: dict[tuple[str, str], float]) -> dict[str, float]:
        t = self.times(values)
        cr, low, hs = self.cr, self.low, t["hsct"]

        def lr(time, event, group, order, mask):
            return logrank_test(time[mask], event[mask], group[mask], order=order, alternative="less").pvalue

        allm = np.ones_like(cr)
        stratum = np.where(low, "low", "high")
        line = self.status
        out = {
            "os_by_stratum": lr(t["os_t"], t["os_e"], stratum, ["low", "high"], allm),
            "rfs_by_stratum": lr(t["rfs_t"], t["rfs_e"], stratum, ["low", "high"], cr),
            "os_by_cr": lr(t["os_t"], t["os_e"], cr, [True, False], allm),
            "os_by_hsct_in_cr": lr(t["os_t"], t["os_e"], hs, [True, False], cr),
            "rfs_by_hsct_in_cr": lr(t["rfs_t"], t["rfs_e"], hs, [True, False], cr),
            "os_by_hsct": lr(t["os_t"], t["os_e"], hs, [True, False], allm),
            "os_by_line": lr(t["os_t"], t["os_e"], line, ["first_relapse", "second_relapse"],
                             np.isin(line, ["first_relapse", "second_relapse"])),
        }
        km = kaplan_meier(t["rfs_t"][cr], t["rfs_e"][cr], median_ci="spss")
        out["rfs_median"] = np.nan if km.median is None else km.median
        out["rfs_lo"] = np.nan if km.median_ci.lower is None else km.median_ci.lower
        out["rfs_hi"] = np.nan if km.median_ci.upper is None else km.median_ci.upper
        out["fu_mean"] = float(t["fu"].mean())
        out["fu_max"] = float(t["fu"].max())
        return out


def loss(r: dict[str, float]) -> float:
    total = sum((np.log10(r[k]) - np.log10(v)) ** 2 for k, v in TARGETS.items())
    total += max(0.0, np.log10(r["os_by_cr"]) + 4) ** 2
    for key, target, scale in (("rfs_median", RFS_MEDIAN, 0.5), ("rfs_lo", RFS_LO, 0.1), ("rfs_hi", RFS_HI, 0.1)):
        total += 25.0 if np.isnan(r[key]) else ((r[key] - target) / scale) ** 2
    total += ((r["fu_mean"] - FU_MEAN) / 0.3) ** 2
    total += 100.0 * max(0.0, r["fu_max"] - 67.4)
    return float(total)


def current(frame: pd.DataFrame) -> dict[tuple[str, str], float]:
    out = {}
    for p, c, _, _ in FREE:
        out[(p, c)] = float(frame.loc[frame["id"] == p, c].iloc[0])
    return out


def consistent(v: dict[tuple[str, str], float], frame: pd.DataFrame) -> bool:
    """Each patient's own order of events must hold (HSCT < relapse < death = last follow-up...)."""
    def get(p: str, c: str) -> float:
        if (p, c) in v:
            return v[(p, c)]
        x = frame.loc[frame["id"] == p, c].iloc[0]
        return float(x) if x else np.nan

    for p in frame["id"]:
        h, r, d, f = (get(p, c) for c in ("hsct_m", "relapse_m", "death_m", "fu_m"))
        if not np.isnan(d) and abs(f - d) > 1e-9 and (p, "death_m") in v:
            v[(p, "fu_m")] = d
            f = d
        if not np.isnan(r) and not np.isnan(f) and f < r + 0.5:
            return False
        if not np.isnan(h) and not np.isnan(f) and f < h + 0.5:
            return False
        if p == "H01" and not np.isnan(h):
            v[("H01", "relapse_m")] = round(h + 6.0, 1)
            if get(p, "death_m") < h + 6.5:
                return False
        if not np.isnan(h) and not np.isnan(r) and p == "L04" and r < h + 0.5:
            return False
    return True


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--iterations", type=int, default=3000)
    ap.add_argument("--seed", type=int, default=20201231)
    ap.add_argument("--dry-run", action="store_true")
    a = ap.parse_args()
    frame = pd.read_csv(SKELETON, dtype=str, keep_default_na=False)
    twin = Twin(frame)
    best = current(frame)
    consistent(best, frame)
    best_loss = loss(twin.evaluate(best))
    print(f"start loss {best_loss:.4f}")
    rng = np.random.default_rng(a.seed)
    for it in range(a.iterations):
        cand = dict(best)
        scale = 1.0 if it < a.iterations // 2 else 0.3
        for p, c, lo, hi in [FREE[i] for i in rng.choice(len(FREE), size=rng.integers(1, 4), replace=False)]:
            width = (hi - lo) * 0.25 * scale
            cand[(p, c)] = float(np.clip(round(cand[(p, c)] + rng.normal(0, width), 1), lo, hi))
        if not consistent(cand, frame):
            continue
        lval = loss(twin.evaluate(cand))
        if lval < best_loss:
            best, best_loss = cand, lval
    r = twin.evaluate(best)
    print(f"final loss {best_loss:.4f}")
    for k, v in r.items():
        print(f"  {k:20s} {v:.4f}" + (f"   (target {TARGETS[k]})" if k in TARGETS else ""))
    if not a.dry_run:
        for (p, c), v in best.items():
            frame.loc[frame["id"] == p, c] = f"{v:g}"
        frame.to_csv(SKELETON, index=False, lineterminator="\n")
        print(f"written {SKELETON}")


if __name__ == "__main__":
    main()
