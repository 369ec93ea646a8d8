"""``blincompass federate``: disclosure-controlled site summaries and their pooling (docs/federation.md)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import typer

__all__ = ["app", "register"]

app = typer.Typer(
    rich_markup_mode=None,  # plain help: rich's help renderer costs ~0.1 s of start-up
    name="federate",
    help="Federated pooling: summarise a site's data (only protected aggregates leave), pool the summaries.",
    no_args_is_help=True,
)


def _fail(message: str) -> typer.Exit:
    typer.echo(message, err=True)
    return typer.Exit(2)


def _study(path: Path | None) -> Any:
    from blincompass.study import StudyError, load_study

    try:
        return load_study(path)
    except StudyError as exc:
        raise _fail(f"cannot use study package: {exc}") from None


def _free(path: Path, force: bool) -> None:
    if path.is_dir():
        raise _fail(f"cannot write {path}: it is a folder")
    if path.exists() and not force:
        raise _fail(f"cannot write {path}: the file exists (give --force to replace it)")
    if not path.parent.is_dir():
        raise _fail(f"cannot write {path}: folder {path.parent} does not exist")


@app.command("summarise")
def summarise_cmd(
    data: Path = typer.Argument(..., help="The site's data: an .xlsx workbook or a folder of CSV files."),
    out: Path = typer.Option(..., "--out", "-o", help="Site summary to write (JSON)."),
    study: Path | None = typer.Option(None, "--study", help="Study package folder (default: built-in)."),
    site: str | None = typer.Option(None, "--site", help="Site label (default: the name of --out without .json)."),
    withhold: list[str] = typer.Option([], "--withhold", help="An analysis this site does not release (repeat)."),
    force: bool = typer.Option(False, "--force", help="Replace an existing file."),
) -> None:
    """Summarise the site's data for the study's federated analyses and show what will leave the site."""
    from rich.console import Console
    from rich.table import Table

    from blincompass.derive import derive_all
    from blincompass.federate import DisclosureError, FederationError, summarise
    from blincompass.federate.summary import grid_text
    from blincompass.io import InputReadError
    from blincompass.validate import load_dataset

    pkg = _study(study)
    _free(out, force)
    try:
        result = load_dataset(data, pkg.dictionary)
    except InputReadError as exc:
        raise _fail(f"cannot read input: {exc}") from None
    if not result.ok:
        typer.echo(f"FAILED: {result.n_errors} validation error(s) in {data} (see blincompass validate {data})",
                   err=True)
        raise typer.Exit(1)
    label = site if site is not None else out.name.removesuffix(".json")
    try:
        summary = summarise(pkg, result.dataset, site=label, withhold=withhold,
                            derived=derive_all(result.dataset, pkg.protocol, pkg.dictionary))
    except (DisclosureError, FederationError) as exc:
        raise _fail(f"cannot summarise: {exc}") from None
    tmp = out.with_name(f".{out.name}.tmp")
    try:
        tmp.write_bytes(summary.to_json())
        tmp.replace(out)
    except OSError as exc:
        tmp.unlink(missing_ok=True)
        raise _fail(f"cannot write {out}: {exc.strerror or exc}") from None
    fed = pkg.protocol.federation
    console = Console(highlight=False)
    t = Table(title=f"What leaves site {label} (times rounded up to {grid_text(fed.time_grid, fed.time_unit)}; "
                    f"non-zero counts >= {fed.threshold})", title_justify="left")
    t.add_column("analysis", no_wrap=True)
    t.add_column("kind", no_wrap=True)
    for col in ("rows", "released", "merged", "suppressed"):
        t.add_column(col, justify="right")
    for line in summary.release:
        t.add_row(line.analysis, line.kind, str(line.rows_before), str(line.rows_released), str(line.merged),
                  str(line.suppressed))
    console.print(t)
    for line in summary.release:
        if line.note:
            console.print(f"  {line.analysis}: {line.note}", markup=False)
    console.print("Survival analyses also release log-rank scores (O - E) and variances per stratum. No patient "
                  "identifier, date or free text leaves the site.", markup=False)
    console.print(f"wrote {out}", markup=False)


@app.command("pool")
def pool_cmd(
    summaries: list[Path] = typer.Argument(..., help="The sites' summaries (site*.json)."),
    out: Path = typer.Option(..., "--out", "-o", help="Folder for results.json and federated.md."),
    study: Path | None = typer.Option(None, "--study", help="Study package folder (default: built-in)."),
) -> None:
    """Pool the sites' summaries: Kaplan-Meier, log-rank tests and proportions, with their differences stated."""
    from blincompass.federate import FederationError, SiteSummary, pool, write_pooled

    pkg = _study(study)
    if out.exists() and not out.is_dir():
        raise _fail(f"cannot write into {out}: not a folder")
    if not out.parent.is_dir():
        raise _fail(f"cannot write into {out}: folder {out.parent} does not exist")
    loaded = []
    for p in summaries:
        try:
            raw = p.read_bytes()
        except OSError as exc:
            raise _fail(f"cannot read {p}: {exc.strerror or exc}") from None
        try:
            loaded.append(SiteSummary.from_json(raw, str(p)))
        except FederationError as exc:
            raise _fail(f"cannot pool: {exc}") from None
    try:
        result = pool(loaded, pkg)
    except FederationError as exc:
        raise _fail(f"cannot pool: {exc}") from None
    try:
        written = write_pooled(result, out)
    except OSError as exc:
        raise _fail(f"cannot write into {out}: {exc.strerror or exc}") from None
    for w in written:
        typer.echo(f"wrote {w}")
    typer.echo(f"pooled {len(loaded)} site(s): {', '.join(s['site'] for s in result.results['sites'])}")


def register(main: typer.Typer) -> None:
    """Add the ``federate`` command group to the main application."""
    main.add_typer(app, name="federate")
