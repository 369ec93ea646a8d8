"""Endpoint derivation: patient-level (ADSL-style) and time-to-event (ADTTE-style) analysis tables."""

from blincompass.derive.adsl import ADSL_COLUMNS, build_adsl
from blincompass.derive.adtte import ADTTE_COLUMNS, build_adtte, derive_tte
from blincompass.derive.pipeline import DerivedData, derive_all, write_derived

__all__ = [
    "ADSL_COLUMNS",
    "ADTTE_COLUMNS",
    "DerivedData",
    "build_adsl",
    "build_adtte",
    "derive_all",
    "derive_tte",
    "write_derived",
]

from blincompass.derive.adae import ADAE_COLUMNS, build_adae  # noqa: E402

__all__ += ["ADAE_COLUMNS", "build_adae"]

from blincompass.derive.adrs import ADRS_COLUMNS, build_adrs  # noqa: E402

__all__ += ["ADRS_COLUMNS", "build_adrs"]
