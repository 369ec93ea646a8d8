"""Data dictionary: forms, variables, codes and CTCAE terms."""

from blincompass.dictionary.ctcae import CtcaeTerm, TermResolution, ctcae_terms, reported_terms, resolve_term
from blincompass.dictionary.model import (
    MRD_ALIASES,
    MRD_CODES,
    UNKNOWN,
    Code,
    DataDictionary,
    Form,
    Variable,
    load_dictionary,
)

__all__ = [
    "MRD_ALIASES",
    "MRD_CODES",
    "UNKNOWN",
    "Code",
    "CtcaeTerm",
    "DataDictionary",
    "Form",
    "TermResolution",
    "Variable",
    "ctcae_terms",
    "load_dictionary",
    "reported_terms",
    "resolve_term",
]
