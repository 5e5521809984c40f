"""The `trent` command: serve, init, admin, backup, restore, config — one module per command group."""

from trent.cli import admin, backup, configuration, inspection, root_key, server
from trent.cli.common import main

__all__ = ["admin", "backup", "configuration", "inspection", "main", "root_key", "server"]
