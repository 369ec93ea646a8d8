from __future__ import annotations

from pathlib import Path

import pytest

from blincompass.derive import build_adae, derive_all
from blincompass.protocol import load_protocol
from blincompass.report import build_report, write_report
from tests.report.cohort import report_cohort

PROTOCOL = load_protocol()


@pytest.fixture(scope="session")
def dataset():
    return report_cohort()


@pytest.fixture(scope="session")
def derived(dataset):
    return derive_all(dataset, PROTOCOL)


@pytest.fixture(scope="session")
def adae(dataset, derived):
    return build_adae(dataset, derived.adsl, PROTOCOL)


@pytest.fixture(scope="session")
def report(dataset, derived):
    return build_report(dataset, PROTOCOL, derived=derived, synthetic=False)


@pytest.fixture(scope="session")
def results(report):
    return report.results


@pytest.fixture(scope="session")
def out_dir(report, tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("report")
    write_report(report, out)
    return out
