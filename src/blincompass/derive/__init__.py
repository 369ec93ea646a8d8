"""Endpoint derivation: the analysis tables (ADSL, ADTTE, ADRS, ADAE-style) from a data set and a protocol.

:func:`derive_all` is the one entry point: it computes the declared patient-level variables
(:mod:`blincompass.derive.engine`), screens every patient, and builds every table with one column-metadata
table (:mod:`blincompass.derive.metadata`).
"""

from blincompass.derive.adae import ADAE_COLUMNS, build_adae
from blincompass.derive.adrs import ADRS_COLUMNS, build_adrs
from blincompass.derive.adsl import adsl_columns, build_adsl
from blincompass.derive.adtte import ADTTE_COLUMNS, adtte_columns, build_adtte, derive_tte
from blincompass.derive.engine import DerivationError, patient_variables
from blincompass.derive.pipeline import DerivedData, derive_all, write_derived
from blincompass.derive.screening import ScreeningResult, screen

__all__ = [
    "ADAE_COLUMNS",
    "ADRS_COLUMNS",
    "ADTTE_COLUMNS",
    "DerivationError",
    "DerivedData",
    "ScreeningResult",
    "adsl_columns",
    "adtte_columns",
    "build_adae",
    "build_adrs",
    "build_adsl",
    "build_adtte",
    "derive_all",
    "derive_tte",
    "patient_variables",
    "screen",
    "write_derived",
]
