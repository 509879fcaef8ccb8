"""The ``opendmp`` command. Errors print one readable line and exit 1.

One module per command group (docs/architecture.md); the shared helpers are in
``common.py``. This module assembles the app and holds the two entry points, ``main``
(the console script) and ``app_factory`` (uvicorn's workers), which both make everything
OpenDMP creates private to its user before anything else runs.
"""

from __future__ import annotations

import sys
from typing import Any

import typer

from opendmp.app import serving_app
from opendmp.cli import server
from opendmp.cli.backup import backup_app
from opendmp.cli.bench import bench_app
from opendmp.cli.blobs import blobs_app
from opendmp.cli.directory import directory_app
from opendmp.cli.establishments import establishment_app
from opendmp.cli.keys import keys_app
from opendmp.cli.operations import audit_app, db_app, retention_app
from opendmp.cli.pki import pki_app
from opendmp.cli.records import record_app
from opendmp.cli.server import server_options
from opendmp.cli.tokens import token_app
from opendmp.cli.vihf import vihf
from opendmp.cli.vitale import vitale_app
from opendmp.config import load_settings
from opendmp.observability import configure_logging
from opendmp.storage.private_files import restrict_umask

app = typer.Typer(help="OpenDMP: shared medical record server.", no_args_is_help=True)
for _command in (server.init, server.serve, server.demo, server.worker, vihf):
    app.command()(_command)
app.add_typer(db_app, name="db")
app.add_typer(record_app, name="record")
# The plural as well, hidden: `opendmp records announce …` reads naturally for a batch.
app.add_typer(record_app, name="records", hidden=True)
app.add_typer(retention_app, name="retention")
app.add_typer(audit_app, name="audit")
app.add_typer(keys_app, name="keys")
app.add_typer(backup_app, name="backup")
app.add_typer(blobs_app, name="blobs")
app.add_typer(bench_app, name="bench")
app.add_typer(pki_app, name="pki")
app.add_typer(token_app, name="token")
app.add_typer(establishment_app, name="establishment")
app.add_typer(vitale_app, name="vitale")
app.add_typer(directory_app, name="directory")


def app_factory() -> Any:
    restrict_umask()  # also when run as `uvicorn opendmp.cli:app_factory --factory`
    settings = load_settings()
    configure_logging(settings.log_level, settings.log_format)
    return serving_app(settings)


def main() -> None:
    # Everything OpenDMP creates under OPENDMP_HOME is private to its user, whoever creates
    # it (SQLite, libraries): storage/private_files.py.
    restrict_umask()
    try:
        app()
    except KeyboardInterrupt:
        sys.exit(130)


__all__ = ["app", "app_factory", "main", "server_options"]
