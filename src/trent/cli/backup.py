"""`trent backup` and `trent restore`."""

from __future__ import annotations

import os
import sys
from pathlib import Path
from typing import Any

import click

from trent.cli.common import main, settings_from
from trent.crypto.rootkey import RootKeyError


# --- backup and restore ------------------------------------------------------------------------------
def _with_progress(label: str, run: Any) -> None:
    with click.progressbar(length=1, label=label, show_percent=True, file=sys.stderr) as bar:

        def progress(done: int, total: int) -> None:
            bar.length = max(total, 1)
            bar.update(done - bar.pos)

        run(progress)


@main.command("backup")
@click.argument("data_dir", type=click.Path(exists=True, file_okay=False, path_type=Path))
@click.argument("file", type=click.Path(path_type=Path))
def backup_command(data_dir: Path, file: Path) -> None:
    """Back up the SQLite store of DATA_DIR to FILE, consistently, while the server runs."""
    from trent.storage.backup import BackupError, backup

    try:
        _with_progress("backing up", lambda progress: backup(data_dir / "trent.db", file, progress))
    except BackupError as exc:
        raise click.ClickException(str(exc)) from None
    click.echo(f"backed up {data_dir / 'trent.db'} to {file} (the root key is not in it: keep it apart)", err=True)


@main.command("restore")
@click.argument("file", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.argument("data_dir", type=click.Path(file_okay=False, path_type=Path))
@click.option("--force", is_flag=True, help="Replace an existing store.")
def restore_command(file: Path, data_dir: Path, force: bool) -> None:
    """Restore FILE (a `trent backup`) into DATA_DIR. Stop the server first."""
    from trent.bootstrap import load_root_key
    from trent.storage.backup import BackupError, restore
    from trent.storage.writer_lock import DirectoryInUse, exclusive_use

    database = data_dir / "trent.db"
    if database.exists() and not force:
        raise click.ClickException(f"{database} exists; stop the server and add --force to replace it")
    settings = settings_from(None, data_dir=data_dir)
    if not settings.root_key_path.exists() and not os.environ.get("TRENT_ROOT_KEY"):
        raise click.ClickException(
            f"{data_dir} has no root key: a backup is encrypted under the root key of the server it was made on, "
            f"which is not in the backup. Copy that server's root.key to {settings.root_key_path} (mode 0600), or "
            "set TRENT_ROOT_KEY, then restore."
        )
    data_dir.mkdir(parents=True, exist_ok=True)
    try:
        root_key = load_root_key(settings, create=False)
        with exclusive_use(data_dir):
            _with_progress("restoring", lambda progress: restore(file, database, root_key, progress))
    except (BackupError, RootKeyError, DirectoryInUse) as exc:
        raise click.ClickException(str(exc)) from None
    click.echo(f"restored {file} into {database}", err=True)
