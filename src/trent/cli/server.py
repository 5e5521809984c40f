"""`trent serve` and `trent init`."""

from __future__ import annotations

import os
import shutil
from pathlib import Path
from typing import Any

import click

from trent.api import identity
from trent.cli.common import config_option, data_dir_option, log, main, print_json, settings_from
from trent.crypto.rootkey import RootKeyError

#: The descriptor holding the data directory's serving lock, open for the life of the process.
_serving_lock: list[int] = []


@main.command()
@click.option("--host", help="Address to listen on (default 127.0.0.1).")
@click.option("--port", type=int, help="Port to listen on (default 7878).")
@data_dir_option
@config_option
@click.option("--store", help="Database URL (default: SQLite in the data directory).")
@click.option("--workers", type=int, help="Worker processes (default: one per usable core).")
@click.option("--dev", is_flag=True, default=None, help="Accept any access key without checking signatures.")
@click.option("--log-level", help="debug, info, warning or error.")
@click.option(
    "--grant-propagation-delay",
    type=float,
    help="Seconds before a new grant works without its token, and a retired one stops (default 0).",
)
@click.option("--grant-refresh-interval", type=float, help="Seconds between reads of the grant change feed.")
@click.option(
    "--regions",
    help="Comma-separated regions served; a request signed for another is refused (default: AWS's commercial regions).",
)
def serve(config: Path | None, **flags: Any) -> None:
    """Run the server (initialising the data directory on first use)."""
    import uvicorn

    from trent import logs
    from trent.provision import initialize

    settings = settings_from(config, **flags)
    logs.configure(settings.log_level)
    if settings.workers > 1:
        # Every worker writes its metric samples here; /metrics, served by any worker, adds them up.
        metrics_dir = Path(settings.data_dir) / ".metrics"
        shutil.rmtree(metrics_dir, ignore_errors=True)
        metrics_dir.mkdir(parents=True, mode=0o700)
        os.environ["PROMETHEUS_MULTIPROC_DIR"] = str(metrics_dir)
    from trent.edge import protocol

    try:
        report = initialize(settings)
    except RootKeyError as exc:
        raise click.ClickException(f"cannot start: {exc}") from None
    if not settings.store:  # SQLite in the data directory: `trent restore` must not replace it under us
        from trent.storage.writer_lock import DirectoryInUse, hold_while_serving

        try:
            _serving_lock.append(hold_while_serving(Path(settings.data_dir)))
        except DirectoryInUse as exc:
            raise click.ClickException(f"cannot start: {exc}") from None
    for item in report.created:
        log.info("created %s", item)
    for warning in report.warnings:
        log.warning("%s", warning)
    if settings.dev:
        banner = "!" * 78
        log.warning(
            "\n%s\n  DEV MODE: signatures are NOT checked. Any access key is accepted and acts as an account\n"
            "  root. Never expose this server beyond your machine.\n%s",
            banner,
            banner,
        )
    uvicorn_options: dict[str, Any] = {
        "host": settings.host,
        "port": settings.port,
        "log_level": settings.log_level.lower(),
        "log_config": None,  # keep Trent's logging configuration (JSON lines or text)
        "access_log": False,
        "proxy_headers": False,
        "server_header": False,
        # The edge's own limits (edge/protocol.py); worker processes set theirs from TRENT_* in create_app.
        "http": protocol.configure(max_header_bytes=settings.max_header_bytes, header_timeout=settings.header_timeout),
        "timeout_keep_alive": settings.keep_alive_timeout,
        "limit_concurrency": settings.max_connections,
    }
    if settings.workers > 1:
        os.environ.update(settings.to_env())
        uvicorn.run("trent.edge.app:create_app", factory=True, workers=settings.workers, **uvicorn_options)
    else:
        from trent.edge.app import build_app  # only here: with several workers, each worker imports it itself

        try:
            app = build_app(settings)
        except RootKeyError as exc:
            raise click.ClickException(f"cannot start: {exc}") from None
        uvicorn.run(app, **uvicorn_options)


@main.command()
@data_dir_option
@config_option
@click.option("--account", help="Default account ID (12 digits, default 000000000000).")
@click.option("--store", help="Database URL (default: SQLite in the data directory).")
@click.option("--port", type=int, help="Port written into aws-config's endpoint_url.")
def init(config: Path | None, account: str | None, **flags: Any) -> None:
    """Create the store, root key, default account, administrator and client files."""
    from trent.provision import initialize

    settings = settings_from(config, **flags, default_account=account)
    try:
        report = initialize(settings, account)
    except (RootKeyError, identity.IdentityError) as exc:
        raise click.ClickException(str(exc)) from None
    print_json(
        {
            "data_dir": report.data_dir,
            "created": report.created,
            **({"warnings": report.warnings} if report.warnings else {}),
        }
    )
