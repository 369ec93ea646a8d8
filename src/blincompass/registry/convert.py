"""Input formats -> the raw form representation that the validator checks.

Every import, whatever its format, is turned into a :class:`~blincompass.io.raw.RawDataset` (one raw
table per form, cells as delivered) and then validated by :func:`blincompass.validate.validate`, exactly
like a template workbook. Formats: ``template`` (the .xlsx workbook or a folder of CSV files), ``redcap``
(records CSV + REDCap data dictionary + mapping TOML) and ``sav`` (SPSS files, one per form).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from blincompass.dictionary import DataDictionary, load_dictionary
from blincompass.io.raw import InputReadError, RawDataset, read_raw
from blincompass.registry.access import file_sha256
from blincompass.validate.findings import Finding

__all__ = ["FORMATS", "Converted", "detect_format", "read_input"]

FORMATS: tuple[str, ...] = ("auto", "template", "redcap", "sav")


@dataclass(frozen=True)
class Converted:
    """An input converted to raw forms, with what the conversion noticed."""

    raw: RawDataset
    findings: tuple[Finding, ...]
    file_name: str
    sha256: str
    format: str


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
    findings: list[Finding] = []
    if kind == "template":
        raw = read_raw(p, d.form_names)
    elif kind == "redcap":
        from blincompass.io.redcap import read_redcap

        if redcap_dictionary is None:
            raise InputReadError(f"{p.name}: a REDCap import needs the project's data dictionary "
                                 "(--redcap-dictionary FILE, the 'Data Dictionary' CSV export)")
        result = read_redcap(p, redcap_dictionary, mapping, d, default_centre=centre)
        raw = result.raw
        findings = [Finding(i.severity, i.file, i.row, i.patient_id, i.field, i.value, i.rule, i.message)  # type: ignore[arg-type]
                    for i in result.issues]
    elif kind == "sav":
        from blincompass.io.spss import read_sav

        result = read_sav(p, mapping, d)
        raw = result.raw
        findings = [Finding(i.severity, i.file, i.row, i.patient_id, i.field, i.value, i.rule, i.message)  # type: ignore[arg-type]
                    for i in result.issues]
    else:  # pragma: no cover - checked above
        raise InputReadError(f"unknown format {kind}")
    return Converted(raw, tuple(findings), p.name, file_sha256(p), kind)
