"""The `rookery` command line: one module per command, wired together here."""

import typer

app = typer.Typer(
    name="rookery",
    help="Rookery: a self-hosted Withings health-data hub that speaks ROOK's data model.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)


@app.callback()
def _root() -> None:
    """Rookery's commands."""


def main() -> None:
    """Entry point of the `rookery` script."""
    app()
