"""Pooled results as files: ``results.json`` and a Markdown report section (``federated.md``)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from blincompass.federate.pool import PooledResult
from blincompass.federate.summary import grid_text

__all__ = ["render_markdown", "write_pooled"]


def _f(x: Any, nd: int = 1, missing: str = "NE") -> str:
    return missing if x is None else f"{x:.{nd}f}"


def _sites_line(a: dict[str, Any]) -> str:
    note = a.get("note") or ""
    return f"Sites: {', '.join(a['sites']) or 'none'}. " + (note[:1].upper() + note[1:] + "." if note else "")


def _p(x: Any) -> str:
    if x is None:
        return "NE"
    return "<0.0001" if x < 1e-4 else f"{x:.4f}"


def _ci(lo: Any, hi: Any, scale: float = 1.0, nd: int = 1) -> str:
    return f"{_f(None if lo is None else lo * scale, nd)}{chr(8211)}{_f(None if hi is None else hi * scale, nd)}"


def _curve_row(label: str, c: dict[str, Any]) -> str:
    m = c["median"]
    bc, sp = m["brookmeyer_crowley"], m["spss"]
    cells = [label, str(c["n"]), str(c["events"]),
             f"{_f(bc['estimate'], missing='NR')} ({_ci(bc['lower'], bc['upper'])})",
             f"{_f(sp['estimate'], missing='NR')} ({_ci(sp['lower'], sp['upper'])})"]
    for at in c["at"].values():
        cells.append(f"{_f(None if at['surv'] is None else 100 * at['surv'])} ({_ci(at['lower'], at['upper'], 100)})")
    r = c["rmean"]
    cells.append(f"{_f(r['estimate'])} ({_f(r['se'])}; {_f(r['tmax'])})")
    return "| " + " | ".join(cells) + " |"


def _test_row(name: str, t: dict[str, Any]) -> str:
    oe = "; ".join(f"{lab}: {t['observed'][g]:g} / {t['expected'][g]:.2f}"
                   for g, lab in zip(t["groups"], t["labels"], strict=True))
    return (f"| {name} | {oe} | {_f(t['chisq'], 3)} | {t['df']} | {_f(t['z'], 3)} | {_p(t['p'])} "
            f"({t['alternative']}) | {_p(t['p_two_sided'])} |")


def render_markdown(result: PooledResult) -> str:
    """The pooled analyses as a Markdown section (each analysis says where it differs from patient level)."""
    r = result.results
    fed = r["federation"]
    months = result.study.protocol.analyses.settings.survival_at_months
    lvl = f"{100 * result.study.protocol.analyses.settings.conf_level:g}%"
    out = [
        "# Federated analyses",
        "",
        f"Study package {r['study']['name']} (sha256 {r['study']['sha256']}); blincompass "
        f"{r['blincompass_version']}. Sites: {', '.join(s['site'] for s in r['sites'])}.",
        f"Disclosure settings: times rounded up to a grid of {grid_text(fed['time_grid'], fed['time_unit'])}; "
        f"every non-zero count released by a site is at least {fed['threshold']}.",
        "",
        "## Survival analyses",
        "",
    ]
    for aid, a in r["survival"].items():
        out += [f"### {a['title']} (`{aid}`)", "", _sites_line(a), ""]
        if not a.get("n"):
            continue
        out.append("| Group | n | Events | Median, months (" + lvl + " CI, Brookmeyer" + chr(8211) + "Crowley) | "
                   "Median (" + lvl + " CI, SPSS) | " + " | ".join(f"Survival at {t:g} months, %" for t in months)
                   + " | Restricted mean (SE; up to) |")
        out.append("|" + "---|" * (6 + len(months)))
        out.append(_curve_row("All", a))
        for g in (a.get("groups") or {}).values():
            out.append(_curve_row(g["label"], g))
        out.append("")
        lr = a.get("logrank")
        if lr:
            out += ["| Log-rank test | Observed / expected | Chi-square | df | z (first group) | p (protocol) | "
                    "p (two-sided) |", "|---|---|---|---|---|---|---|",
                    _test_row("pooled counts", lr["pooled_counts"]),
                    _test_row(f"stratified by {lr['site_stratified']['strata']}", lr["site_stratified"]), ""]
    out += ["## Proportions", ""]
    for aid, a in r["proportions"].items():
        out += [f"### {a['title']} (`{aid}`)", "", _sites_line(a), ""]
        out += ["| Group | Yes | No | n | % |", "|---|---|---|---|---|"]
        for c in a["counts"].values():
            out.append(f"| {c['label']} | {c['yes']} | {c['no']} | {c['n']} | {_f(c['pct'])} |")
        out.append("")
        if "fisher" in a:
            fi, ch = a["fisher"], a["chi2"]
            out.append(f"Fisher's exact test: p = {_p(fi['p'])} ({a['alternative']}), two-sided p = "
                       f"{_p(fi['p_two_sided'])}; conditional MLE odds ratio {_f(fi['odds_ratio'], 2)} "
                       f"({_ci(fi['or_lower'], fi['or_upper'], nd=2)}). Pearson chi-square "
                       f"({ch['correction']} correction): {_f(ch['statistic'], 3)} on {ch['df']} df, "
                       f"p = {_p(ch['p'])}.")
            out.append("")
    return "\n".join(out).rstrip() + "\n"


def write_pooled(result: PooledResult, out_dir: str | Path) -> list[Path]:
    """Write ``results.json`` (sorted keys) and ``federated.md`` into ``out_dir`` (created if needed);
    each file is written to a temporary name and renamed, so nothing is left half-written."""
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    files = {
        "results.json": json.dumps(result.results, sort_keys=True, indent=1, ensure_ascii=False,
                                   allow_nan=False) + "\n",
        "federated.md": render_markdown(result),
    }
    written = []
    for name, text in files.items():
        tmp = out / f".{name}.tmp"
        try:
            tmp.write_text(text, encoding="utf-8", newline="")
            tmp.replace(out / name)
        except OSError:
            tmp.unlink(missing_ok=True)
            raise
        written.append(out / name)
    return written
