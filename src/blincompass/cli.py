"""Command-line interface (thin: every command delegates to a library function)."""

from __future__ import annotations

import typer

app = typer.Typer(
    rich_markup_mode=None,  # plain help: rich's help renderer costs ~0.1 s of start-up
    name="blincompass",
    help="Reproducible pipeline for multicentre real-world studies in paediatric leukaemia.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)


def _print_version(value: bool) -> None:
    if value:
        from blincompass import __version__

        typer.echo(f"blincompass {__version__}")
        raise typer.Exit()


@app.callback()
def _main(
    version: bool = typer.Option(
        False, "--version", callback=_print_version, is_eager=True, help="Print the version and exit."
    ),
) -> None:
    """blincompass: registry / files -> validate & screen -> derive endpoints -> statistics -> report."""
    from blincompass.gctune import tune

    tune()


# Sub-commands are registered by their modules below (one line each).
from blincompass import cli_data  # noqa: E402

cli_data.register(app)
from blincompass.cli_stats import app as stats_app  # noqa: E402

app.add_typer(stats_app, name="stats", help="Survival and contingency-table statistics on a CSV file.")
from blincompass import cli_report  # noqa: E402

cli_report.register(app)
from blincompass import cli_pipeline  # noqa: E402

cli_pipeline.register(app)
from blincompass import cli_registry  # noqa: E402

cli_registry.register(app)
from blincompass import cli_study  # noqa: E402

cli_study.register(app)
from blincompass import cli_federate  # noqa: E402

cli_federate.register(app)
from blincompass import cli_web  # noqa: E402

cli_web.register(app)

#: The order ``blincompass --help`` lists commands in: as a study goes (set up the study, collect, check,
#: derive, report), then the registry and its web application, then the tools. Groups follow commands.
COMMAND_ORDER: tuple[str, ...] = ("template", "dictionary", "validate", "screen", "derive", "report", "serve",
                                  "web-user", "demo", "synth")
GROUP_ORDER: tuple[str, ...] = ("study", "db", "stats", "federate")
app.registered_commands.sort(key=lambda c: COMMAND_ORDER.index(c.name) if c.name in COMMAND_ORDER else 99)
app.registered_groups.sort(key=lambda g: GROUP_ORDER.index(g.name) if g.name in GROUP_ORDER else 99)
