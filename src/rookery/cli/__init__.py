"""The `rookery` command line: one module per command, wired together here."""

import typer

from rookery.cli.client import client_app
from rookery.cli.db import db_app
from rookery.cli.demo import demo
from rookery.cli.replay import replay
from rookery.cli.sandbox import sandbox
from rookery.cli.serve import serve
from rookery.cli.transform import transform
from rookery.cli.worker import worker

app = typer.Typer(
    name="rookery",
    help="Rookery: a self-hosted Withings health-data hub that speaks ROOK's data model.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)
app.add_typer(client_app)
app.add_typer(db_app)
app.command("demo")(demo)
app.command("sandbox")(sandbox)
app.command("replay")(replay)
app.command("serve")(serve)
app.command("transform")(transform)
app.command("worker")(worker)

# Exit status of bad configuration (as for bad usage): the operator must fix something.
CONFIG_ERROR_EXIT = 2


@app.callback()
def _root() -> None:
    """Rookery's commands."""


def main() -> None:
    """Entry point of the `rookery` script. Bad configuration: one line on stderr, exit 2."""
    # Imported here, not at the top, so that `rookery --help` and light commands start fast.
    from rookery.config import ConfigError
    from rookery.logs import configure_logging

    configure_logging()
    try:
        app()
    except ConfigError as error:
        typer.echo(f"rookery: {error}", err=True)
        raise SystemExit(CONFIG_ERROR_EXIT) from None
