"""``blincompass stats``: survival and contingency-table statistics on a CSV file.

Every command reads one CSV, delegates to :mod:`blincompass.stats` and prints either readable tables
(default) or the result fields as JSON (``--json``, stable key order).  Rows with a missing value in a
used column are dropped (as R's ``na.omit``) and counted in ``n_dropped``.

Exit codes: 0 success, 1 bad input (unknown column, invalid values), 2 file cannot be read.
"""

from __future__ import annotations

import json
import math
from collections.abc import Sequence
from enum import StrEnum
from pathlib import Path
from typing import TYPE_CHECKING, Any, NoReturn

import typer

# numpy, pandas, rich tables and the stats modules are imported inside the commands that use them, so that
# ``blincompass --help`` does not pay for them.
if TYPE_CHECKING:
    import pandas as pd
    from rich.console import Console

    from blincompass.stats.cox import CoxPHResult

app = typer.Typer(
    rich_markup_mode=None,  # plain help: rich's help renderer costs ~0.1 s of start-up
    name="stats",
    help="Kaplan-Meier, log-rank, Fisher's exact test and Cox regression on a CSV file.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)


class ConfType(StrEnum):
    log_log = "log-log"
    log = "log"
    plain = "plain"


class MedianCI(StrEnum):
    brookmeyer_crowley = "brookmeyer-crowley"
    spss = "spss"


class AlternativeOpt(StrEnum):
    two_sided = "two-sided"
    less = "less"
    greater = "greater"


class Ties(StrEnum):
    efron = "efron"
    breslow = "breslow"


# ----------------------------------------------------------------------------------------- helpers


def _fail(message: str, code: int = 1) -> NoReturn:
    typer.echo(f"error: {message}", err=True)
    raise typer.Exit(code=code)


def _read_csv(path: Path) -> pd.DataFrame:
    import pandas as pd

    from blincompass.io.raw import InputReadError, decode_csv_bytes

    try:
        with path.open("rb") as fh:
            head = fh.read(4096)
        if b"\x00" in head or head.startswith((b"\xff\xfe", b"\xfe\xff")):  # UTF-16/32, or not text at all
            import io

            text, _ = decode_csv_bytes(path.name, path.read_bytes())
            return pd.read_csv(io.StringIO(text))
        return pd.read_csv(path)
    except InputReadError as exc:
        _fail(str(exc), 2)
    except FileNotFoundError:
        _fail(f"{path}: file not found", 2)
    except IsADirectoryError:
        _fail(f"{path}: is a directory, not a CSV file", 2)
    except PermissionError:
        _fail(f"{path}: permission denied", 2)
    except pd.errors.EmptyDataError:
        _fail(f"{path}: empty file (no header row)", 2)
    except (pd.errors.ParserError, UnicodeDecodeError, OSError) as exc:
        _fail(f"{path}: cannot be read as CSV ({exc})", 2)


def _select(df: pd.DataFrame, path: Path, columns: dict[str, str | None]) -> tuple[pd.DataFrame, int]:
    """Check that the named columns exist; return the complete rows of those columns."""
    used: list[str] = []
    for option, col in columns.items():
        if col is None:
            continue
        if col not in df.columns:
            available = ", ".join(map(str, df.columns))
            _fail(f"{path}: column {col!r} (given to {option}) not found; columns are: {available}")
        if col not in used:
            used.append(col)
    sub = df.loc[:, used]
    complete = sub.notna().all(axis=1)
    sub = sub.loc[complete].reset_index(drop=True)
    if sub.empty:
        _fail(f"{path}: no complete rows in columns {', '.join(used)}")
    return sub, int((~complete).sum())


def _run(fn: Any, path: Path, *args: Any, **kwargs: Any) -> Any:
    try:
        return fn(*args, **kwargs)
    except ValueError as exc:
        _fail(f"{path}: {exc}")


def _clean(value: Any) -> Any:
    """Convert a result value into JSON-ready Python objects (non-finite floats as null/"Inf")."""
    import numpy as np

    if isinstance(value, dict):
        return {str(k): _clean(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_clean(v) for v in value]
    if isinstance(value, np.ndarray):
        return [_clean(v) for v in value.tolist()]
    if isinstance(value, np.generic):
        value = value.item()
    if isinstance(value, float):
        if math.isnan(value):
            return None
        if math.isinf(value):
            return "Inf" if value > 0 else "-Inf"
    return value


def _emit_json(payload: dict[str, Any]) -> None:
    typer.echo(json.dumps(_clean(payload), indent=2, allow_nan=False))


def _fmt(value: Any, digits: int = 4) -> str:
    import numpy as np

    if value is None:
        return "NA"
    if isinstance(value, float | np.floating):
        v = float(value)
        if math.isnan(v):
            return "NA"
        if math.isinf(v):
            return "Inf" if v > 0 else "-Inf"
        return f"{v:.{digits}g}"
    return str(value)


def _fmt_p(p: float | None) -> str:
    if p is None or (isinstance(p, float) and math.isnan(p)):
        return "NA"
    return "<1e-16" if p < 1e-16 else f"{p:.4g}"


def _console() -> Console:
    from rich.console import Console

    return Console(width=120, soft_wrap=False)


def _label(value: Any) -> Any:
    import numpy as np

    return value.item() if isinstance(value, np.generic) else value


def _curve_keys(sub: pd.DataFrame, cols: Sequence[str]) -> list[tuple[Any, ...]]:
    if not cols:
        return [()]
    keys = sub.loc[:, list(cols)].drop_duplicates().sort_values(list(cols))
    return [tuple(_label(v) for v in row) for row in keys.itertuples(index=False)]


def _weights_spec(text: str) -> str | tuple[str, float, float]:
    if text.startswith("fleming-harrington"):
        _, _, rest = text.partition(":")
        try:
            p, q = (float(v) for v in rest.split(","))
        except ValueError:
            _fail(f"--weights: {text!r} must look like fleming-harrington:P,Q (e.g. fleming-harrington:1,0)")
        return ("fleming-harrington", p, q)
    return text


# ----------------------------------------------------------------------------------------- km


@app.command("km")
def km_command(
    data: Path = typer.Argument(..., help="CSV file, one row per subject (or per (start, stop] record)."),
    time: str = typer.Option(..., "--time", help="Column of follow-up times."),
    event: str = typer.Option(..., "--event", help="Column of event indicators (1 = event, 0 = censored)."),
    group: str | None = typer.Option(None, "--group", help="Column defining separate curves."),
    strata: str | None = typer.Option(None, "--strata", help="Further column splitting the curves."),
    entry: str | None = typer.Option(None, "--entry", help="Column of entry times (left truncation)."),
    conf_type: ConfType = typer.Option(ConfType.log_log, "--conf-type", help="Confidence band transform."),
    conf_level: float = typer.Option(0.95, "--conf-level", help="Confidence level."),
    median_ci: MedianCI = typer.Option(MedianCI.brookmeyer_crowley, "--median-ci", help="Median CI method."),
    table: bool = typer.Option(False, "--table", help="Also print the life table of each curve."),
    as_json: bool = typer.Option(False, "--json", help="Print the results as JSON."),
) -> None:
    """Kaplan-Meier curves: median (with CI), restricted mean, optionally the life table."""
    import numpy as np
    from rich.table import Table

    from blincompass.stats.km import kaplan_meier

    df = _read_csv(data)
    split = [c for c in (group, strata) if c is not None]
    sub, dropped = _select(
        df, data, {"--time": time, "--event": event, "--group": group, "--strata": strata, "--entry": entry}
    )
    curves = []
    for key in _curve_keys(sub, split):
        mask = np.ones(len(sub), dtype=bool)
        for col, val in zip(split, key, strict=True):
            mask &= (sub[col] == val).to_numpy()
        part = sub.loc[mask]
        res = _run(
            kaplan_meier,
            data,
            part[time].to_numpy(),
            part[event].to_numpy(),
            entry=None if entry is None else part[entry].to_numpy(),
            conf_type=conf_type.value,
            conf_level=conf_level,
            median_ci=median_ci.value,
        )
        curves.append((dict(zip(split, key, strict=True)), res))
    if as_json:
        _emit_json(
            {
                "command": "km",
                "file": str(data),
                "n_dropped": dropped,
                "conf_type": conf_type.value,
                "conf_level": conf_level,
                "median_ci_method": median_ci.value,
                "curves": [
                    {
                        "labels": labels,
                        "n": res.n,
                        "n_events": res.n_events,
                        "median": res.median,
                        "median_ci": {"lower": res.median_ci.lower, "upper": res.median_ci.upper},
                        "median_se": res.median_se,
                        "mean": res.mean,
                        "mean_se": res.mean_se,
                        "table": {c: res.table[c].to_numpy() for c in res.table.columns},
                    }
                    for labels, res in curves
                ],
            }
        )
        return
    con = _console()
    pct = f"{conf_level:.0%}"
    summary = Table(title=f"Kaplan-Meier: {data.name} (time={time}, event={event})")
    for col in split:
        summary.add_column(col)
    for head in ("n", "events", "median", f"{pct} CI lower", f"{pct} CI upper", "RMST", "RMST se"):
        summary.add_column(head, justify="right")
    for labels, res in curves:
        summary.add_row(
            *[str(v) for v in labels.values()],
            _fmt(res.n),
            _fmt(res.n_events),
            _fmt(res.median),
            _fmt(res.median_ci.lower),
            _fmt(res.median_ci.upper),
            _fmt(res.mean),
            _fmt(res.mean_se),
        )
    con.print(summary)
    con.print(f"CI: {conf_type.value} band; median CI: {median_ci.value}. NA = not reached.")
    if dropped:
        con.print(f"{dropped} row(s) with missing values dropped.")
    if table:
        for labels, res in curves:
            title = ", ".join(f"{k}={v}" for k, v in labels.items()) or "all"
            lt = Table(title=f"Life table ({title})")
            for c in res.table.columns:
                lt.add_column(c, justify="right")
            for row in res.table.itertuples(index=False):
                lt.add_row(*[_fmt(v) for v in row])
            con.print(lt)


# ----------------------------------------------------------------------------------------- logrank


@app.command("logrank")
def logrank_command(
    data: Path = typer.Argument(..., help="CSV file."),
    time: str = typer.Option(..., "--time", help="Column of follow-up times."),
    event: str = typer.Option(..., "--event", help="Column of event indicators (1 = event, 0 = censored)."),
    group: str = typer.Option(..., "--group", help="Column of groups to compare."),
    strata: str | None = typer.Option(None, "--strata", help="Column of strata (stratified test)."),
    entry: str | None = typer.Option(None, "--entry", help="Column of entry times (left truncation)."),
    weights: str = typer.Option(
        "logrank",
        "--weights",
        help="logrank, gehan-breslow, tarone-ware, peto-peto or fleming-harrington:P,Q.",
    ),
    alternative: AlternativeOpt = typer.Option(
        AlternativeOpt.two_sided, "--alternative", help="One-sided: refers to the first group (two groups)."
    ),
    as_json: bool = typer.Option(False, "--json", help="Print the results as JSON."),
) -> None:
    """Log-rank test (or a weighted variant) comparing survival between groups."""
    from rich.table import Table

    from blincompass.stats.logrank import logrank_test

    df = _read_csv(data)
    sub, dropped = _select(
        df, data, {"--time": time, "--event": event, "--group": group, "--strata": strata, "--entry": entry}
    )
    res = _run(
        logrank_test,
        data,
        sub[time].to_numpy(),
        sub[event].to_numpy(),
        sub[group].to_numpy(),
        entry=None if entry is None else sub[entry].to_numpy(),
        strata=None if strata is None else sub[strata].to_numpy(),
        weights=_weights_spec(weights),
        alternative=alternative.value,
    )
    groups = [_label(g) for g in res.groups]
    rows = [
        {
            "group": g,
            "n": int(res.n.iloc[i]),
            "observed": float(res.observed.iloc[i]),
            "expected": float(res.expected.iloc[i]),
        }
        for i, g in enumerate(groups)
    ]
    if as_json:
        _emit_json(
            {
                "command": "logrank",
                "file": str(data),
                "n_dropped": dropped,
                "weights": res.weights,
                "alternative": res.alternative,
                "statistic": res.statistic,
                "df": res.df,
                "pvalue": res.pvalue,
                "z": res.z,
                "groups": rows,
                "variance": res.variance.to_numpy(),
            }
        )
        return
    con = _console()
    tab = Table(title=f"Log-rank test: {data.name} (group={group}{', strata=' + strata if strata else ''})")
    for head in ("group", "n", "observed", "expected", "O - E"):
        tab.add_column(head, justify="right" if head != "group" else "left")
    for r in rows:
        tab.add_row(
            str(r["group"]), str(r["n"]), _fmt(r["observed"]), _fmt(r["expected"]),
            _fmt(r["observed"] - r["expected"]),
        )
    con.print(tab)
    wname = res.weights if isinstance(res.weights, str) else f"{res.weights[0]}({res.weights[1]:g},{res.weights[2]:g})"
    line = f"Chi-square = {_fmt(res.statistic)} on {res.df} df, p = {_fmt_p(res.pvalue)} (weights: {wname})"
    if res.alternative != "two-sided":
        line += f"; z = {_fmt(res.z)}, one-sided ({res.alternative}) p = {_fmt_p(res.pvalue)}"
    con.print(line)
    if dropped:
        con.print(f"{dropped} row(s) with missing values dropped.")


# ----------------------------------------------------------------------------------------- fisher


@app.command("fisher")
def fisher_command(
    data: Path = typer.Argument(..., help="CSV file."),
    row: str = typer.Option(..., "--row", help="Column giving the table rows."),
    col: str = typer.Option(..., "--col", help="Column giving the table columns."),
    alternative: AlternativeOpt = typer.Option(
        AlternativeOpt.two_sided, "--alternative", help="For 2x2 tables: odds ratio < 1 (less) or > 1."
    ),
    conf_level: float = typer.Option(0.95, "--conf-level", help="Confidence level of the odds ratio."),
    simulate: bool = typer.Option(False, "--simulate", help="Monte Carlo p-value (tables larger than 2x2)."),
    n_sim: int = typer.Option(2000, "--B", help="Number of simulated tables with --simulate."),
    seed: int = typer.Option(1, "--seed", help="Random seed with --simulate."),
    as_json: bool = typer.Option(False, "--json", help="Print the results as JSON."),
) -> None:
    """Fisher's exact test on the cross-tabulation of two columns."""
    import pandas as pd
    from rich.table import Table

    from blincompass.stats.exact import fisher_exact

    df = _read_csv(data)
    sub, dropped = _select(df, data, {"--row": row, "--col": col})
    crosstab = pd.crosstab(sub[row], sub[col])
    if crosstab.shape[0] < 2 or crosstab.shape[1] < 2:
        _fail(
            f"{data}: the cross-tabulation of {row!r} x {col!r} is {crosstab.shape[0]}x{crosstab.shape[1]}; "
            "both columns need at least two distinct values"
        )
    res = _run(
        fisher_exact,
        data,
        crosstab.to_numpy(),
        alternative=alternative.value,
        conf_level=conf_level,
        simulate_p_value=simulate,
        B=n_sim,
        seed=seed,
    )
    row_labels = [_label(v) for v in crosstab.index]
    col_labels = [_label(v) for v in crosstab.columns]
    if as_json:
        _emit_json(
            {
                "command": "fisher",
                "file": str(data),
                "n_dropped": dropped,
                "row": row,
                "col": col,
                "row_labels": row_labels,
                "col_labels": col_labels,
                "table": crosstab.to_numpy(),
                "pvalue": res.pvalue,
                "alternative": res.alternative,
                "odds_ratio": res.odds_ratio,
                "conf_int": None if res.conf_int is None else {
                    "lower": res.conf_int.lower, "upper": res.conf_int.upper
                },
                "conf_level": res.conf_level,
                "method": res.method,
                "n_simulations": res.n_simulations,
            }
        )
        return
    con = _console()
    tab = Table(title=f"{row} x {col} ({data.name})")
    tab.add_column(f"{row} \\ {col}")
    for c in col_labels:
        tab.add_column(str(c), justify="right")
    tab.add_column("total", justify="right")
    for label, counts in zip(row_labels, crosstab.to_numpy(), strict=True):
        tab.add_row(str(label), *[str(int(v)) for v in counts], str(int(counts.sum())))
    tab.add_row("total", *[str(int(v)) for v in crosstab.to_numpy().sum(axis=0)], str(int(crosstab.to_numpy().sum())))
    con.print(tab)
    kind = "Monte Carlo" if res.method == "monte-carlo" else "exact"
    extra = f", B = {res.n_simulations}" if res.n_simulations else ""
    con.print(f"Fisher's exact test ({kind}{extra}), {res.alternative}: p = {_fmt_p(res.pvalue)}")
    if res.odds_ratio is not None and res.conf_int is not None:
        con.print(
            f"Conditional MLE odds ratio = {_fmt(res.odds_ratio)}, {res.conf_level:.0%} CI "
            f"[{_fmt(res.conf_int.lower)}, {_fmt(res.conf_int.upper)}]"
        )
    if dropped:
        con.print(f"{dropped} row(s) with missing values dropped.")


# ----------------------------------------------------------------------------------------- cox


def _cox_payload(res: CoxPHResult) -> dict[str, Any]:
    coef = [
        {"covariate": name, **{c: float(res.coef.loc[name, c]) for c in res.coef.columns}}
        for name in res.coef.index
    ]

    def test(t: Any) -> dict[str, Any] | None:
        return None if t is None else {"statistic": t.statistic, "df": t.df, "pvalue": t.pvalue}

    return {
        "coef": coef,
        "loglik": {"initial": res.loglik.initial, "final": res.loglik.final},
        "wald_test": test(res.wald_test),
        "likelihood_ratio_test": test(res.likelihood_ratio_test),
        "score_test": test(res.score_test),
        "robust_score_test": test(res.robust_score_test),
        "var": res.var,
        "n": res.n,
        "n_events": res.n_events,
        "iterations": res.iterations,
        "converged": res.converged,
        "ties": res.ties,
        "conf_level": res.conf_level,
        "strata": res.strata,
        "warnings": res.warnings,
    }


@app.command("cox")
def cox_command(
    data: Path = typer.Argument(..., help="CSV file."),
    time: str = typer.Option(..., "--time", help="Column of follow-up (exit) times."),
    event: str = typer.Option(..., "--event", help="Column of event indicators (1 = event, 0 = censored)."),
    covariate: list[str] = typer.Option(
        ..., "--covariate", help="Numeric covariate column (repeat; code categories as 0/1 dummies)."
    ),
    strata: str | None = typer.Option(None, "--strata", help="Column of strata (separate baseline hazards)."),
    entry: str | None = typer.Option(None, "--entry", help="Column of entry times: (entry, time] records."),
    ties: Ties = typer.Option(Ties.efron, "--ties", help="Handling of tied event times."),
    conf_level: float = typer.Option(0.95, "--conf-level", help="Confidence level of the hazard ratios."),
    as_json: bool = typer.Option(False, "--json", help="Print the results as JSON."),
) -> None:
    """Cox proportional hazards regression (as R coxph + summary)."""
    from rich.table import Table

    from blincompass.stats.cox import cox_ph

    df = _read_csv(data)
    columns: dict[str, str | None] = {"--time": time, "--event": event, "--strata": strata, "--entry": entry}
    for i, c in enumerate(covariate):
        columns[f"--covariate #{i + 1}"] = c
    sub, dropped = _select(df, data, columns)
    res: CoxPHResult = _run(
        cox_ph, data, sub, time, event, covariate, entry=entry, strata=strata, ties=ties.value,
        conf_level=conf_level,
    )
    if as_json:
        _emit_json({"command": "cox", "file": str(data), "n_dropped": dropped, **_cox_payload(res)})
        return
    con = _console()
    pct = f"{res.conf_level:.0%}"
    title = f"Cox regression: {data.name} (n = {res.n}, events = {res.n_events}, ties = {res.ties}"
    title += f", strata = {strata})" if strata else ")"
    tab = Table(title=title)
    tab.add_column("covariate")
    heads = ["coef", "HR", "se"] + (["robust se"] if "robust_se" in res.coef.columns else [])
    heads += ["z", "p", f"HR {pct} lower", f"HR {pct} upper"]
    for h in heads:
        tab.add_column(h, justify="right")
    cols = ["coef", "exp_coef", "se"] + (["robust_se"] if "robust_se" in res.coef.columns else [])
    cols += ["z", "p", "lower", "upper"]
    for name in res.coef.index:
        vals = [res.coef.loc[name, c] for c in cols]
        tab.add_row(str(name), *[_fmt_p(v) if c == "p" else _fmt(v) for c, v in zip(cols, vals, strict=True)])
    con.print(tab)
    for label, t in (
        ("Likelihood ratio test", res.likelihood_ratio_test),
        ("Wald test", res.wald_test),
        ("Score (logrank) test", res.score_test),
    ):
        con.print(f"{label:22s} = {_fmt(t.statistic)} on {t.df} df, p = {_fmt_p(t.pvalue)}")
    con.print(f"Log partial likelihood: {res.loglik.initial:.6g} (null), {res.loglik.final:.6g} (model)")
    for w in res.warnings:
        con.print(f"[bold]warning:[/bold] {w}")
    if dropped:
        con.print(f"{dropped} row(s) with missing values dropped.")
