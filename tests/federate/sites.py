"""Test helpers: the synthetic twin split by centre into site folders, and study packages with other
federation settings."""

from __future__ import annotations

import csv
import re
from pathlib import Path

from blincompass.study import load_study
from blincompass.synth import write_twin

FORMS = ("patients", "courses", "assessments", "adverse_events", "outcomes")


def _read(path: Path) -> tuple[list[str], list[dict[str, str]]]:
    with path.open(newline="", encoding="utf-8") as fh:
        rd = csv.DictReader(fh)
        return list(rd.fieldnames or []), list(rd)


def split_twin(root: Path, groups: dict[str, tuple[str, ...]] | None = None, seed: int = 0) -> dict[str, Path]:
    """Write the twin to ``root/all`` and one folder per site (``groups``: site -> centres; default one
    site per centre). Returns site -> folder, plus "all"."""
    whole = root / "all"
    write_twin(whole, seed)
    _, patients = _read(whole / "patients.csv")
    centres = sorted({p["centre"] for p in patients})
    groups = groups or {c: (c,) for c in centres}
    out = {"all": whole}
    for site, members in groups.items():
        ids = {p["patient_id"] for p in patients if p["centre"] in members}
        d = root / site
        d.mkdir()
        for form in FORMS:
            cols, rows = _read(whole / f"{form}.csv")
            with (d / f"{form}.csv").open("w", newline="", encoding="utf-8") as fh:
                w = csv.DictWriter(fh, fieldnames=cols, lineterminator="\n")
                w.writeheader()
                w.writerows(r for r in rows if r["patient_id"] in ids)
        out[site] = d
    return out


def study_with(root: Path, **settings: object) -> Path:
    """A copy of the built-in study package whose ``[federation]`` section has ``settings``."""
    base = load_study(None)
    root.mkdir(parents=True, exist_ok=True)
    (root / "dictionary.toml").write_bytes(base.files["dictionary.toml"])
    text = base.files["protocol.toml"].decode("utf-8")
    lines = []
    for k, v in settings.items():
        lines.append(f"{k} = {v!r}".replace("'", '"') if not isinstance(v, (list, tuple)) else
                     f"{k} = [{', '.join(repr(x).replace(chr(39), chr(34)) for x in v)}]")
    new, n = re.subn(r"\[federation\]\n(?:[^\n\[#][^\n]*\n)*", "[federation]\n" + "\n".join(lines) + "\n", text)
    assert n == 1
    (root / "protocol.toml").write_text(new, encoding="utf-8")
    return root
