"""Findings (one problem in one place) and the result of a validation."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any, Literal

from blincompass.io.dataset import Dataset

Severity = Literal["error", "warning", "info"]
SEVERITIES: tuple[str, ...] = ("error", "warning", "info")


@dataclass(frozen=True)
class Finding:
    """One problem found in the input, located as precisely as possible.

    ``file`` is the source label (e.g. ``cohort.xlsx[patients]`` or ``patients.csv``), ``row`` the row
    number a user sees in the spreadsheet (header = 1), ``value`` the raw cell as text, ``rule`` a stable
    identifier (see :mod:`blincompass.validate.rules`) and ``message`` a plain sentence naming the problem
    and what is expected.
    """

    severity: Severity
    file: str
    row: int | None
    patient_id: str | None
    field: str | None
    value: str | None
    rule: str
    message: str

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    def sort_key(self) -> tuple[Any, ...]:
        return (
            self.file,
            -1 if self.row is None else self.row,
            self.field or "",
            self.rule,
            SEVERITIES.index(self.severity),
            self.message,
        )


@dataclass(frozen=True)
class ValidationResult:
    """The typed data set (bad cells set to missing) and every finding, sorted."""

    dataset: Dataset
    findings: list[Finding] = field(default_factory=list)

    @property
    def n_errors(self) -> int:
        return sum(f.severity == "error" for f in self.findings)

    @property
    def n_warnings(self) -> int:
        return sum(f.severity == "warning" for f in self.findings)

    @property
    def n_info(self) -> int:
        return sum(f.severity == "info" for f in self.findings)

    @property
    def ok(self) -> bool:
        """True when there is no error (warnings and infos allowed)."""
        return self.n_errors == 0

    def by_severity(self, severity: str) -> list[Finding]:
        return [f for f in self.findings if f.severity == severity]
