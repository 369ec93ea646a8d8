"""The derivations of the example protocols (examples/*/protocol.toml), written out with pandas.

The pipeline reads these derivations from the protocols once study package format 2 is merged; until then the
tests derive the analysis columns here, from the example CSV files, so that blincompass.stats can be checked
against the R reference numbers on exactly these data (tests/fixtures/r/examples_*.R redo the same steps in R).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

ROOT = Path(__file__).resolve().parents[2]
EXAMPLES = ROOT / "examples"
DAYS_PER_MONTH = 30.4375


def read_form(example: str, form: str) -> pd.DataFrame:
    """One CSV form of an example, every column as text (empty cells missing)."""
    return pd.read_csv(EXAMPLES / example / "data" / f"{form}.csv", dtype=str, keep_default_na=False).replace(
        "", None
    )


def _dates(s: pd.Series) -> pd.Series:
    return pd.to_datetime(s, format="%Y-%m-%d")


def _yes(s: pd.Series) -> pd.Series:
    return s.map({"yes": True, "no": False})


def completed_years(a: pd.Series, b: pd.Series) -> pd.Series:
    """Completed years from ``a`` to ``b`` (an age: the birthday counts on its date)."""
    years = b.dt.year - a.dt.year
    before = (b.dt.month * 100 + b.dt.day) < (a.dt.month * 100 + a.dt.day)
    return years - before.astype(int)


def endpoint(
    adsl: pd.DataFrame,
    keep: pd.Series,
    origin: str,
    events: dict[str, str],
    censor: str,
    censor_at: tuple[str, ...] = (),
    landmark: float | None = None,
) -> pd.DataFrame:
    """ADTTE rows of one endpoint, as SCHEMA.md defines it.

    The earliest event date wins (ties: the first listed); the patient is censored at the earliest
    ``censor_at`` date when it comes strictly before every event, otherwise at ``censor``. Time in months
    (days / 30.4375); ``cause`` is missing for a censored patient. With ``landmark`` (months) time starts
    at origin + round(landmark x 30.4375) days, for the patients still event-free and followed after that day.
    """
    d = adsl.loc[keep].reset_index(drop=True)
    ev_date = pd.Series(pd.NaT, index=d.index, dtype="datetime64[ns]")
    ev_cause = pd.Series(None, index=d.index, dtype=object)
    for cause, col in events.items():
        x = d[col]
        take = x.notna() & (ev_date.isna() | (x < ev_date))
        ev_date[take] = x[take]
        ev_cause[take] = cause
    ca = pd.Series(pd.NaT, index=d.index, dtype="datetime64[ns]")
    for col in censor_at:
        x = d[col]
        take = x.notna() & (ca.isna() | (x < ca))
        ca[take] = x[take]
    cens = ca.notna() & (ev_date.isna() | (ca < ev_date))
    end = ev_date.where(ev_date.notna() & ~cens, ca.where(cens, d[censor]))
    ev_cause[cens] = None
    days = (end - d[origin]).dt.days.to_numpy(dtype=float)
    out = pd.DataFrame({"patient_id": d["patient_id"], "time": days / DAYS_PER_MONTH, "cause": ev_cause})
    if landmark is not None:
        lm_days = round(landmark * DAYS_PER_MONTH)
        keep_lm = days > lm_days
        out = out[keep_lm].reset_index(drop=True)
        out["time"] = (days[keep_lm] - lm_days) / DAYS_PER_MONTH
    return out


def _eligibility(criteria: dict[str, pd.Series]) -> tuple[pd.Series, dict[str, int]]:
    eligible = pd.Series(True, index=next(iter(criteria.values())).index)
    excluded = {}
    for name, ok in criteria.items():
        ok = ok.fillna(False).astype(bool)
        excluded[name] = int((eligible & ~ok).sum())
        eligible &= ok
    return eligible, excluded


def car_t() -> dict[str, object]:
    """ADSL and ADTTE of examples/car-t, per its protocol.toml."""
    pat, inf = read_form("car-t", "patients"), read_form("car-t", "infusions")
    tox, ass, out = read_form("car-t", "toxicities"), read_form("car-t", "assessments"), read_form("car-t", "outcomes")
    adsl = pat[["patient_id", "centre", "sex", "disease_group"]].copy()
    adsl["birth_date"] = _dates(pat["birth_date"])
    adsl["prior_blinatumomab"] = _yes(pat["prior_blinatumomab"])

    inf = inf.assign(infusion_date=_dates(inf["infusion_date"])).sort_values(
        ["patient_id", "infusion_date"], kind="stable"
    )
    first = inf.drop_duplicates("patient_id").set_index("patient_id")
    adsl["n_infusions"] = adsl["patient_id"].map(inf.groupby("patient_id").size()).fillna(0).astype(int)
    adsl["infusion_date"] = adsl["patient_id"].map(first["infusion_date"])
    adsl["product"] = adsl["patient_id"].map(first["product"])
    adsl["age_infusion"] = (adsl["infusion_date"] - adsl["birth_date"]).dt.days / 365.25
    adsl["age_infusion_completed"] = completed_years(adsl["birth_date"], adsl["infusion_date"])
    adsl["age_group"] = np.select(
        [adsl["age_infusion"] < 10, adsl["age_infusion"] < 18, adsl["age_infusion"] >= 18],
        ["lt10", "10to17", "18plus"], default=None,
    )

    tox = tox.assign(grade=tox["grade"].astype(int))
    for kind in ("crs", "icans"):
        worst = tox[tox["toxicity"] == kind].groupby("patient_id")["grade"].max()
        adsl[f"{kind}_grade"] = adsl["patient_id"].map(worst)
        adsl[f"severe_{kind}"] = adsl[f"{kind}_grade"].fillna(0) >= 3

    d28 = ass[ass["timepoint"] == "d28"].set_index("patient_id")
    adsl["response_d28"] = adsl["patient_id"].map(d28["response"])
    adsl["mrd_d28"] = adsl["patient_id"].map(d28["mrd"])
    adsl["bca_d28"] = adsl["patient_id"].map(_yes(d28["bcell_aplasia"]))
    adsl["cr_d28"] = adsl["response_d28"].isin(["cr", "cri"]).where(adsl["response_d28"].notna())
    failure = d28.loc[d28["response"] == "no_response", "assessment_date"]
    adsl["failure_date"] = _dates(adsl["patient_id"].map(failure))

    o = out.set_index("patient_id")
    for col in ("relapse_date", "hsct_date", "death_date", "last_contact_date", "bcell_recovery_date"):
        adsl[col] = _dates(adsl["patient_id"].map(o[col]))
    cd19 = adsl["patient_id"].map(o["relapse_cd19"])
    adsl["cd19neg_relapse_date"] = adsl["relapse_date"].where(cd19 == "negative")
    adsl["cd19pos_relapse_date"] = adsl["relapse_date"].where(cd19 == "positive")

    eligible, excluded = _eligibility({
        "infused": adsl["n_infusions"] >= 1,
        "age": adsl["age_infusion_completed"].between(0, 25),
        "period": adsl["infusion_date"].between(pd.Timestamp("2018-09-01"), pd.Timestamp("2023-09-30")),
    })
    adsl["eligible"] = eligible
    cr = eligible & (adsl["cr_d28"] == True)  # noqa: E712 (missing is not True)
    bca = cr & (adsl["bca_d28"] == True)  # noqa: E712
    origin, censor = "infusion_date", "last_contact_date"
    adtte = {
        "OS": endpoint(adsl, eligible, origin, {"death": "death_date"}, censor),
        "EFS": endpoint(adsl, eligible, origin, {"no_response": "failure_date", "relapse": "relapse_date",
                                                 "death": "death_date"}, censor),
        "RFS": endpoint(adsl, cr, origin, {"relapse": "relapse_date", "death": "death_date"}, censor),
        "CIR19N": endpoint(adsl, cr, origin, {"cd19neg_relapse": "cd19neg_relapse_date",
                                              "cd19pos_relapse": "cd19pos_relapse_date",
                                              "death": "death_date"}, censor, censor_at=("hsct_date",)),
        "OSLM": endpoint(adsl, eligible, origin, {"death": "death_date"}, censor, landmark=1.5),
        "BCAL": endpoint(adsl, bca, origin, {"bcell_recovery": "bcell_recovery_date"}, censor,
                         censor_at=("relapse_date", "hsct_date")),
    }
    return {"adsl": adsl, "adtte": adtte, "excluded": excluded}


def gbsg2() -> dict[str, object]:
    """ADSL and ADTTE of examples/gbsg2, per its protocol.toml."""
    pat, out = read_form("gbsg2", "patients"), read_form("gbsg2", "outcomes")
    adsl = pat[["patient_id", "menopausal_status", "tumour_grade"]].copy()
    adsl["diagnosis_date"] = _dates(pat["diagnosis_date"])
    adsl["age"] = pat["age"].astype(int)
    adsl["hormone_therapy"] = _yes(pat["hormone_therapy"])
    adsl["positive_nodes"] = pat["positive_nodes"].astype(int)
    adsl["nodes_group"] = np.select(
        [adsl["positive_nodes"] <= 3, adsl["positive_nodes"].between(4, 9), adsl["positive_nodes"] >= 10],
        ["n1to3", "n4to9", "n10plus"], default=None,
    )
    adsl["pgr_positive"] = pat["progesterone_receptor"].astype(int) >= 20
    adsl["er_positive"] = pat["oestrogen_receptor"].astype(int) >= 20
    o = out.set_index("patient_id")
    for col in ("recurrence_date", "death_date", "last_contact_date"):
        adsl[col] = _dates(adsl["patient_id"].map(o[col]))
    eligible, excluded = _eligibility({"node_positive": adsl["positive_nodes"] >= 1, "adult": adsl["age"] >= 18})
    adsl["eligible"] = eligible
    origin, censor = "diagnosis_date", "last_contact_date"
    adtte = {
        "OS": endpoint(adsl, eligible, origin, {"death": "death_date"}, censor),
        "RFS": endpoint(adsl, eligible, origin, {"recurrence": "recurrence_date", "death": "death_date"}, censor),
    }
    return {"adsl": adsl, "adtte": adtte, "excluded": excluded}


#: Per example: the derivation, the groups of each analysis (ADSL column; None = all patients).
EXAMPLES_DERIVE = {"car_t": car_t, "gbsg2": gbsg2}
