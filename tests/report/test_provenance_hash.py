"""The data hash computed column by column equals the hash of its definition (rows in order, each value as
canonical text) on values of every kind the typed frames hold: -0.0 and 0.0, NaN, times of day, NaT,
nullable integers and booleans, mixed objects."""

from __future__ import annotations

import hashlib
from types import SimpleNamespace

import numpy as np
import pandas as pd

from blincompass.report.provenance import _cell, dataset_sha256


def _by_definition(forms: dict[str, pd.DataFrame]) -> str:
    h = hashlib.sha256()
    for name in sorted(forms):
        frame = forms[name]
        cols = [c for c in frame.columns if not str(c).startswith("_")]
        h.update(b"\x1eform\x1f" + name.encode("utf-8") + b"\x1f" + "\x1f".join(cols).encode())
        for row in frame[cols].itertuples(index=False, name=None):
            h.update(b"\n" + "\x1f".join(_cell(v) for v in row).encode("utf-8"))
    return h.hexdigest()


def test_hash_by_columns_is_the_hash_by_rows() -> None:
    rng = np.random.default_rng(3)
    n = 50_000  # more rows than one update holds
    days = pd.to_datetime("2020-01-01") + pd.to_timedelta(rng.integers(0, 900, n), unit="D")
    forms = {
        "b": pd.DataFrame({
            "x": rng.choice([0.0, -0.0, np.nan, 1.5, 1e-300, 0.1 + 0.2], n),
            "d": days.where(rng.random(n) > 0.1),
            "s": rng.choice(np.array(["a", "é", None], dtype=object), n),
            "i": pd.array(rng.choice([1, 2, None], n), dtype="Int64"),
            "q": pd.array(rng.choice([True, False, None], n), dtype="boolean"),
            "_row": np.arange(n),
        }),
        "a": pd.DataFrame({
            "t": pd.to_datetime(["2020-01-01", None, "2020-01-01 12:00:00.5", "1850-01-02"], format="mixed"),
            "f": [0.0, -0.0, np.nan, 2.0],
            "o": ["a", None, 1, 1.0],
            "m": [True, 1, pd.NA, pd.NaT],
        }),
        "c": pd.DataFrame({"e": pd.Series([], dtype="datetime64[ns]")}),
    }
    got = dataset_sha256(SimpleNamespace(forms=forms))
    assert got == _by_definition(forms)
    forms["a"].loc[1, "f"] = 0.0  # -0.0 -> 0.0 changes the hash
    assert dataset_sha256(SimpleNamespace(forms=forms)) != got
