"""The one deterministic-zip helper for Office packages."""

from __future__ import annotations

import io
import zipfile

from blincompass.io.ooxml import FIXED_W3CDTF, FIXED_ZIP_TIME, deterministic_zip, normalize_ooxml

CORE = (b'<cp:coreProperties><dcterms:created xsi:type="dcterms:W3CDTF">2031-05-06T07:08:09Z</dcterms:created>'
        b'<dcterms:modified xsi:type="dcterms:W3CDTF">2031-05-06T07:08:09Z</dcterms:modified></cp:coreProperties>')


def _package(when: tuple[int, int, int, int, int, int]) -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_STORED) as z:
        for name, blob in (("[Content_Types].xml", b"<Types/>"), ("docProps/core.xml", CORE), ("xl/a.xml", b"a" * 500)):
            z.writestr(zipfile.ZipInfo(name, date_time=when), blob)
    return buf.getvalue()


def test_same_content_gives_the_same_bytes_whatever_the_entry_times() -> None:
    a, b = _package((2031, 5, 6, 7, 8, 10)), _package((2029, 1, 2, 3, 4, 6))
    assert a != b
    assert deterministic_zip(a) == deterministic_zip(b)
    assert normalize_ooxml(a) == normalize_ooxml(b)


def test_entries_keep_their_order_and_content_with_fixed_attributes() -> None:
    out = zipfile.ZipFile(io.BytesIO(deterministic_zip(_package((2031, 5, 6, 7, 8, 10)))))
    assert out.namelist() == ["[Content_Types].xml", "docProps/core.xml", "xl/a.xml"]
    assert {i.date_time for i in out.infolist()} == {FIXED_ZIP_TIME}
    assert {i.external_attr for i in out.infolist()} == {0o600 << 16}
    assert {i.compress_type for i in out.infolist()} == {zipfile.ZIP_DEFLATED}
    assert out.read("docProps/core.xml") == CORE  # unchanged without core_date


def test_the_report_preset_fixes_the_core_dates_and_the_system() -> None:
    out = zipfile.ZipFile(io.BytesIO(normalize_ooxml(_package((2031, 5, 6, 7, 8, 10)))))
    core = out.read("docProps/core.xml")
    assert b"2031" not in core
    assert core.count(FIXED_W3CDTF.encode()) == 2
    assert {i.create_system for i in out.infolist()} == {0}


def test_level_six_is_the_default_deflate_level() -> None:
    """The helper names level 6; writers that named no level produced the same bytes."""
    data = b"blincompass " * 1000
    out = []
    for level in (None, 6):
        buf = io.BytesIO()
        with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as z:
            z.writestr(zipfile.ZipInfo("a", date_time=FIXED_ZIP_TIME), data, compresslevel=level)
        out.append(buf.getvalue())
    assert out[0] == out[1]
