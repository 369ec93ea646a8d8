"""No study's words in the code: the built-in study (BLIN-COMPASS) lives in its package data only.

Every text file under src/blincompass/ is searched, case-insensitively, for the words of the built-in
study (:data:`STUDY_WORDS`). Allowed places: the built-in package's data files (``*.toml`` and ``*.csv``
in a ``data/`` folder) and the synthetic twin generator (``src/blincompass/synth/``), which reproduces that
study's publication by design. The report (``src/blincompass/report/``) must be clean.

:data:`NOT_YET_CLEAN` lists the files elsewhere that still hold such words while their parts of the code
are being rewritten to read the study package; each entry must shrink away (the test fails when a listed
file no longer needs its entry, so the list cannot go stale).
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest

SRC = Path(__file__).resolve().parents[1] / "src" / "blincompass"
STUDY_WORDS = ("blinatumomab", "BLIN-COMPASS", "39 patients", "publication")
_PATTERN = re.compile("|".join(re.escape(w) for w in STUDY_WORDS), re.IGNORECASE)
_TEXT_SUFFIXES = {".py", ".toml", ".csv", ".json", ".md", ".txt", ".yaml", ".yml", ".mako", ".html", ".css", ".js"}

#: Files outside report/ that still name the built-in study (paths relative to src/blincompass/). Being
#: rewritten to take their wording from the study package; remove an entry as soon as its file is clean.
NOT_YET_CLEAN: frozenset[str] = frozenset({
    "dictionary/ctcae.py",  # docstrings on the shipped CTCAE copies and the study's Table 2 terms
    "dictionary/model.py",  # load_dictionary docstring (shipped built-in dictionary)
    "dictionary/render.py",  # publication-to-variable map of the generated dictionary documentation
    "io/template.py",  # entry template's title sheet
    "registry/migrations/versions/0001_initial.py",  # column comments of the first registry migration
    "registry/schema.py",  # registry schema docstring (default: the built-in dictionary)
    "validate/rules.py",  # rule docstring and message naming the treatment course
})


def _allowed_by_design(rel: str) -> bool:
    parts = rel.split("/")
    if parts[0] == "synth":
        return True
    return "data" in parts[:-1] and rel.endswith((".toml", ".csv"))


def _files_with_words() -> dict[str, list[str]]:
    found: dict[str, list[str]] = {}
    for path in sorted(SRC.rglob("*")):
        if not path.is_file() or "__pycache__" in path.parts or path.suffix not in _TEXT_SUFFIXES:
            continue
        rel = path.relative_to(SRC).as_posix()
        if _allowed_by_design(rel):
            continue
        text = path.read_text(encoding="utf-8", errors="replace")
        hits = [f"{i}: {line.strip()[:100]}" for i, line in enumerate(text.splitlines(), 1) if _PATTERN.search(line)]
        if hits:
            found[rel] = hits
    return found


@pytest.fixture(scope="module")
def found() -> dict[str, list[str]]:
    return _files_with_words()


def test_report_is_free_of_study_words(found: dict[str, list[str]]) -> None:
    report = {k: v for k, v in found.items() if k.startswith("report/")}
    assert not report, "study words in the report code:\n" + "\n".join(
        f"  src/blincompass/{k}:{hit}" for k, hits in report.items() for hit in hits)


def test_no_study_words_outside_the_package_data(found: dict[str, list[str]]) -> None:
    new = {k: v for k, v in found.items() if k not in NOT_YET_CLEAN}
    assert not new, "study words outside the built-in package data:\n" + "\n".join(
        f"  src/blincompass/{k}:{hit}" for k, hits in new.items() for hit in hits)


def test_allow_list_is_not_stale(found: dict[str, list[str]]) -> None:
    assert not any(k.startswith("report/") for k in NOT_YET_CLEAN)
    stale = sorted(k for k in NOT_YET_CLEAN if k not in found)
    assert not stale, f"clean now, remove from NOT_YET_CLEAN: {stale}"


def test_the_search_finds_study_words() -> None:
    """The allowed data files do hold the words, so a search that finds nothing would be broken."""
    layout = (SRC / "protocol" / "data" / "blincompass_layout.toml").read_text(encoding="utf-8")
    assert {m.group(0).lower() for m in _PATTERN.finditer(layout)} >= {"blinatumomab", "blin-compass", "39 patients",
                                                                        "publication"}
