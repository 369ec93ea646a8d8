"""Convert the GBSG-2 node-positive breast-cancer data shipped with lifelines into this package's CSV forms.

Run once from the repository root (needs ``lifelines``, e.g. ``pip install lifelines``)::

    python examples/gbsg2/prepare.py [OUT_DIR]      # default: examples/gbsg2/data

The CSV files in ``data/`` are committed, so the example runs without lifelines and without a download.
Source: ``lifelines.datasets.load_lymph_node()`` (686 patients; the Hosmer, Lemeshow & May version of the
GBSG-2 trial data, with calendar dates). In that table ``recdate``/``censrec`` give the recurrence date (or the
last contact when ``censrec = 0``) and ``deathdate``/``censdead`` the death date (or the last contact). The
forms keep a date only when its event happened and carry the last contact separately.
"""

from __future__ import annotations

import csv
import sys
from pathlib import Path

from lifelines.datasets import load_lymph_node

OUT = Path(__file__).resolve().parent / "data"


def _iso(ddmmyyyy: str) -> str:
    d, m, y = ddmmyyyy.split("-")
    return f"{y}-{m}-{d}"


def main(out: Path = OUT) -> None:
    df = load_lymph_node()
    patients = []
    outcomes = []
    for pid, r in df.sort_index().iterrows():
        patient = f"G{int(pid):03d}"
        patients.append([
            patient, _iso(r["diagdateb"]), int(r["age"]), {1: "pre", 2: "post"}[int(r["menopause"])],
            {1: "no", 2: "yes"}[int(r["hormone"])], int(r["size"]), {1: "G1", 2: "G2", 3: "G3"}[int(r["grade"])],
            int(r["nodes"]), int(r["prog_recp"]), int(r["estrg_recp"]),
        ])
        recurrence = _iso(r["recdate"]) if int(r["censrec"]) == 1 else ""
        death = _iso(r["deathdate"]) if int(r["censdead"]) == 1 else ""
        outcomes.append([patient, recurrence, death, _iso(r["deathdate"])])
    out.mkdir(parents=True, exist_ok=True)
    with open(out / "patients.csv", "w", encoding="utf-8", newline="") as fh:
        w = csv.writer(fh, lineterminator="\n")
        w.writerow(["patient_id", "diagnosis_date", "age", "menopausal_status", "hormone_therapy", "tumour_size",
                    "tumour_grade", "positive_nodes", "progesterone_receptor", "oestrogen_receptor"])
        w.writerows(patients)
    with open(out / "outcomes.csv", "w", encoding="utf-8", newline="") as fh:
        w = csv.writer(fh, lineterminator="\n")
        w.writerow(["patient_id", "recurrence_date", "death_date", "last_contact_date"])
        w.writerows(outcomes)


if __name__ == "__main__":
    main(Path(sys.argv[1]) if len(sys.argv) > 1 else OUT)
