"""Study protocol as data: eligibility, response definitions, strata and endpoints."""

from blincompass.protocol.model import Criterion, Endpoint, Interval, Protocol, ProtocolError, load_protocol

__all__ = ["Criterion", "Endpoint", "Interval", "Protocol", "ProtocolError", "load_protocol"]
