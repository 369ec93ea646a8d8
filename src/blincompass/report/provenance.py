"""Provenance of a report: which software, study package and data made it, and when.

Every output (HTML, DOCX, the XLSX README sheet, results.json) carries the same block:

* the blincompass version, and the source commit when it is known: the ``BLINCOMPASS_COMMIT``
  environment variable (set by a build or a container), else a ``_commit.txt`` file beside the package
  written at build time, else ``git rev-parse HEAD`` when the package's source lies in a git checkout and
  git is installed; otherwise "unknown" (git is never required);
* the SHA-256 of the study package (:attr:`blincompass.study.StudyPackage.sha256`) when the caller knows
  which package it used;
* the SHA-256 of the typed data set (:func:`dataset_sha256`);
* the run date: ``SOURCE_DATE_EPOCH`` (reproducible-builds convention) when set, else the current UTC day,
  so two runs on the same day, or any two runs with the same ``SOURCE_DATE_EPOCH``, give identical bytes.
"""

from __future__ import annotations

import datetime as dt
import functools
import hashlib
import math
import os
import shutil
import subprocess
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import pandas as pd

from blincompass import __version__

__all__ = ["COMMIT_ENV", "Provenance", "dataset_sha256", "make_provenance", "run_datetime", "source_commit"]

#: Environment variable naming the source commit of this build.
COMMIT_ENV = "BLINCOMPASS_COMMIT"


@dataclass(frozen=True)
class Provenance:
    """What made a report (see the module docstring); ``None`` fields are shown as "not recorded"."""

    version: str
    commit: str | None
    study: str
    study_title: str
    study_sha256: str | None
    data_sha256: str | None
    run_date: str
    date_source: str

    def lines(self) -> list[tuple[str, str]]:
        """(label, value) pairs in display order, identical in every output."""
        return [
            ("Software", f"blincompass {self.version}"),
            ("Source commit", self.commit or "unknown"),
            ("Study", f"{self.study} \u2013 {self.study_title}" if self.study_title else self.study),
            ("Study package SHA-256", self.study_sha256 or "not recorded"),
            ("Input data SHA-256", self.data_sha256 or "not recorded"),
            ("Run date (UTC)", f"{self.run_date} ({self.date_source})"),
        ]

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)

    @property
    def timestamp(self) -> dt.datetime:
        """The run date as a naive UTC datetime (document properties)."""
        return dt.datetime.fromisoformat(self.run_date.replace("Z", ""))


def run_datetime(environ: dict[str, str] | None = None) -> tuple[dt.datetime, str]:
    """The run time (naive UTC) and where it came from: ``SOURCE_DATE_EPOCH`` seconds when set (an
    unreadable value raises ``ValueError`` naming it), else the start of the current UTC day."""
    env = os.environ if environ is None else environ
    raw = env.get("SOURCE_DATE_EPOCH", "").strip()
    if raw:
        try:
            seconds = int(raw)
        except ValueError:
            raise ValueError(f"SOURCE_DATE_EPOCH={raw!r} is not a whole number of seconds") from None
        stamp = dt.datetime.fromtimestamp(seconds, dt.UTC).replace(tzinfo=None)
        return stamp, "SOURCE_DATE_EPOCH"
    today = dt.datetime.now(dt.UTC).date()
    return dt.datetime(today.year, today.month, today.day), "day of the run"


@functools.lru_cache(maxsize=4)
def _git_commit(root: str) -> str | None:
    git = shutil.which("git")
    if git is None:
        return None
    here = Path(root)
    if not any((p / ".git").exists() for p in (here, *here.parents)):
        return None
    try:
        res = subprocess.run([git, "-C", root, "rev-parse", "HEAD"], capture_output=True, text=True,
                             timeout=10, check=False)
    except (OSError, subprocess.SubprocessError):
        return None
    out = res.stdout.strip()
    return out if res.returncode == 0 and len(out) == 40 else None


def source_commit(environ: dict[str, str] | None = None) -> str | None:
    """The source commit of this build (see the module docstring), ``None`` when unknown."""
    env = os.environ if environ is None else environ
    value = env.get(COMMIT_ENV, "").strip()
    if value:
        return value
    package = Path(__file__).resolve().parent.parent
    stamp = package / "_commit.txt"
    if stamp.is_file():
        text = stamp.read_text("utf-8").strip()
        if text:
            return text
    return _git_commit(str(package))


def _cell(value: Any) -> str:
    """One value as canonical text: missing values as an empty marker, floats by ``repr`` (exact)."""
    if value is None or value is pd.NA or value is pd.NaT:
        return "\x00"
    if isinstance(value, float) and math.isnan(value):
        return "\x00"
    if isinstance(value, pd.Timestamp | dt.datetime | dt.date):
        return value.isoformat()
    if isinstance(value, float):
        return repr(value)
    return str(value)


def dataset_sha256(dataset: Any) -> str | None:
    """SHA-256 of a typed data set's values: forms by name, each with its columns in order (without the
    source bookkeeping columns ``_row`` and ``_file``, so the same data read from a workbook, a CSV folder
    or the registry hash alike), then its rows in order, every value as canonical text. ``None`` when the
    object has no forms."""
    forms = getattr(dataset, "forms", None)
    if not isinstance(forms, dict):
        return None
    h = hashlib.sha256()
    for name in sorted(forms):
        frame = forms[name]
        cols = [c for c in frame.columns if not str(c).startswith("_")]
        h.update(b"\x1eform\x1f" + str(name).encode("utf-8") + b"\x1f" + "\x1f".join(map(str, cols)).encode())
        texts = [_column_texts(frame[c]) for c in cols]
        for start in range(0, len(frame), _CHUNK):  # the rows' texts as one update per chunk of rows
            rows = map("\x1f".join, zip(*(t[start:start + _CHUNK] for t in texts), strict=True))
            h.update(("\n" + "\n".join(rows)).encode("utf-8"))
    return h.hexdigest()


#: Rows hashed per update by :func:`dataset_sha256` (the same digest as one update per row).
_CHUNK = 20_000


def _column_texts(col: pd.Series) -> list[str]:
    """:func:`_cell` of each value of ``col`` as iterating the column gives them, computed once per
    distinct value (a date or number column of 10^5 rows has a few thousand)."""
    import numpy as np

    arr = col.to_numpy() if col.dtype.kind in "fM" else None
    if arr is not None and col.dtype.kind == "f" and not (np.signbit(arr) & (arr == 0)).any():
        # -0.0 and 0.0 are one value to np.unique but not to repr: columns holding -0.0 take the general way
        uniq, inv = np.unique(arr, return_inverse=True)
        table = np.array([_cell(x) for x in uniq.tolist()] + [""], dtype=object)
        return table[inv.reshape(-1)].tolist()
    if arr is not None and col.dtype == "datetime64[ns]":
        uniq, inv = np.unique(arr.view("i8"), return_inverse=True)
        stamps = uniq.view("datetime64[ns]")
        nat = np.isnat(stamps)
        if (uniq[~nat] % 1_000_000_000 == 0).all():  # whole seconds: isoformat() is numpy's text to the second
            texts = np.datetime_as_string(stamps, unit="s").astype(object)
            texts[nat] = "\x00"
        else:
            texts = np.array([_cell(x) for x in pd.DatetimeIndex(stamps)], dtype=object)
        return texts[inv.reshape(-1)].tolist()
    memo: dict[tuple[type, Any], str] = {}
    out: list[str] = []
    for v in col:
        if type(v) is str:
            out.append(v)
            continue
        if type(v) is float:  # NaN is not equal to itself and -0.0 equals 0.0: floats are not memoised
            out.append(_cell(v))
            continue
        key = (type(v), v)
        try:
            text = memo[key]
        except KeyError:
            text = memo[key] = _cell(v)
        except TypeError:  # an unhashable value
            text = _cell(v)
        out.append(text)
    return out


def make_provenance(dataset: Any, study: str, study_title: str = "", study_sha256: str | None = None,
                    environ: dict[str, str] | None = None) -> Provenance:
    """The provenance of a report built now from ``dataset`` with the study ``study`` (name and title; its
    package hash ``study_sha256`` when known)."""
    stamp, source = run_datetime(environ)
    return Provenance(version=__version__, commit=source_commit(environ), study=study,
                      study_title=study_title, study_sha256=study_sha256,
                      data_sha256=dataset_sha256(dataset), run_date=stamp.isoformat() + "Z", date_source=source)
