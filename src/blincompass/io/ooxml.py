"""Reproducible Office files: rewrite a .docx/.xlsx package (a zip) with fixed timestamps.

python-docx and openpyxl stamp the zip entries with the current time, and openpyxl also sets the
``dcterms:modified`` core property at save; the same content must give the same bytes. Every writer of an
Office package (the collection template, the registry's template export, the report's .docx and .xlsx)
passes its bytes through :func:`deterministic_zip`: entries in their original order, each with
:data:`FIXED_ZIP_TIME` and owner read/write permissions, recompressed with deflate level 6.
"""

from __future__ import annotations

import io
import re
import zipfile

__all__ = ["FIXED_W3CDTF", "FIXED_ZIP_TIME", "deterministic_zip", "normalize_ooxml"]

FIXED_ZIP_TIME = (1980, 1, 1, 0, 0, 0)
FIXED_W3CDTF = "2000-01-01T00:00:00Z"
_DATES = re.compile(rb"(<dcterms:(created|modified)\b[^>]*>)[^<]*(</dcterms:\2>)")


def deterministic_zip(data: bytes, *, core_date: str | None = None, create_system: int | None = None) -> bytes:
    """The zip ``data`` rewritten with fixed entry times.

    Parameters
    ----------
    data
        The bytes of a zip archive (an Office package).
    core_date
        When given, the ``dcterms:created`` and ``dcterms:modified`` values of ``docProps/core.xml`` are
        set to this W3CDTF date (the report's packages); otherwise the entries are copied unchanged.
    create_system
        The "made by" system recorded for every entry (0 = MS-DOS); ``None`` keeps :mod:`zipfile`'s
        default (the collection template's bytes have always been written with it).
    """
    src = zipfile.ZipFile(io.BytesIO(data))
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as dst:
        for info in src.infolist():
            blob = src.read(info.filename)
            if core_date is not None and info.filename == "docProps/core.xml":
                blob = _DATES.sub(lambda m: m.group(1) + core_date.encode() + m.group(3), blob)
            zi = zipfile.ZipInfo(info.filename, date_time=FIXED_ZIP_TIME)
            zi.compress_type = zipfile.ZIP_DEFLATED
            zi.external_attr = 0o600 << 16
            if create_system is not None:
                zi.create_system = create_system
            # level 6 is zlib's default level: the same bytes as writestr without a level
            dst.writestr(zi, blob, compresslevel=6)
    return out.getvalue()


def normalize_ooxml(data: bytes) -> bytes:
    """The report's packages: :func:`deterministic_zip` with the core-property dates set to
    :data:`FIXED_W3CDTF` and every entry marked as made on MS-DOS."""
    return deterministic_zip(data, core_date=FIXED_W3CDTF, create_system=0)
