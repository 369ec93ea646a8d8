"""Reading guards: encodings named or decoded, case-variant CSV files, zip limits on the archive directory."""

from __future__ import annotations

import zipfile
from pathlib import Path

import pytest

from blincompass.io import InputReadError, read_raw
from blincompass.io.raw import check_zip_limits, decode_csv_bytes
from tests.validate.helpers import copy_example

TEXT = "patient_id,centre\nC1-001,C1\nC1-002,Città\n"


@pytest.mark.parametrize(("codec", "bom", "label"), [
    ("utf-16-le", b"\xff\xfe", "UTF-16 LE"), ("utf-16-le", b"", "UTF-16 LE"),
    ("utf-16-be", b"\xfe\xff", "UTF-16 BE"), ("utf-16-be", b"", "UTF-16 BE"),
    ("utf-32-le", b"\xff\xfe\x00\x00", "UTF-32 LE"), ("utf-32-le", b"", "UTF-32 LE"),
    ("utf-32-be", b"\x00\x00\xfe\xff", "UTF-32 BE"), ("utf-32-be", b"", "UTF-32 BE"),
])
def test_wide_encodings_are_decoded_and_named(codec: str, bom: bytes, label: str) -> None:
    text, notes = decode_csv_bytes("p.csv", bom + TEXT.encode(codec))
    assert text == TEXT
    assert [(n.severity, n.rule, n.message) for n in notes] == [
        ("warning", "file.encoding",
         f"p.csv is {label}, not UTF-8; read as {label}. Save it as 'CSV UTF-8' next time.")
    ]


def test_utf8_and_fallbacks_unchanged() -> None:
    assert decode_csv_bytes("p.csv", TEXT.encode("utf-8")) == (TEXT, [])
    assert decode_csv_bytes("p.csv", b"\xef\xbb\xbf" + TEXT.encode("utf-8")) == (TEXT, [])
    text, notes = decode_csv_bytes("p.csv", TEXT.encode("cp1252"))
    assert text == TEXT and notes[0].message.startswith("p.csv is not UTF-8; read as cp1252.")


def test_broken_utf16_is_named() -> None:
    data = b"\xff\xfe" + "ab".encode("utf-16-le") + b"\x00\xdc"  # a lone low surrogate
    with pytest.raises(InputReadError) as exc:
        decode_csv_bytes("p.csv", data)
    assert str(exc.value).startswith("p.csv looks like UTF-16 LE text but is not valid UTF-16 LE (byte 6:")


@pytest.mark.parametrize(("data", "what"), [
    (b"PK\x03\x04\x14\x00\x00\x00", "a zip archive"),
    (b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1\x00\x00", "a legacy Office file"),
    (b"$FL2@(#) IBM SPSS\x00\x00\x00", "an SPSS .sav file"),
    (b"%PDF-1.7\n\x00\x01", "a PDF document"),
    (b"\x1f\x8b\x08\x00\x00\x00", "a gzip-compressed file"),
])
def test_binary_files_are_named(data: bytes, what: str) -> None:
    with pytest.raises(InputReadError, match=f"^p.csv is not a CSV file: it is {what}"):
        decode_csv_bytes("p.csv", data)


def test_unknown_binary_names_the_nul_byte() -> None:
    with pytest.raises(InputReadError) as exc:
        decode_csv_bytes("p.csv", b"abc\x00\x01\x02\x03\xff\xfe\x00\x07\x08\x00\x00\x09")
    assert str(exc.value) == ("p.csv is not a text CSV file: it contains NUL bytes (first at byte 3) and is "
                              "neither UTF-8, UTF-16 nor UTF-32 text; save it as 'CSV UTF-8'")


def test_case_variant_csv_files_are_an_error(tmp_path: Path) -> None:
    folder = copy_example(tmp_path)
    (folder / "PATIENTS.csv").write_bytes((folder / "patients.csv").read_bytes())
    raw = read_raw(folder)
    assert [(n.severity, n.rule) for n in raw.notes] == [("error", "form.ambiguous")]
    assert "files 'PATIENTS.csv' and 'patients.csv'" in raw.notes[0].message


def test_zip_limits_entry_count(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import blincompass.io.raw as raw

    path = tmp_path / "many.xlsx"
    with zipfile.ZipFile(path, "w") as z:
        for i in range(5):
            z.writestr(f"e{i}.xml", "<a/>")
    check_zip_limits(path)  # within every limit
    monkeypatch.setattr(raw, "XLSX_MAX_ENTRIES", 4)
    with pytest.raises(InputReadError, match="^many.xlsx is refused: the archive has 5 entries, more than the limit"):
        check_zip_limits(path)


def test_small_entries_may_compress_well(tmp_path: Path) -> None:
    path = tmp_path / "small.xlsx"
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as z:
        z.writestr("xl/sharedStrings.xml", " " * 500_000)  # 500 kB of spaces: ratio > 100 but below the grace
    check_zip_limits(path)


def test_redcap_dictionary_in_utf16_reads_the_same(tmp_path: Path) -> None:
    from blincompass.io.redcap import read_redcap_dictionary

    src = Path(__file__).resolve().parents[1] / "fixtures" / "registry" / "redcap" / "dictionary.csv"
    wide = tmp_path / "dictionary.csv"
    wide.write_bytes(b"\xff\xfe" + src.read_text(encoding="utf-8-sig").encode("utf-16-le"))
    assert read_redcap_dictionary(wide) == read_redcap_dictionary(src)
    binary = tmp_path / "dict.csv"
    binary.write_bytes(b"PK\x03\x04\x14\x00\x00\x00")
    with pytest.raises(InputReadError, match="^dict.csv is not a CSV file: it is a zip archive"):
        read_redcap_dictionary(binary)


def test_zip_with_unsupported_version_is_a_read_error(tmp_path: Path) -> None:
    """Found by the fuzz tests: zipfile raises NotImplementedError for an entry of a newer zip version."""
    import struct

    path = tmp_path / "v64.xlsx"
    with zipfile.ZipFile(path, "w") as z:
        z.writestr("xl/workbook.xml", "<workbook/>")
    data = bytearray(path.read_bytes())
    cd = data.find(b"PK\x01\x02")
    struct.pack_into("<H", data, cd + 6, 64)  # "version needed to extract" = 6.4
    path.write_bytes(bytes(data))
    with pytest.raises(InputReadError) as exc:
        read_raw(path)
    assert str(exc.value) == "v64.xlsx is not a readable .xlsx workbook (zip archive): zip file version 6.4"


def test_out_of_memory_while_parsing_has_a_reason(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import openpyxl

    from tests.validate.helpers import example_to_xlsx

    path = example_to_xlsx(tmp_path / "big.xlsx")

    def oom(*args: object, **kwargs: object) -> None:
        raise MemoryError

    monkeypatch.setattr(openpyxl, "load_workbook", oom)
    with pytest.raises(InputReadError) as exc:
        read_raw(path)
    assert str(exc.value) == "big.xlsx cannot be read as an .xlsx workbook: MemoryError"


def test_binary_behind_a_byte_order_mark_is_not_a_table() -> None:
    with pytest.raises(InputReadError) as exc:
        decode_csv_bytes("b.csv", b"\xff\xfe\x00\x81\x82" * 50)
    assert str(exc.value) == ("b.csv looks like UTF-16 LE text but holds no line break or delimiter in its first "
                              "124 characters, so it is not a CSV table; save it as 'CSV UTF-8'")
