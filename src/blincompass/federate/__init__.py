"""Federated pooling: disclosure-controlled site summaries and their pooling (docs/federation.md).

``summarise`` runs at each site on its own data and returns a :class:`SiteSummary` (count tables on the
study package's time grid, log-rank scores, protected contingency tables); ``pool`` runs at the
coordinating centre on the sites' summaries. This package sits beside the report: it uses io, validate,
derive, stats and study, and nothing below it imports it.
"""

from blincompass.federate.pool import PooledResult, pool
from blincompass.federate.render import render_markdown, write_pooled
from blincompass.federate.summary import (
    FORMAT,
    FORMAT_VERSION,
    DisclosureError,
    FederationError,
    ReleaseLine,
    SiteSummary,
    summarise,
)

__all__ = [
    "FORMAT",
    "FORMAT_VERSION",
    "DisclosureError",
    "FederationError",
    "PooledResult",
    "ReleaseLine",
    "SiteSummary",
    "pool",
    "render_markdown",
    "summarise",
    "write_pooled",
]
