"""Study packages: loading, hashing and clear refusals."""

from __future__ import annotations

from pathlib import Path

import pytest

from blincompass.dictionary import load_dictionary
from blincompass.protocol import load_protocol
from blincompass.study import StudyError, load_study


def _copy_builtin(to: Path) -> Path:
    pkg = load_study()
    to.mkdir()
    for name, data in pkg.files.items():
        (to / name).write_bytes(data)
    return to


def test_builtin_package_is_blin_compass() -> None:
    pkg = load_study()
    assert pkg.root is None and pkg.name == load_protocol().study.name
    assert pkg.dictionary == load_dictionary()
    assert sorted(pkg.files) == ["dictionary.toml", "layout.toml", "protocol.toml", "published.toml"]
    assert len(pkg.sha256) == 64


def test_folder_copy_has_the_builtin_hash_and_any_change_moves_it(tmp_path: Path) -> None:
    root = _copy_builtin(tmp_path / "pkg")
    pkg = load_study(root)
    assert pkg.sha256 == load_study().sha256
    assert pkg.protocol.study == load_protocol().study
    (root / "notes.toml").write_text("# notes\n", encoding="utf-8")
    assert load_study(root).sha256 != pkg.sha256
    (root / "notes.toml").unlink()
    text = (root / "protocol.toml").read_text(encoding="utf-8")
    (root / "protocol.toml").write_text(text + "\n", encoding="utf-8")
    assert load_study(root).sha256 != pkg.sha256


def test_missing_folder_and_files(tmp_path: Path) -> None:
    with pytest.raises(StudyError, match="no such folder"):
        load_study(tmp_path / "nope")
    (tmp_path / "f").write_text("x", encoding="utf-8")
    with pytest.raises(StudyError, match="not a folder"):
        load_study(tmp_path / "f")
    (tmp_path / "empty").mkdir()
    with pytest.raises(StudyError, match="missing dictionary.toml, protocol.toml"):
        load_study(tmp_path / "empty")


def test_bad_files_name_file_and_entry(tmp_path: Path) -> None:
    root = _copy_builtin(tmp_path / "pkg")
    (root / "dictionary.toml").write_text("[meta]\nname = 'x'\n", encoding="utf-8")
    with pytest.raises(StudyError, match=r"dictionary\.toml: .*forms: Field required"):
        load_study(root)
    root = _copy_builtin(tmp_path / "pkg2")
    (root / "protocol.toml").write_text("[study\n", encoding="utf-8")
    with pytest.raises(StudyError, match=r"protocol\.toml: not valid TOML"):
        load_study(root)
