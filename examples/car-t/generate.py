"""Write the synthetic CAR-T-PED data set: one CSV per form in ``data/`` (fixed seed, same bytes every run).

Run from the repository root::

    python examples/car-t/generate.py [OUT_DIR]      # default: examples/car-t/data

The cohort is invented. Its rates aim at published paediatric and young-adult CD19 CAR-T series (see
README.md for the references and the targets): CR or CRi at day 28 in about 85 %, CRS in about 60 %
(ASTCT consensus grades 1-4), ICANS in about 20 %, one-year overall survival about 75 % and event-free
survival about 50 %, about half of the relapses CD19-negative (more often after prior blinatumomab).
"""

from __future__ import annotations

import csv
import datetime as dt
import sys
from pathlib import Path

import numpy as np

SEED = 20240630
N_PATIENTS = 120
CUTOFF = dt.date(2024, 6, 30)
OUT = Path(__file__).resolve().parent / "data"

CENTRES = ["BO", "GE", "MI", "MB", "RM"]
CENTRE_WEIGHTS = [0.14, 0.18, 0.26, 0.22, 0.20]
DISEASE_GROUPS = ["primary_refractory", "first_relapse", "multiple_relapse"]
DISEASE_WEIGHTS = [0.18, 0.37, 0.45]


def _date(d: dt.date | None) -> str:
    return "" if d is None else d.isoformat()


def _bool(b: bool) -> str:
    return "yes" if b else "no"


def _write(out: Path, name: str, header: list[str], rows: list[list[object]]) -> None:
    with open(out / f"{name}.csv", "w", encoding="utf-8", newline="") as fh:
        w = csv.writer(fh, lineterminator="\n")
        w.writerow(header)
        w.writerows(rows)


def main(out: Path = OUT) -> None:
    rng = np.random.default_rng(SEED)
    days = lambda x: dt.timedelta(days=int(round(x)))  # noqa: E731

    patients: list[list[object]] = []
    infusions: list[list[object]] = []
    toxicities: list[list[object]] = []
    assessments: list[list[object]] = []
    outcomes: list[list[object]] = []

    first_day = dt.date(2018, 9, 1).toordinal()
    last_day = dt.date(2023, 9, 30).toordinal()
    for i in range(1, N_PATIENTS + 1):
        pid = f"CT{i:03d}"
        centre = str(rng.choice(CENTRES, p=CENTRE_WEIGHTS))
        sex = "M" if rng.random() < 0.56 else "F"
        group = str(rng.choice(DISEASE_GROUPS, p=DISEASE_WEIGHTS))
        infusion = dt.date.fromordinal(int(rng.integers(first_day, last_day)))
        age_years = float(np.clip(rng.gamma(4.0, 3.0), 1.2, 24.5))
        if i in (17, 88):  # two young adults outside the 0-25 age criterion
            age_years = 26.0 + rng.random() * 3
        birth = infusion - days(age_years * 365.25)
        years_since_dx = {"primary_refractory": 0.6, "first_relapse": 2.5, "multiple_relapse": 4.0}[group]
        dx = infusion - days(max(0.3, rng.normal(years_since_dx, years_since_dx / 3)) * 365.25)
        if dx <= birth:
            dx = birth + days(200)
        prior_lines = {"primary_refractory": 1, "first_relapse": 2, "multiple_relapse": 3}[group] + int(
            rng.poisson(0.6)
        )
        prior_hsct = bool(rng.random() < {"primary_refractory": 0.05, "first_relapse": 0.30,
                                           "multiple_relapse": 0.60}[group])
        prior_blina = bool(rng.random() < 0.30)
        diagnosis = "b_all" if rng.random() < 0.96 else "b_lbl"
        patients.append([pid, centre, sex, _date(birth), _date(dx), diagnosis, group, prior_lines,
                         _bool(prior_hsct), _bool(prior_blina)])

        # Apheresis; three patients are never infused (manufacturing failure or progression).
        v2v = int(rng.integers(24, 62))
        apheresis = infusion - days(v2v)
        never_infused = i in (9, 54, 101)
        product = "tisacel" if rng.random() < 0.8 else "academic"
        dose = round(float(rng.uniform(0.2, 5.0)), 2)
        bridging = bool(rng.random() < 0.7)

        death: dt.date | None = None
        death_cause = ""
        relapse: dt.date | None = None
        relapse_cd19 = ""
        hsct: dt.date | None = None
        recovery: dt.date | None = None
        lost = rng.random() < 0.08
        last = CUTOFF - days(rng.integers(0, 75))
        if lost:
            last = min(last, infusion + days(rng.uniform(120, 900)))

        if never_infused:
            death = apheresis + days(rng.integers(20, 70))
            death_cause = "disease"
            outcomes.append([pid, "", "", "", _date(death), death_cause, _date(death), ""])
            continue

        infusions.append([pid, 1, product, _date(apheresis), _date(infusion), f"{dose:.2f}", _bool(bridging)])

        # Toxicities (one row per syndrome at its worst ASTCT grade).
        severe_crs = False
        if rng.random() < 0.60:
            grade = int(rng.choice([1, 2, 3, 4], p=[0.45, 0.30, 0.15, 0.10]))
            severe_crs = grade >= 3
            onset = infusion + days(rng.integers(1, 9))
            toxicities.append([pid, "crs", grade, _date(onset), _bool(grade >= 2 and rng.random() < 0.85),
                               _bool(grade >= 3 and rng.random() < 0.8)])
        if rng.random() < (0.50 if severe_crs else 0.20):
            grade = int(rng.choice([1, 2, 3, 4], p=[0.45, 0.25, 0.2, 0.1]))
            onset = infusion + days(rng.integers(3, 13))
            toxicities.append([pid, "icans", grade, _date(onset), "no", _bool(grade >= 3 and rng.random() < 0.7)])

        # Early death before day 28 (toxicity or infection) in about 2 %.
        if rng.random() < 0.02:
            death = infusion + days(rng.integers(8, 26))
            death_cause = "toxicity" if severe_crs else "infection"
            outcomes.append([pid, "", "", "", _date(death), death_cause, _date(death), ""])
            continue

        # Day-28 response.
        p_cr = {"primary_refractory": 0.74, "first_relapse": 0.90, "multiple_relapse": 0.86}[group]
        d28 = infusion + days(28 + int(rng.integers(-3, 5)))
        responder = rng.random() < p_cr
        if responder:
            response = "cr" if rng.random() < 0.8 else "cri"
            mrd = "negative" if rng.random() < 0.9 else "positive"
            bca = rng.random() < 0.95
        else:
            response, mrd, bca = "no_response", "positive", rng.random() < 0.5
        assessments.append([pid, "d28", _date(d28), response, mrd, _bool(bca)])

        if not responder:
            # Non-responders: most die of disease within a year.
            if rng.random() < 0.75:
                death = d28 + days(rng.exponential(150))
                death_cause = "disease"
        else:
            # Relapse, CD19-negative more often after prior blinatumomab.
            rate = 1.0 / (13.0 if mrd == "negative" else 5.0)
            t_rel = rng.exponential(1.0 / rate) * 30.4375
            if rng.random() < (0.45 if mrd == "negative" else 0.10):
                t_rel = np.inf  # a cured fraction
            relapse_at = d28 + days(min(t_rel, 10_000)) if np.isfinite(t_rel) else None
            # Consolidative HSCT in remission in about 15 % (2-6 months after infusion).
            if rng.random() < 0.15:
                h = infusion + days(rng.uniform(60, 180))
                if relapse_at is None or h < relapse_at:
                    hsct = h
            if relapse_at is not None and relapse_at < last:
                relapse = relapse_at
                cd19neg = rng.random() < (0.70 if prior_blina else 0.40)
                relapse_cd19 = "negative" if cd19neg else "positive"
                if rng.random() < 0.55:
                    death = relapse + days(rng.exponential(240))
                    death_cause = "disease"
                if not cd19neg and bca:
                    # B cells return before a CD19-positive relapse.
                    recovery = infusion + days(max(35.0, (relapse - infusion).days * rng.uniform(0.5, 0.9)))
            elif rng.random() < 0.03:
                death = infusion + days(rng.uniform(90, 700))
                death_cause = "transplant" if hsct is not None else "infection"
            if bca and recovery is None and rng.random() < 0.35:
                recovery = infusion + days(rng.uniform(45, 600))
            if rng.random() < 0.9:
                m3 = infusion + days(91 + int(rng.integers(-7, 8)))
                if (relapse is None or m3 < relapse) and m3 < last:
                    still_bca = bca and (recovery is None or recovery > m3)
                    assessments.append([pid, "m3", _date(m3), "cr", "negative" if mrd == "negative" else
                                        ("negative" if rng.random() < 0.5 else "positive"), _bool(still_bca)])
        if death is not None and death >= last:
            death, death_cause = None, ""
        end = death if death is not None else last
        if relapse is not None and relapse > end:
            relapse, relapse_cd19 = None, ""
        if hsct is not None and (hsct > end or (relapse is not None and hsct > relapse)):
            hsct = None
        if recovery is not None and (recovery > end or (hsct is not None and recovery > hsct)):
            recovery = None
        # A second infusion for early B-cell recovery in a few responders.
        if recovery is not None and rng.random() < 0.35 and relapse is None and hsct is None:
            second = recovery + days(rng.integers(14, 40))
            if second < end:
                infusions.append([pid, 2, product, "", _date(second), f"{dose:.2f}", "no"])
        outcomes.append([pid, _date(relapse), relapse_cd19, _date(hsct), _date(death), death_cause,
                         _date(end), _date(recovery)])

    out.mkdir(parents=True, exist_ok=True)
    _write(out, "patients", ["patient_id", "centre", "sex", "birth_date", "diagnosis_date", "diagnosis",
                        "disease_group", "prior_lines", "prior_hsct", "prior_blinatumomab"], patients)
    _write(out, "infusions", ["patient_id", "infusion_number", "product", "apheresis_date", "infusion_date",
                         "dose", "bridging"], infusions)
    _write(out, "toxicities", ["patient_id", "toxicity", "grade", "onset_date", "tocilizumab", "icu"], toxicities)
    _write(out, "assessments", ["patient_id", "timepoint", "assessment_date", "response", "mrd", "bcell_aplasia"],
           assessments)
    _write(out, "outcomes", ["patient_id", "relapse_date", "relapse_cd19", "hsct_date", "death_date", "death_cause",
                        "last_contact_date", "bcell_recovery_date"], outcomes)


if __name__ == "__main__":
    main(Path(sys.argv[1]) if len(sys.argv) > 1 else OUT)
