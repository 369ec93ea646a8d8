"""Reproducible Office files: rewrite a .docx/.xlsx package with fixed timestamps.

python-docx and openpyxl stamp the zip entries with the current time and openpyxl also sets the
``dcterms:modified`` core property at save; the same content must give the same bytes, so every entry
is rewritten with a fixed date and the core-property dates are set to :data:`FIXED_W3CDTF`.
"""

from __future__ import annotations

import io
import re
import zipfile

__all__ = ["FIXED_W3CDTF", "FIXED_ZIP_TIME", "normalize_ooxml"]

FIXED_ZIP_TIME = (1980, 1, 1, 0, 0, 0)
FIXED_W3CDTF = "2000-01-01T00:00:00Z"
_DATES = re.compile(rb"(<dcterms:(created|modified)\b[^>]*>)[^<]*(</dcterms:\2>)")


def normalize_ooxml(data: bytes) -> bytes:
    """The package ``data`` with entries in their original order, fixed entry times, fixed core dates."""
    src = zipfile.ZipFile(io.BytesIO(data))
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as dst:
        for info in src.infolist():
            blob = src.read(info.filename)
            if info.filename == "docProps/core.xml":
                blob = _DATES.sub(lambda m: m.group(1) + FIXED_W3CDTF.encode() + m.group(3), blob)
            zi = zipfile.ZipInfo(info.filename, date_time=FIXED_ZIP_TIME)
            zi.compress_type = zipfile.ZIP_DEFLATED
            zi.external_attr = 0o600 << 16
            zi.create_system = 0
            dst.writestr(zi, blob, compresslevel=6)
    return out.getvalue()
