"""CTCAE term lists (v4.03 and v5.0: SOC, term, grade 1-5 text, definition) and reported-term mapping.

The shipped copies come from the NCI publication; the MedDRA code column is left out because MedDRA is
licensed separately. A cell that is empty means "no grade at that level" (NCI prints a dash).
"""

from __future__ import annotations

import csv
import io
import tomllib
from dataclasses import dataclass
from functools import lru_cache
from importlib import resources
from typing import Literal

Version = Literal["4.03", "5.0"]
TermStatus = Literal["ctcae", "synonym", "nearest", "other", "unmapped"]


@dataclass(frozen=True)
class CtcaeTerm:
    """One CTCAE term with its system organ class and grade definitions (index 0 = grade 1)."""

    term: str
    soc: str
    grades: tuple[str, str, str, str, str]
    definition: str

    def grade_defined(self, grade: int) -> bool:
        return 1 <= grade <= 5 and bool(self.grades[grade - 1])


@dataclass(frozen=True)
class TermResolution:
    """How a reported adverse-event term relates to CTCAE.

    ``status`` is ``"ctcae"`` when the reported term is a CTCAE term, ``"synonym"``/``"nearest"``/``"other"``
    when a shipped mapping gives a CTCAE term (``ctcae_term``), and ``"unmapped"`` otherwise.
    """

    reported: str
    status: TermStatus
    ctcae_term: str | None
    soc: str | None
    note: str | None = None

    @property
    def is_ctcae(self) -> bool:
        return self.status == "ctcae"


@lru_cache(maxsize=2)
def ctcae_terms(version: Version = "4.03") -> dict[str, CtcaeTerm]:
    """All terms of a CTCAE version, keyed by term."""
    fname = {"4.03": "data/ctcae_v4.03.csv", "5.0": "data/ctcae_v5.0.csv"}[version]
    text = resources.files("blincompass.dictionary").joinpath(fname).read_text("utf-8")
    out: dict[str, CtcaeTerm] = {}
    for row in csv.DictReader(io.StringIO(text)):
        grades = tuple(row[f"grade_{g}"] for g in range(1, 6))
        out[row["term"]] = CtcaeTerm(row["term"], row["soc"], grades, row["definition"])  # type: ignore[arg-type]
    return out


@lru_cache(maxsize=1)
def _term_map() -> dict[str, dict[str, str]]:
    text = resources.files("blincompass.dictionary").joinpath("data/ae_terms.toml").read_text("utf-8")
    return {t["reported"].casefold(): t for t in tomllib.loads(text)["terms"]}


def reported_terms() -> list[str]:
    """The reported terms with a shipped mapping (the publication's Table 2 rows)."""
    return [t["reported"] for t in _term_map().values()]


@lru_cache(maxsize=4)
def _folded_terms(version: Version) -> dict[str, str]:
    """CTCAE terms of ``version`` keyed by their case-folded spelling."""
    return {k.casefold(): k for k in ctcae_terms(version)}


def resolve_term(reported: str, version: Version = "4.03") -> TermResolution:
    """Resolve a reported term against CTCAE (case-insensitive, surrounding spaces ignored)."""
    name = " ".join(reported.split())
    terms = ctcae_terms(version)
    by_fold = _folded_terms(version)
    key = name.casefold()
    mapped = _term_map().get(key)
    if mapped is not None:
        ct = mapped["ctcae"]
        return TermResolution(mapped["reported"], mapped["status"], ct, terms[ct].soc, mapped.get("note"))  # type: ignore[arg-type]
    if key in by_fold:
        t = terms[by_fold[key]]
        return TermResolution(t.term, "ctcae", t.term, t.soc)
    return TermResolution(name, "unmapped", None, None)
