"""The report as data: sections made of tables, figures and paragraphs, and the results dictionary.

Renderers (HTML, DOCX, XLSX, JSON) only walk these objects; a new section needs no renderer change.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any, Literal, Protocol

import numpy as np
import pandas as pd

__all__ = [
    "Block",
    "Figure",
    "FigureFiles",
    "HeaderCell",
    "Paragraph",
    "Report",
    "ReportContext",
    "Row",
    "Section",
    "Table",
    "flatten",
    "put",
]


@dataclass(frozen=True)
class HeaderCell:
    """One header cell spanning ``span`` columns."""

    text: str
    span: int = 1


@dataclass(frozen=True)
class Row:
    """One table row.

    ``cells`` are the displayed texts; ``keys`` (same length, or empty) name the results.json key of the
    number each cell shows (``None`` for label cells). ``level`` indents the first cell (0 = block
    heading, 1 = category, 2 = sub-row); ``kind`` = "data", "heading" (a block title, bold) or "total".
    """

    cells: tuple[str, ...]
    keys: tuple[str | None, ...] = ()
    level: int = 0
    kind: Literal["data", "heading", "total"] = "data"


@dataclass(frozen=True)
class Table:
    """A table with one or more header rows (cells may span columns), rows and footnotes.

    ``id`` is stable (used for anchors and xlsx sheets); ``caption`` is printed above the table, e.g.
    "Table 1. Characteristics of the eligible patients"; ``sheet`` is the xlsx sheet name (<= 21
    characters; defaults to the id); ``align`` gives "l" or "r" per body column.
    """

    id: str
    caption: str
    header: tuple[tuple[HeaderCell, ...], ...]
    rows: tuple[Row, ...]
    footnotes: tuple[str, ...] = ()
    sheet: str = ""
    align: tuple[str, ...] = ()

    def alignment(self, column: int) -> str:
        """"left" or "right" for a body column (``align`` gives "l"/"r" per column; default: the first
        column left, the others right)."""
        if column < len(self.align):
            return "left" if self.align[column] == "l" else "right"
        return "left" if column == 0 else "right"

    @staticmethod
    def spans_row(row: Row) -> bool:
        """A heading row whose only text is its label: renderers let the label span the whole row."""
        return row.kind == "heading" and all(c == "" for c in row.cells[1:])

    @property
    def n_columns(self) -> int:
        return sum(c.span for c in self.header[0]) if self.header else max(len(r.cells) for r in self.rows)


@dataclass(frozen=True)
class FigureFiles:
    """The PNG (300 dpi), SVG and PDF bytes of one drawing."""

    png: bytes = field(repr=False)
    svg: bytes = field(repr=False)
    pdf: bytes = field(repr=False)

    def get(self) -> tuple[bytes, bytes, bytes]:
        return self.png, self.svg, self.pdf


class _Files(Protocol):
    def get(self) -> tuple[bytes, bytes, bytes]: ...


@dataclass(frozen=True)
class Figure:
    """A rendered figure: the same drawing as PNG (300 dpi), SVG and PDF bytes.

    ``id`` is the protocol's figure id (e.g. "1c"); files are written as ``figures/<stem>.<ext>``.
    ``files`` holds the bytes (:class:`FigureFiles`), or the drawing still in progress in another process
    (:class:`blincompass.report.figpool.PendingFiles`): ``png``, ``svg`` and ``pdf`` wait for it.
    """

    id: str
    caption: str
    stem: str
    alt: str
    files: _Files = field(repr=False)

    @property
    def png(self) -> bytes:
        return self.files.get()[0]

    @property
    def svg(self) -> bytes:
        return self.files.get()[1]

    @property
    def pdf(self) -> bytes:
        return self.files.get()[2]


@dataclass(frozen=True)
class Paragraph:
    """A paragraph of plain text; ``kind`` = "text", "note" (smaller) or "warning" (highlighted)."""

    text: str
    kind: Literal["text", "note", "warning"] = "text"


Block = Table | Figure | Paragraph


@dataclass(frozen=True)
class Section:
    """One section of the report: an id (anchor), a title and its blocks in order."""

    id: str
    title: str
    blocks: tuple[Block, ...]

    @property
    def tables(self) -> list[Table]:
        return [b for b in self.blocks if isinstance(b, Table)]

    @property
    def figures(self) -> list[Figure]:
        return [b for b in self.blocks if isinstance(b, Figure)]


@dataclass
class ReportContext:
    """What a section builder receives: the inputs, the derived tables and the results so far.

    ``findings`` are the validation findings of the data set (warnings and notes; empty when unknown).
    Builders write every number they show into ``results`` (see :func:`put`); later builders may read
    what earlier ones wrote (e.g. a published-vs-recomputed section reads ``results["tests"]``).
    ``layout`` gives the wording (titles, numbers, fixed sentences); ``values`` fill its placeholders.
    """

    dataset: Any
    derived: Any
    protocol: Any
    adae: pd.DataFrame
    synthetic: bool
    ci_bands: bool = False
    results: dict[str, Any] = field(default_factory=dict)
    findings: list[Any] = field(default_factory=list)
    cache: dict[str, Any] = field(default_factory=dict)
    #: The study's report layout (:class:`blincompass.protocol.layout.Layout`); ``None``: the built-in one.
    layout: Any = None
    #: Values of the layout's placeholders (``{n_eligible}``...), filled by the report builder.
    values: dict[str, Any] = field(default_factory=dict)
    #: How the text names the data set (e.g. "synthetic twin (seed 0)"); ``None``: its file or folder name.
    dataset_label: str | None = None

    def __post_init__(self) -> None:
        from blincompass.report.wording import layout_or_default, layout_values

        self.layout = layout_or_default(self.layout)
        if not self.values:
            adsl = getattr(self.derived, "adsl", None)
            self.values = layout_values(self.protocol, adsl, self.layout)


@dataclass(frozen=True)
class Report:
    """The assembled report: title, synthetic flag, ordered sections and the results dictionary."""

    title: str
    subtitle: str
    synthetic: bool
    sections: tuple[Section, ...]
    results: dict[str, Any]
    #: What made the report (:class:`blincompass.report.provenance.Provenance`); ``None`` when unknown
    #: (a report assembled by hand), then renderers print no provenance block.
    provenance: Any = None

    def section(self, id_: str) -> Section:
        for s in self.sections:
            if s.id == id_:
                return s
        raise KeyError(f"report has no section {id_!r}")

    def table(self, id_: str) -> Table:
        for s in self.sections:
            for t in s.tables:
                if t.id == id_:
                    return t
        raise KeyError(f"report has no table {id_!r}")

    @property
    def figures(self) -> list[Figure]:
        return [f for s in self.sections for f in s.figures]

    @property
    def tables(self) -> list[Table]:
        return [t for s in self.sections for t in s.tables]


def clean_value(value: Any) -> Any:
    """A JSON-safe copy: numpy scalars to Python, NaN/inf/NA to ``None``, tuples to lists."""
    if isinstance(value, dict):
        return {str(k): clean_value(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [clean_value(v) for v in value]
    if value is None or value is pd.NA or value is pd.NaT:
        return None
    if isinstance(value, bool | np.bool_):
        return bool(value)
    if isinstance(value, int | np.integer):
        return int(value)
    if isinstance(value, float | np.floating):
        x = float(value)
        return None if math.isnan(x) or math.isinf(x) else x
    if isinstance(value, pd.Timestamp):
        return value.date().isoformat()
    return value


def put(results: dict[str, Any], key: str, value: Any) -> str:
    """Store ``value`` at the dotted ``key`` of the nested ``results`` and return the key."""
    parts = key.split(".")
    node = results
    for p in parts[:-1]:
        nxt = node.setdefault(p, {})
        if not isinstance(nxt, dict):
            raise ValueError(f"results key {key!r}: {p!r} already holds a value")
        node = nxt
    if isinstance(node.get(parts[-1]), dict):
        raise ValueError(f"results key {key!r} already holds a group of values")
    node[parts[-1]] = clean_value(value)
    return key


def flatten(results: dict[str, Any], prefix: str = "") -> dict[str, Any]:
    """The nested results as ``{"a.b.c": value}`` in insertion order (lists kept as values)."""
    out: dict[str, Any] = {}
    for k, v in results.items():
        key = f"{prefix}{k}"
        if isinstance(v, dict):
            out.update(flatten(v, key + "."))
        else:
            out[key] = v
    return out


def get(results: dict[str, Any], key: str) -> Any:
    """The value at a dotted key (``KeyError`` naming the key when absent)."""
    node: Any = results
    for p in key.split("."):
        if not isinstance(node, dict) or p not in node:
            raise KeyError(key)
        node = node[p]
    return node
