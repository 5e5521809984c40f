"""`trent admin root-key`: rotate the root key online, watch the re-wrap, retire the old versions
(docs/security.md, "Rotating the root key")."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

import click

from trent.cli.admin import admin
from trent.cli.common import print_json


@admin.group("root-key")
def root_key_group() -> None:
    """The root key's versions: rotate, re-wrap, status, retire-old."""


def _rewrap_with_progress(store: Any) -> Any:
    from trent.api import root_key

    with click.progressbar(length=1, label="re-wrapping", show_percent=True, file=sys.stderr) as bar:

        def on_batch(step: Any) -> None:
            bar.length = max(step.total, step.processed, 1)
            bar.update(step.processed - bar.pos)

        return root_key.rewrap(store, on_batch=on_batch, pause=0.002)


@root_key_group.command("rotate")
@click.option("--no-wait", is_flag=True, help="Return once the new version is in use; the servers re-wrap.")
@click.pass_obj
def rotate_command(store: Any, no_wait: bool) -> None:
    """Make a new root-key version, used by every new wrap at once, and re-wrap every stored secret under it.

    Safe while servers run, on every worker and node. Stopped at any moment (Ctrl-C, a crash), the re-wrap resumes
    where it was: in the servers' maintenance, or with `trent admin root-key rewrap`.
    """
    from trent.api import root_key

    current = root_key.progress(store)
    if current is not None and current.finished is None:
        raise click.ClickException(
            f"the re-wrap under version {current.target_version} has not finished ({current.processed} of "
            f"{current.total}); run `trent admin root-key rewrap`, then rotate again"
        )
    try:
        started = root_key.rotate(store)
    except root_key.RotationRefused as exc:
        raise click.ClickException(str(exc)) from None
    click.echo(
        f"root-key version {started.target_version} is in use; {started.total} stored secrets to re-wrap", err=True
    )
    _finish(store, started, no_wait=no_wait)


def _finish(store: Any, started: Any, *, no_wait: bool) -> None:
    """Re-wrap what the new version left to do (unless --no-wait), and say where things stand."""
    finished = None if no_wait else _rewrap_with_progress(store)
    print_json(
        {
            "version": started.target_version,
            "secrets": started.total,
            "rewrapped": finished is not None and finished.finished is not None,
        }
    )


@root_key_group.command("replace")
@click.option(
    "--new-root-key-file",
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    help="The new root key: 32 random bytes, base64, in a file of mode 0600 (as root.key).",
)
@click.option(
    "--new-root-key",
    "new_root_key_uri",
    metavar="PKCS11_URI",
    help="The new root key in an HSM (pkcs11:token=...;object=...?module-path=...&pin-source=file:...); "
    "generated in the token if it holds no key of that label.",
)
@click.option("--no-wait", is_flag=True, help="Return once the new version is in use; the servers re-wrap.")
@click.pass_obj
def replace_command(store: Any, new_root_key_file: Path | None, new_root_key_uri: str | None, no_wait: bool) -> None:
    """Replace the root key itself, online. Run it with the current root key; it makes a new version under the new
    root key and re-wraps every stored secret under it, while every node keeps serving with the current one.

    Then give every node the new root key (restart them with it) and run `trent admin root-key retire-old`:
    after it, the replaced root key opens nothing, and a node still holding it refuses to start.
    """
    from trent.api import root_key
    from trent.crypto.rootkey import RootKey, RootKeyError, decode_root_key

    if (new_root_key_file is None) == (new_root_key_uri is None):
        raise click.ClickException("give the new root key: --new-root-key-file FILE or --new-root-key PKCS11_URI")
    try:
        new_root_key: Any
        if new_root_key_uri is not None:
            from trent.crypto.hsm import HsmRootKey

            new_root_key = HsmRootKey(new_root_key_uri, create=True)
        else:
            assert new_root_key_file is not None
            mode = new_root_key_file.stat().st_mode & 0o777
            if mode & 0o077:
                raise click.ClickException(f"{new_root_key_file} is readable by others (mode {mode:o}); chmod 600 it")
            new_root_key = RootKey(decode_root_key(new_root_key_file.read_text(), str(new_root_key_file)))
        started = root_key.replace(store, new_root_key)
    except (RootKeyError, root_key.RotationRefused) as exc:
        raise click.ClickException(str(exc)) from None
    click.echo(
        f"root-key version {started.target_version} is in use, under the new root key; "
        f"{started.total} stored secrets to re-wrap",
        err=True,
    )
    _finish(store, started, no_wait=no_wait)


@root_key_group.command("rewrap")
@click.pass_obj
def rewrap_command(store: Any) -> None:
    """Carry an unfinished re-wrap on, here, until it has finished."""
    from trent.api import root_key

    finished = _rewrap_with_progress(store)
    if finished is None:
        click.echo("nothing to re-wrap", err=True)
    print_json(root_key.status(store)["rewrap"])


@root_key_group.command("status")
@click.pass_obj
def status_command(store: Any) -> None:
    """The versions, how many secrets are wrapped under each, and the re-wrap's progress."""
    from trent.api import root_key

    print_json(root_key.status(store))


@root_key_group.command("retire-old")
@click.pass_obj
def retire_command(store: Any) -> None:
    """Retire every version before the newest: nothing wrapped under them can be unwrapped any more. Refused while
    the re-wrap has left anything under one of them."""
    from trent.api import root_key

    try:
        retired = root_key.retire_old(store)
    except root_key.RetireRefused as exc:
        raise click.ClickException(str(exc)) from None
    print_json({"retired": retired})
