"""Study protocol as data: eligibility, response definitions, strata, endpoints and analyses."""

from blincompass.protocol.model import (
    Analyses,
    AnalysisSettings,
    Criterion,
    Endpoint,
    Federation,
    Interval,
    PaperRef,
    ProportionAnalysis,
    Protocol,
    ProtocolError,
    SurvivalAnalysis,
    load_protocol,
)

__all__ = [
    "Analyses",
    "AnalysisSettings",
    "Criterion",
    "Endpoint",
    "Federation",
    "Interval",
    "PaperRef",
    "ProportionAnalysis",
    "Protocol",
    "ProtocolError",
    "SurvivalAnalysis",
    "load_protocol",
]
