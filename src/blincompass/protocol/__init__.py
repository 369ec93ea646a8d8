"""Study protocol as data: derived variables, eligibility, endpoints, analyses and report content."""

from blincompass.protocol.model import (
    AdtteSettings,
    Analyses,
    AnalysisSettings,
    Criterion,
    Derived,
    Endpoint,
    EndpointEvent,
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
    "AdtteSettings",
    "Criterion",
    "Derived",
    "Endpoint",
    "EndpointEvent",
    "Federation",
    "Interval",
    "PaperRef",
    "ProportionAnalysis",
    "Protocol",
    "ProtocolError",
    "SurvivalAnalysis",
    "load_protocol",
]
