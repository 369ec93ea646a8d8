"""Input formats -> the raw form representation that the validator checks.

Every import, whatever its format, is turned into a :class:`~blincompass.io.raw.RawDataset` (one raw
table per form, cells as delivered), with what the conversion noticed as
:class:`~blincompass.io.mapping.ConversionIssue` records; the registry then validates it with
:func:`blincompass.validate.validate`, exactly like a template workbook. Formats: ``template`` (the .xlsx
workbook or a folder of CSV files), ``redcap`` (records CSV + REDCap data dictionary + mapping TOML) and
``sav`` (SPSS files, one per form).
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from pathlib import Path

from blincompass.dictionary import DataDictionary, load_dictionary
from blincompass.io.mapping import ConversionIssue
from blincompass.io.raw import InputReadError, RawDataset, read_raw

__all__ = ["FORMATS", "Converted", "detect_format", "file_sha256", "read_input"]

FORMATS: tuple[str, ...] = ("auto", "template", "redcap", "sav")


@dataclass(frozen=True)
class Converted:
    """An input converted to raw forms, with what the conversion noticed."""

    raw: RawDataset
    issues: tuple[ConversionIssue, ...]
    file_name: str
    sha256: str
    format: str


def file_sha256(path: str | Path) -> str:
    """sha256 of a file, or of the sorted files of a folder (name and bytes of each)."""
    p = Path(path)
    h = hashlib.sha256()
    if p.is_dir():
        for child in sorted(q for q in p.rglob("*") if q.is_file()):
            h.update(child.relative_to(p).as_posix().encode() + b"\0")
            h.update(hashlib.sha256(child.read_bytes()).digest())
    else:
        h.update(p.read_bytes())
    return h.hexdigest()


def detect_format(path: Path) -> str:
    """``template`` for an .xlsx workbook or a folder of form CSVs, ``sav`` for .sav files, ``redcap`` for a
    single CSV file (a REDCap records export)."""
    suffix = path.suffix.casefold()
    if path.is_dir():
        files = [p for p in path.iterdir() if p.is_file()]
        if any(p.suffix.casefold() == ".sav" for p in files):
            return "sav"
        return "template"
    if suffix == ".sav":
        return "sav"
    if suffix == ".csv":
        return "redcap"
    return "template"


def read_input(
    path: str | Path,
    *,
    fmt: str = "auto",
    mapping: str | Path | None = None,
    redcap_dictionary: str | Path | None = None,
    dictionary: DataDictionary | None = None,
    centre: str | None = None,
) -> Converted:
    """Read ``path`` in format ``fmt`` as raw forms.

    Raises :class:`~blincompass.io.raw.InputReadError` when the input cannot be read at all (missing file,
    wrong format, a mapping that names unknown fields).
    """
    d = dictionary or load_dictionary()
    p = Path(path)
    if fmt not in FORMATS:
        raise InputReadError(f"--format {fmt!r}: expected one of {', '.join(FORMATS)}")
    if not p.exists():
        raise InputReadError(f"{p} does not exist")
    kind = detect_format(p) if fmt == "auto" else fmt
    issues: tuple[ConversionIssue, ...] = ()
    if kind == "template":
        raw = read_raw(p, d.form_names)
    elif kind == "redcap":
        from blincompass.io.redcap import read_redcap

        if redcap_dictionary is None:
            raise InputReadError(f"{p.name}: a REDCap import needs the project's data dictionary "
                                 "(--redcap-dictionary FILE, the 'Data Dictionary' CSV export)")
        result = read_redcap(p, redcap_dictionary, mapping, d, default_centre=centre)
        raw, issues = result.raw, result.issues
    elif kind == "sav":
        from blincompass.io.spss import read_sav

        result = read_sav(p, mapping, d)
        raw, issues = result.raw, result.issues
    else:  # pragma: no cover - checked above
        raise InputReadError(f"unknown format {kind}")
    return Converted(raw, issues, p.name, file_sha256(p), kind)
