"""Site summaries: the disclosure-controlled aggregates that leave a site (``federate summarise``).

A :class:`SiteSummary` holds, per federated analysis of the study package,

* survival analyses: a count table (see docs/counts.md) of the analysis population on the package's
  time grid — every time rounded *up* to a multiple of ``[federation] time_grid`` — with adjacent grid
  intervals of a (stratum, group) merged until every non-zero count reaches ``[federation] threshold``
  (the merged counts sit at the end of the merged interval, so times stay rounded up); and, for group
  comparisons, the log-rank scores ``O - E`` and their covariance ``V`` per protocol stratum, computed on
  the exact analysis times so that a pooled test stratified by site is exact;
* proportion analyses: the group x outcome table, withheld (suppressed) when a non-zero cell is below
  the threshold.

Nothing else leaves: no patient identifier, no date, no free text. The JSON bytes are deterministic
(sorted keys, stable row order; the creation time honours ``SOURCE_DATE_EPOCH``).
"""

from __future__ import annotations

import datetime as dt
import json
import math
import os
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from blincompass import __version__
from blincompass.io.dataset import norm_value
from blincompass.protocol import ProportionAnalysis, Protocol, SurvivalAnalysis
from blincompass.study import StudyPackage

__all__ = [
    "FORMAT",
    "FORMAT_VERSION",
    "DisclosureError",
    "FederationError",
    "ReleaseLine",
    "SiteSummary",
    "creation_time",
    "grid_text",
    "group_key",
    "summarise",
]

#: Identifier and version of the site-summary format (a reader refuses other versions).
FORMAT = "blincompass-site-summary"
FORMAT_VERSION = 1

#: Columns of a released count table, in order.
COUNT_COLUMNS = ("stratum", "grp", "time", "n_event", "n_censor")


class FederationError(ValueError):
    """A summary that cannot be used or pooled; the message names the file and the difference."""


class DisclosureError(ValueError):
    """Site data that cannot be released under the threshold by merging time intervals."""


@dataclass(frozen=True)
class ReleaseLine:
    """What leaves the site for one analysis (shown by ``federate summarise``).

    ``rows_before`` non-empty grid intervals (count-table rows, or table cells for proportions) became
    ``rows_released`` rows; ``merged`` grid rows were folded into a neighbour; ``suppressed`` cells were
    withheld.
    """

    analysis: str
    kind: str
    rows_before: int
    rows_released: int
    merged: int
    suppressed: int
    note: str = ""


@dataclass(frozen=True)
class SiteSummary:
    """The aggregates of one site (``data``, the JSON document) and what was done to release them."""

    data: dict[str, Any]
    release: tuple[ReleaseLine, ...] = field(default=(), compare=False)
    source: str = field(default="", compare=False)

    @property
    def site(self) -> str:
        return str(self.data["site"])

    def to_json(self) -> bytes:
        """Deterministic JSON bytes (sorted keys, one-space indent, trailing newline)."""
        return (json.dumps(self.data, sort_keys=True, indent=1, ensure_ascii=False, allow_nan=False)
                + "\n").encode("utf-8")

    @classmethod
    def from_json(cls, raw: bytes | str, source: str = "summary") -> SiteSummary:
        """Read a summary written by :meth:`to_json`; :class:`FederationError` names ``source`` and the
        problem when it is not one."""
        try:
            data = json.loads(raw)
        except (UnicodeDecodeError, json.JSONDecodeError) as exc:
            raise FederationError(f"{source}: not a JSON document ({exc})") from None
        if not isinstance(data, dict) or data.get("format") != FORMAT:
            raise FederationError(f"{source}: not a blincompass site summary (no \"format\": \"{FORMAT}\")")
        need = ("format_version", "blincompass_version", "site", "study", "federation", "survival",
                "proportions", "created")
        missing = [k for k in need if k not in data]
        if missing:
            raise FederationError(f"{source}: site summary without {', '.join(missing)}")
        problem = _structure_problem(data)
        if problem:
            raise FederationError(f"{source}: not a well-formed site summary ({problem})")
        return cls(data, (), source)

    def payload_key(self) -> str:
        """The summary without its site label and creation time (two copies of one summary agree)."""
        d = {k: v for k, v in self.data.items() if k not in ("site", "created")}
        return json.dumps(d, sort_keys=True)


def _count(v: Any) -> bool:
    return isinstance(v, int) and not isinstance(v, bool) and v >= 0


def _number(v: Any) -> bool:
    return isinstance(v, int | float) and not isinstance(v, bool) and math.isfinite(v)


def _label(v: Any) -> bool:
    return v is None or isinstance(v, str)


def _structure_problem(data: dict[str, Any]) -> str | None:
    """The first structural problem of a summary document (``None``: well formed), so that pooling never
    meets a malformed value deep inside a computation."""
    if not isinstance(data.get("site"), str) or not data["site"]:
        return "site: not a non-empty text"
    for part in ("study", "federation", "survival", "proportions"):
        if not isinstance(data.get(part), dict):
            return f"{part}: not an object"
    for aid, e in data["survival"].items():
        where = f"survival.{aid}"
        if not isinstance(e, dict) or not isinstance(e.get("withheld"), bool):
            return f"{where}: no 'withheld' flag"
        if e["withheld"]:
            continue
        rows = e.get("counts")
        if not isinstance(rows, list):
            return f"{where}.counts: not a list"
        for i, r in enumerate(rows):
            if not (isinstance(r, list) and len(r) == len(COUNT_COLUMNS) and _label(r[0]) and _label(r[1])
                    and _number(r[2]) and r[2] >= 0 and _count(r[3]) and _count(r[4])):
                return f"{where}.counts[{i}]: not [stratum, grp, time, n_event, n_censor]"
        lr = e.get("logrank")
        if lr is None:
            continue
        groups = lr.get("groups") if isinstance(lr, dict) else None
        if not (isinstance(groups, list) and all(isinstance(g, str) for g in groups)
                and isinstance(lr.get("strata"), list)):
            return f"{where}.logrank: no groups and strata"
        k = len(groups)
        for j, st in enumerate(lr["strata"]):
            ok = (isinstance(st, dict) and _label(st.get("stratum"))
                  and all(isinstance(st.get(f), list) and len(st[f]) == k
                          for f in ("n", "observed", "expected", "variance"))
                  and all(_count(x) for x in st["n"])
                  and all(_number(x) for x in (*st["observed"], *st["expected"]))
                  and all(isinstance(row, list) and len(row) == k and all(_number(x) for x in row)
                          for row in st["variance"]))
            if not ok:
                return f"{where}.logrank.strata[{j}]: not n, observed, expected and variance of {k} group(s)"
    for aid, e in data["proportions"].items():
        where = f"proportions.{aid}"
        if not isinstance(e, dict) or not isinstance(e.get("withheld"), bool):
            return f"{where}: no 'withheld' flag"
        if e["withheld"]:
            continue
        groups, table = e.get("groups"), e.get("table")
        if not (isinstance(groups, list) and all(isinstance(g, str) for g in groups)):
            return f"{where}.groups: not a list of texts"
        if e.get("suppressed") is True and table is None:
            continue
        if not (isinstance(table, list) and len(table) == len(groups)
                and all(isinstance(r, list) and len(r) == 2 and all(_count(x) for x in r) for r in table)):
            return f"{where}.table: not one (yes, no) pair of counts per group"
    return None


def grid_text(step: float, unit: str) -> str:
    """A grid step in words, e.g. "1 month", "0.5 months", "7 days"."""
    return f"{step:g} {unit[:-1] if float(step) == 1.0 else unit}"


def creation_time() -> str:
    """UTC creation time, ``SOURCE_DATE_EPOCH`` when set (reproducible builds convention)."""
    sde = os.environ.get("SOURCE_DATE_EPOCH")
    if sde is not None and sde.strip():
        try:
            ts = int(sde)
        except ValueError:
            raise FederationError(f"SOURCE_DATE_EPOCH: {sde!r} is not an integer number of seconds") from None
        when = dt.datetime.fromtimestamp(ts, dt.UTC)
    else:
        when = dt.datetime.now(dt.UTC).replace(microsecond=0)
    return when.strftime("%Y-%m-%dT%H:%M:%SZ")


# ---------------------------------------------------------------------------------------------------------
# Analysis populations (the same selection as the report's survival and Fisher tables)


def group_key(value: Any) -> str:
    """The text key of a group or stratum value: booleans as "true"/"false", otherwise the value as text."""
    return str(value).lower() if isinstance(value, bool) else str(value)


def _same(a: Any, b: Any) -> bool:
    return a == b and isinstance(a, bool) == isinstance(b, bool)


def _eligible(adsl: pd.DataFrame) -> pd.DataFrame:
    return adsl[adsl["eligible"].fillna(False).astype(bool)]


def _column(pats: pd.DataFrame, name: str, what: str, a_id: str) -> None:
    if name not in pats.columns:
        raise DisclosureError(f"analysis {a_id}: {what} {name!r} is not a patient-level column")


def survival_rows(adsl: pd.DataFrame, adtte: pd.DataFrame, a: SurvivalAnalysis) -> pd.DataFrame:
    """The patients of one survival analysis: columns ``ady`` (days), ``aval`` (months), ``event``,
    ``grp`` and ``stratum`` (text keys, ``None`` without a group / strata).

    Eligible patients with the endpoint, in ``population``; a missing stratum, or a group missing or
    outside ``order``, excludes the patient (as the report does)."""
    tte = adtte[adtte["PARAMCD"] == a.endpoint]
    pats = _eligible(adsl).set_index("patient_id")
    tte = tte[tte["USUBJID"].isin(pats.index)]
    if a.population:
        _column(pats, a.population, "population", a.id)
        keep = pats[a.population].astype("boolean").fillna(False).astype(bool)
        tte = tte[tte["USUBJID"].map(keep).fillna(False).astype(bool)]
    stratum: list[Any] = [None] * len(tte)
    if a.strata:
        _column(pats, a.strata, "strata", a.id)
        sv = [norm_value(v) for v in tte["USUBJID"].map(pats[a.strata])]
        ok = np.array([v is not None for v in sv], dtype=bool)
        tte = tte[ok]
        stratum = [group_key(v) for v, k in zip(sv, ok, strict=True) if k]
    grp: list[Any] = [None] * len(tte)
    if a.group:
        _column(pats, a.group, "group", a.id)
        gv = [norm_value(v) for v in tte["USUBJID"].map(pats[a.group])]
        order = list(a.order) if a.order else sorted({v for v in gv if v is not None}, key=str)
        ok = np.array([v is not None and any(_same(v, o) for o in order) for v in gv], dtype=bool)
        tte = tte[ok]
        stratum = [s for s, k in zip(stratum, ok, strict=True) if k]
        grp = [group_key(v) for v, k in zip(gv, ok, strict=True) if k]
    ady = pd.to_numeric(tte["ADY"], errors="coerce").to_numpy(dtype=float, na_value=np.nan)
    if np.isnan(ady).any() or (ady < 0).any():
        raise DisclosureError(f"analysis {a.id}: a patient has no (or a negative) time on endpoint {a.endpoint}")
    return pd.DataFrame({
        "ady": ady,
        "aval": tte["AVAL"].to_numpy(dtype=float),
        "event": tte["CNSR"].to_numpy() == 0,
        "grp": pd.Series(grp, dtype="object"),
        "stratum": pd.Series(stratum, dtype="object"),
    })


def proportion_table(adsl: pd.DataFrame, a: ProportionAnalysis) -> tuple[list[str], np.ndarray]:
    """Group keys (in ``order``) and the group x (yes, no) table of one proportion analysis (eligible
    patients in ``population``; a missing outcome, or a group missing or outside ``order``, excluded)."""
    d = _eligible(adsl)
    for what, col in (("outcome", a.outcome), ("group", a.group), ("population", a.population)):
        if col:
            _column(d, col, what, a.id)
    if a.population:
        d = d[d[a.population].astype("boolean").fillna(False).astype(bool)]
    values = [norm_value(v) for v in d[a.group]]
    order = list(a.order) if a.order else sorted({v for v in values if v is not None}, key=str)
    keys = [group_key(o) for o in order]
    g = pd.Series([group_key(v) if v is not None else None for v in values], index=d.index, dtype="object")
    y = d[a.outcome].astype("boolean")
    keep = g.isin(keys) & y.notna()
    g, yy = g[keep], y[keep].astype(bool)
    table = np.array([[int(yy[g == k].sum()), int((~yy[g == k]).sum())] for k in keys], dtype=np.int64)
    return keys, table.reshape(len(keys), 2)


# ---------------------------------------------------------------------------------------------------------
# Disclosure control


def grid_times(ady: np.ndarray, protocol: Protocol) -> np.ndarray:
    """Times in months rounded UP to the federation grid: ``ceil(days / step) * step``.

    The grid step is ``time_grid`` days or months (of ``time.days_per_month`` days); the rounding is done
    on the whole days of ADTTE ``ADY`` (a tolerance of 1e-9 steps keeps a time that is already on the grid
    where it is), so a grid of one day gives back ADTTE ``AVAL`` exactly."""
    fed = protocol.federation
    dpm = protocol.time.days_per_month
    step_days = fed.time_grid if fed.time_unit == "days" else fed.time_grid * dpm
    k = np.ceil(ady / step_days - 1e-9)
    k = np.maximum(k, 0.0)
    if fed.time_unit == "days":
        return k * fed.time_grid / dpm
    return k * fed.time_grid


def _releasable(v: np.ndarray, threshold: int) -> bool:
    return bool(np.all((v == 0) | (v >= threshold)))


def coarsen(times: np.ndarray, counts: np.ndarray, threshold: int) -> tuple[np.ndarray, np.ndarray] | None:
    """Merge adjacent rows (sorted by time) until every non-zero count of every row reaches ``threshold``.

    Rows are accumulated from the earliest time on and a block is closed as soon as all its counts are 0
    or at least ``threshold``; the block's counts are released at its last time (the end of the merged
    interval, so times stay rounded up). A remainder that cannot be closed is folded into the preceding
    blocks. Returns the released (times, counts), or ``None`` when even the whole sequence has a non-zero
    count below the threshold (no merging can release it).
    """
    if not _releasable(counts.sum(axis=0), threshold):
        return None
    out_t: list[float] = []
    out_c: list[np.ndarray] = []
    acc = np.zeros(counts.shape[1], dtype=np.int64)
    for t, c in zip(times, counts, strict=True):
        acc = acc + c
        if _releasable(acc, threshold):
            out_t.append(float(t))
            out_c.append(acc)
            acc = np.zeros_like(acc)
    if acc.any():
        while not _releasable(acc, threshold):
            out_t.pop()
            acc = acc + out_c.pop()
        out_t.append(float(times[-1]))
        out_c.append(acc)
    return np.asarray(out_t, dtype=float), np.asarray(out_c, dtype=np.int64).reshape(len(out_c), counts.shape[1])


def _describe(n_event: int, n_censor: int) -> str:
    return f"{n_event + n_censor} patient(s): {n_event} event(s), {n_censor} censored"


def _release_counts(rows: pd.DataFrame, a: SurvivalAnalysis, protocol: Protocol, problems: list[str]
                    ) -> tuple[list[list[Any]], ReleaseLine, bool]:
    threshold = protocol.federation.threshold
    grid = pd.DataFrame({
        "stratum": rows["stratum"].map(lambda v: "" if v is None else v),
        "grp": rows["grp"].map(lambda v: "" if v is None else v),
        "time": grid_times(rows["ady"].to_numpy(float), protocol),
        "n_event": rows["event"].astype(np.int64),
        "n_censor": (~rows["event"]).astype(np.int64),
    })
    agg = grid.groupby(["stratum", "grp", "time"], sort=True)[["n_event", "n_censor"]].sum().reset_index()
    released: list[list[Any]] = []
    before = merged = 0
    for (s, g), part in agg.groupby(["stratum", "grp"], sort=True):
        counts = part[["n_event", "n_censor"]].to_numpy(np.int64)
        res = coarsen(part["time"].to_numpy(float), counts, threshold)
        if res is None:
            tot = counts.sum(axis=0)
            where = ", ".join(x for x in (f"stratum {s!r}" if a.strata else "",
                                          f"group {a.group} = {g!r}" if a.group else "all patients") if x)
            problems.append(f"analysis {a.id} ({where}): {_describe(int(tot[0]), int(tot[1]))}")
            continue
        t, c = res
        before += len(part)
        merged += len(part) - len(t)
        for ti, ci in zip(t, c, strict=True):
            released.append([s if a.strata else None, g if a.group else None, float(ti), int(ci[0]), int(ci[1])])
    note = f"{merged} grid interval(s) merged" if merged else ""
    return released, ReleaseLine(a.id, "survival", before, len(released), merged, 0, note), merged > 0


def _scores(rows: pd.DataFrame, a: SurvivalAnalysis, keys: list[str]) -> list[dict[str, Any]]:
    r"""Per protocol stratum: records, weighted observed and expected events per group and the covariance
    of O - E, on the exact analysis times.

    At each distinct event time :math:`t_i` of the stratum, with :math:`n_{gi}` at risk and :math:`d_{gi}`
    events in group :math:`g` (:math:`n_i`, :math:`d_i` in all groups) and the analysis's weights
    :math:`w_i`: :math:`O_g = \sum_i w_i d_{gi}`, :math:`E_g = \sum_i w_i d_i n_{gi} / n_i` and
    :math:`V_{gh} = \sum_i w_i^2 \frac{d_i (n_i - d_i)}{n_i - 1} \frac{n_{gi}}{n_i}
    (\delta_{gh} - n_{hi} / n_i)` — the computation of :func:`blincompass.stats.logrank_test`, so the
    sums over sites are the test stratified by site (Mantel 1966; R ``survdiff(... + strata(site))``)."""
    # The per-stratum cells of the log-rank family are private to blincompass.stats; they are used here so
    # that the scores are those logrank_test computes (and a pooled test stratified by site equals it).
    from blincompass.stats.counts import _cell
    from blincompass.stats.logrank import _accumulate_cells, _parse_weights

    kind, p, q = _parse_weights(a.weights)
    out = []
    strata = sorted({"" if s is None else s for s in rows["stratum"]})
    for s in strata:
        m_s = rows["stratum"].map(lambda v: "" if v is None else v).to_numpy() == s
        k = len(keys)
        obs, exp, var = np.zeros(k), np.zeros(k), np.zeros((k, k))
        cells, n = [], []
        for g in keys:
            m = m_s & (rows["grp"].to_numpy() == g)
            t = rows["aval"].to_numpy(float)[m]
            e = rows["event"].to_numpy(bool)[m].astype(float)
            cells.append(_cell(t, e, 1.0 - e, None))
            n.append(int(m.sum()))
        _accumulate_cells(cells, kind, p, q, obs, exp, var)
        out.append({"stratum": s if a.strata else None, "n": n, "observed": obs.tolist(),
                    "expected": exp.tolist(), "variance": var.tolist()})
    return out


def summarise(
    study: StudyPackage,
    dataset: Any,
    *,
    site: str | None = None,
    withhold: Iterable[str] = (),
    derived: Any = None,
) -> SiteSummary:
    """The disclosure-controlled aggregates of one site's data for the study package's federated analyses.

    Parameters
    ----------
    study : StudyPackage
        The study package (its protocol's ``[federation]`` settings apply).
    dataset : Dataset
        The site's typed data set (``blincompass.validate.load_dataset(...).dataset``).
    site : str, optional
        The site's label (must differ between the sites pooled together); by default the site's treating
        centres (ADSL ``centre``) joined by "+", or "site" without them.
    withhold : iterable of str
        Ids of analyses this site does not release (recorded as withheld in the summary).
    derived : DerivedData, optional
        The site's derived tables when already computed (``derive_all(dataset, study.protocol)``).

    Raises
    ------
    DisclosureError
        A survival analysis has, in a (stratum, group), a non-zero total count of events or censorings
        below the threshold: merging time intervals cannot release it. The message names the site,
        analysis and group.
    """
    from blincompass.derive import derive_all

    protocol = study.protocol
    if site is not None and (not site or any(ch in site for ch in "\n\r\t")):
        raise FederationError(f"site label {site!r}: give a non-empty label on one line")
    surv_a, prop_a = protocol.federated()
    known = {a.id for a in (*surv_a, *prop_a)}
    withheld = sorted(set(withhold))
    unknown = [w for w in withheld if w not in known]
    if unknown:
        raise FederationError(f"--withhold {unknown[0]}: not a federated analysis of the study package "
                              f"({', '.join(sorted(known))})")
    d = derived if derived is not None else derive_all(dataset, protocol, study.dictionary)
    if site is None:
        centres = sorted({str(c) for c in d.adsl.get("centre", pd.Series(dtype=object)).dropna()})
        site = "+".join(centres) or "site"
    fed = protocol.federation
    lines: list[ReleaseLine] = []
    problems: list[str] = []
    survival: dict[str, Any] = {}
    for a in surv_a:
        if a.id in withheld:
            survival[a.id] = {"withheld": True}
            lines.append(ReleaseLine(a.id, "survival", 0, 0, 0, 0, "withheld by the site"))
            continue
        rows = survival_rows(d.adsl, d.adtte, a)
        if rows.empty:
            survival[a.id] = {"withheld": False, "counts": [], "coarsened": False, "logrank": None}
            lines.append(ReleaseLine(a.id, "survival", 0, 0, 0, 0, "no patients"))
            continue
        released, line, coarsened = _release_counts(rows, a, protocol, problems)
        entry: dict[str, Any] = {"withheld": False, "counts": released, "coarsened": coarsened, "logrank": None}
        if a.group:
            order = [group_key(o) for o in a.order] if a.order else sorted(set(rows["grp"]))
            keys = [k for k in order if (rows["grp"] == k).any()]
            entry["logrank"] = {"weights": a.weights, "groups": keys, "strata": _scores(rows, a, keys)}
        survival[a.id] = entry
        lines.append(line)
    if problems:
        raise DisclosureError(
            f"site {site}: a non-zero count below the threshold {fed.threshold} that merging time intervals "
            "cannot raise:\n" + "\n".join(f"  {p}" for p in problems) + "\nNothing was written. Withhold these "
            "analyses at this site (--withhold ID) or agree on another [federation] threshold in the study package."
        )
    proportions: dict[str, Any] = {}
    for pa in prop_a:
        if pa.id in withheld:
            proportions[pa.id] = {"withheld": True}
            lines.append(ReleaseLine(pa.id, "proportion", 0, 0, 0, 0, "withheld by the site"))
            continue
        keys, table = proportion_table(d.adsl, pa)
        small = int(((table > 0) & (table < fed.threshold)).sum())
        nonzero = int((table > 0).sum())
        if small:
            proportions[pa.id] = {"withheld": False, "groups": keys, "table": None, "suppressed": True}
            lines.append(ReleaseLine(pa.id, "proportion", nonzero, 0, 0, table.size,
                                     f"table suppressed: {small} non-zero cell(s) below {fed.threshold}"))
        else:
            proportions[pa.id] = {"withheld": False, "groups": keys, "table": table.tolist(), "suppressed": False}
            lines.append(ReleaseLine(pa.id, "proportion", nonzero, nonzero, 0, 0))
    data = {
        "format": FORMAT,
        "format_version": FORMAT_VERSION,
        "blincompass_version": __version__,
        "created": creation_time(),
        "site": site,
        "study": {"name": study.name, "sha256": study.sha256},
        "federation": {"time_grid": fed.time_grid, "time_unit": fed.time_unit, "threshold": fed.threshold,
                       "count_columns": list(COUNT_COLUMNS)},
        "survival": survival,
        "proportions": proportions,
    }
    return SiteSummary(data, tuple(lines))


def check_summaries(summaries: Sequence[SiteSummary], study: StudyPackage) -> None:
    """Refuse summaries that cannot be pooled with each other under ``study``: another format or
    blincompass version, another time grid or threshold, another study package, or a site twice.

    Raises :class:`FederationError` naming the file and the difference.
    """
    if not summaries:
        raise FederationError("no site summaries to pool")
    fed = study.protocol.federation
    seen: dict[str, str] = {}
    payloads: dict[str, str] = {}
    for s in summaries:
        d, src = s.data, s.source or s.site
        if d.get("format_version") != FORMAT_VERSION:
            raise FederationError(f"{src}: summary format version {d.get('format_version')!r}, this blincompass "
                                  f"reads version {FORMAT_VERSION}")
        if d.get("blincompass_version") != __version__:
            raise FederationError(f"{src}: made with blincompass {d.get('blincompass_version')}, pooling with "
                                  f"blincompass {__version__} (every site must use the same version)")
        f = d.get("federation") or {}
        if (f.get("time_grid"), f.get("time_unit")) != (fed.time_grid, fed.time_unit):
            raise FederationError(f"{src}: time grid {f.get('time_grid')} {f.get('time_unit')}, the study "
                                  f"package uses {grid_text(fed.time_grid, fed.time_unit)}")
        if f.get("threshold") != fed.threshold:
            raise FederationError(f"{src}: disclosure threshold {f.get('threshold')}, the study package uses "
                                  f"{fed.threshold}")
        st = d.get("study") or {}
        if st.get("sha256") != study.sha256:
            raise FederationError(f"{src}: made with study package {st.get('name')!r} sha256 {st.get('sha256')}, "
                                  f"pooling with {study.name!r} sha256 {study.sha256} ({study.label})")
        if s.site in seen:
            raise FederationError(f"{src}: site {s.site!r} appears twice (also in {seen[s.site]})")
        key = s.payload_key()
        if key in payloads:
            raise FederationError(f"{src}: the same summary as {payloads[key]} (a site pooled twice)")
        seen[s.site] = src
        payloads[key] = src
