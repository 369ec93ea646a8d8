"""A study package: the folder that describes one study.

Layout::

    my-study/
        dictionary.toml     # the data dictionary: forms, variables, codes (required)
        protocol.toml       # the study's rules: eligibility, endpoints, analyses, report (required)
        layout.toml         # optional: report sections, numbering, titles, wording (default: generic)
        published.toml      # optional: published numbers, for a "Published vs recomputed" section
        *.toml              # further study files; every file is part of the package's hash

``load_study(None)`` gives the built-in study package. Every file of the package enters its
SHA-256 (:attr:`StudyPackage.sha256`), so outputs and summaries can name exactly the package they were
made with, and two copies of the same files have the same hash wherever they live.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path

from blincompass.dictionary import DataDictionary
from blincompass.protocol import Protocol, ProtocolError, load_protocol
from blincompass.protocol.layout import EXTRA_FIGURES, GENERIC, Layout, LayoutError, parse_layout

__all__ = ["REQUIRED_FILES", "StudyError", "StudyPackage", "check_package", "load_study"]

#: The files every study package has.
REQUIRED_FILES: tuple[str, ...] = ("dictionary.toml", "protocol.toml")


class StudyError(ValueError):
    """A study package that cannot be used; the message names the folder, file and problem."""


@dataclass(frozen=True)
class StudyPackage:
    """A loaded study package."""

    label: str
    root: Path | None
    dictionary: DataDictionary
    protocol: Protocol
    files: dict[str, bytes] = field(repr=False)
    #: The report layout (layout.toml; :data:`blincompass.protocol.layout.GENERIC` when the package has none).
    layout: Layout = GENERIC

    @property
    def sha256(self) -> str:
        """SHA-256 over the package's files: ``name NUL sha256(content) LF`` for each file, by name."""
        h = hashlib.sha256()
        for name in sorted(self.files):
            h.update(name.encode("utf-8") + b"\0" + hashlib.sha256(self.files[name]).hexdigest().encode() + b"\n")
        return h.hexdigest()

    @property
    def name(self) -> str:
        return self.protocol.study.name


def _builtin_files() -> dict[str, bytes]:
    return {
        "dictionary.toml": resources.files("blincompass.dictionary").joinpath("data/blincompass.toml").read_bytes(),
        "protocol.toml": resources.files("blincompass.protocol").joinpath("data/blincompass.toml").read_bytes(),
        "layout.toml": resources.files("blincompass.protocol").joinpath("data/blincompass_layout.toml").read_bytes(),
        "published.toml": resources.files("blincompass.synth").joinpath("data/published.toml").read_bytes(),
    }


def _dictionary(label: str, data: bytes) -> DataDictionary:
    import tomllib

    from pydantic import ValidationError

    try:
        return DataDictionary.model_validate(tomllib.loads(data.decode("utf-8")))
    except UnicodeDecodeError as exc:
        raise StudyError(f"{label}: not UTF-8 text ({exc.reason} at byte {exc.start})") from None
    except tomllib.TOMLDecodeError as exc:
        raise StudyError(f"{label}: not valid TOML ({exc})") from None
    except ValidationError as exc:
        from blincompass.dictionary.model import dictionary_problems

        problems = "; ".join(p.removeprefix("(top): ") for p in dictionary_problems(exc).splitlines())
        raise StudyError(f"{label}: {problems}") from None


def _layout(label: str, data: bytes, protocol: Protocol) -> Layout:
    """The package's layout, checked against its protocol: every figure the layout numbers or orders is a
    figure of the protocol's analyses."""
    try:
        layout = parse_layout(data, label)
    except LayoutError as exc:
        raise StudyError(str(exc)) from None
    analyses = getattr(protocol, "analyses", None)
    figures = sorted({str(a.figure) for kind in ("survival", "timedep") for a in getattr(analyses, kind, ())
                      if getattr(a, "figure", None)})
    figures += [*EXTRA_FIGURES, *(f"cif_{c.id}" for c in getattr(analyses, "competing", ()))]
    for fid, number in layout.figures.numbers.items():
        if fid not in figures:
            raise StudyError(f"{label}: figures.numbers: unknown figure {fid!r} (numbered {number!r}); the "
                             f"protocol's figures are: {', '.join(figures) or 'none'}")
    for key in ("widths", "captions"):
        for fid in getattr(layout.figures, key):
            if fid not in figures:
                raise StudyError(f"{label}: figures.{key}: unknown figure {fid!r}; the figures are: "
                                 f"{', '.join(figures)}")
    for fid in layout.figures.order or ():
        if fid not in figures:
            raise StudyError(f"{label}: figures.order: unknown figure {fid!r}; the protocol's figures are: "
                             f"{', '.join(figures) or 'none'}")
    return layout


def load_study(path: str | Path | None = None) -> StudyPackage:
    """Load the study package in folder ``path`` (``None``: the built-in package).

    Raises
    ------
    StudyError
        The folder or a required file is missing, or a file does not follow its model; the message names
        the file and the problem.
    """
    if path is None:
        files = _builtin_files()
        d = _dictionary("built-in data dictionary", files["dictionary.toml"])
        protocol = load_protocol(None)
        layout = _layout("built-in layout.toml", files["layout.toml"], protocol)
        return _checked(StudyPackage(f"built-in {protocol.study.name} study", None, d, protocol, files, layout))
    root = Path(path)
    if not root.is_dir():
        raise StudyError(f"study package {root}: not a folder" if root.exists() else
                         f"study package {root}: no such folder")
    missing = [n for n in REQUIRED_FILES if not (root / n).is_file()]
    if missing:
        raise StudyError(f"study package {root}: missing {', '.join(missing)} (a package holds "
                         f"{' and '.join(REQUIRED_FILES)})")
    files: dict[str, bytes] = {}
    for p in sorted(root.glob("*.toml")):
        try:
            files[p.name] = p.read_bytes()
        except OSError as exc:
            raise StudyError(f"{p}: cannot read ({exc.strerror or exc})") from None
    d = _dictionary(str(root / "dictionary.toml"), files["dictionary.toml"])
    try:
        protocol = load_protocol(root / "protocol.toml")
    except ProtocolError as exc:
        raise StudyError(str(exc)) from None
    layout = GENERIC
    if "layout.toml" in files:
        layout = _layout(str(root / "layout.toml"), files["layout.toml"], protocol)
    return _checked(StudyPackage(str(root), root, d, protocol, files, layout))


def _checked(pkg: StudyPackage) -> StudyPackage:
    """``pkg`` once its protocol has been resolved against its dictionary (every name it uses exists, the
    derived variables have an order); raises :class:`StudyError` naming the problem."""
    from dataclasses import replace

    from blincompass.protocol.plan import resolve, with_code_labels

    try:
        check_package(pkg.dictionary, pkg.protocol)
        protocol = with_code_labels(pkg.dictionary, pkg.protocol, resolve(pkg.dictionary, pkg.protocol))
    except ProtocolError as exc:
        raise StudyError(str(exc)) from None
    return replace(pkg, protocol=protocol)


def check_package(dictionary: DataDictionary, protocol: Protocol) -> None:
    """Resolve ``protocol`` against ``dictionary`` (:func:`blincompass.protocol.plan.resolve`); raises
    :class:`ProtocolError` naming the protocol entry, the bad name and the names available."""
    from blincompass.protocol.plan import resolve

    resolve(dictionary, protocol)
