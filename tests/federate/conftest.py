from __future__ import annotations

from pathlib import Path

import pytest

from blincompass.derive import derive_all
from blincompass.protocol import load_protocol
from blincompass.validate import load_dataset
from tests.federate.sites import split_twin

#: The twin's seven centres grouped into three sites.
SITES = {"north": ("SYN-C1", "SYN-C2"), "centre": ("SYN-C3", "SYN-C4"), "south": ("SYN-C5", "SYN-C6", "SYN-C7")}
PROTOCOL = load_protocol()


@pytest.fixture(scope="session")
def site_dirs(tmp_path_factory) -> dict[str, Path]:
    return split_twin(tmp_path_factory.mktemp("twin"), SITES)


@pytest.fixture(scope="session")
def site_data(site_dirs):
    """site (and "all") -> (dataset, derived tables); the protocol's analyses are the same in every
    study package of these tests, so the derived tables are shared."""
    out = {}
    for site, folder in site_dirs.items():
        res = load_dataset(folder)
        assert res.ok, res.findings[:3]
        out[site] = (res.dataset, derive_all(res.dataset, PROTOCOL))
    return out
