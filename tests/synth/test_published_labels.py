"""The labels of the published numbers (printed in the report's "Published vs recomputed" table) use
proper symbols: ≥ and →, µg/m², en dashes in ranges, powers of ten rather than "1e-3"."""

from __future__ import annotations

import re
import tomllib
from importlib import resources


def _labels() -> list[str]:
    data = tomllib.loads(resources.files("blincompass.synth").joinpath("data/published.toml").read_text("utf-8"))
    return [e["label"] for group in data.values() if isinstance(group, list) for e in group
            if isinstance(e, dict) and "label" in e]


def test_labels_use_proper_symbols():
    labels = _labels()
    assert len(labels) > 100
    bad = [x for x in labels if re.search(r">=|<=|->|\bug/|/m2/|\d-\d|\de-\d|^[<>] \d", x)]
    assert not bad
    assert "Paediatric step-up 5 \u2192 15 \u00b5g/m\u00b2/day" in labels
    assert "OS, <5 % vs \u22655 %: one-sided p" in labels
    assert "5\u201325 % blasts" in labels


def test_notes_use_proper_symbols():
    data = tomllib.loads(resources.files("blincompass.synth").joinpath("data/published.toml").read_text("utf-8"))
    notes = [e["note"] for group in data.values() if isinstance(group, list) for e in group
             if isinstance(e, dict) and e.get("note")]
    assert len(notes) > 20
    assert not [n for n in notes if re.search(r">=|->|\d-\d|\de-\d", n)]
    assert any("(Table 1: 2.3\u201321.5)" in n for n in notes)
