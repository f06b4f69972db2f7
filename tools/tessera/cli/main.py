"""``tessera`` CLI entry point.

Service distributions add their own client commands by declaring an entry point in the group
``tessera.cli``: a ``typer.Typer`` appears as ``tessera <name> <command> ...``, a plain function
as the single command ``tessera <name> ...``.
"""

from __future__ import annotations

import logging
from importlib.metadata import entry_points

import typer

from tessera.cli.jobs import jobs_app
from tessera.cli.up import up

app = typer.Typer(help="Tessera: neuroimaging, geodata and graph ML services.", no_args_is_help=True)
app.command(help="Start the local stack (Kafka broker, S3, Triton) and every installed service.")(up)
app.add_typer(jobs_app, name="jobs", help="Inspect and follow jobs of any service.")

for ep in entry_points(group="tessera.cli"):
    try:
        plugin = ep.load()
        if isinstance(plugin, typer.Typer):
            app.add_typer(plugin, name=ep.name)
        else:
            app.command(name=ep.name)(plugin)
    except Exception as exc:  # a broken plugin must not take the whole CLI down
        logging.getLogger(__name__).warning("cannot load CLI commands %r: %s", ep.name, exc)


if __name__ == "__main__":
    app()
