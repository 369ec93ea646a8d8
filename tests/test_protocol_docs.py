"""docs/protocol.md documents every derivation kind and function the protocol model accepts."""

from __future__ import annotations

from pathlib import Path

from blincompass.protocol.derived import DERIVED_KINDS
from blincompass.protocol.functions import FUNCTIONS

DOC = (Path(__file__).resolve().parents[1] / "docs" / "protocol.md").read_text(encoding="utf-8")


def test_every_kind_and_function_is_documented():
    missing = [k for k in DERIVED_KINDS if f"`{k}`" not in DOC]
    missing += [f for f in FUNCTIONS if f"`{f}`" not in DOC]
    assert not missing, f"docs/protocol.md does not document {missing}"
    for name, (_, args) in FUNCTIONS.items():
        row = next(line for line in DOC.splitlines() if line.startswith(f"| `{name}`"))
        assert all(f"`{a}" in row for a in args), (name, [a for a in args if f"`{a}" not in row])
