"""`trent config show`."""

from __future__ import annotations

import dataclasses
import os
import sys
from pathlib import Path
from typing import Any

from trent.cli.common import config_option, data_dir_option, main, print_json, settings_from


# --- config ------------------------------------------------------------------------------------------
@main.group("config")
def config_group() -> None:
    """Configuration."""


@config_group.command("show")
@config_option
@data_dir_option
def config_show(config: Path | None, **flags: Any) -> None:
    """Print the effective configuration (secrets masked)."""
    settings = settings_from(config, **flags)
    # Typed, as the configuration file writes them: numbers, booleans and lists, not strings.
    values: dict[str, Any] = {}
    for field in dataclasses.fields(settings):
        if field.name == "extra":
            continue
        value = getattr(settings, field.name)
        values[field.name] = (
            list(value) if isinstance(value, tuple) else str(value) if isinstance(value, Path) else value
        )
    if "://" in values.get("store", "") and "@" in values["store"]:
        scheme, rest = values["store"].split("://", 1)
        values["store"] = f"{scheme}://***@{rest.split('@', 1)[1]}"
    values["root_key"] = (
        settings.root_key
        if settings.root_key.startswith("pkcs11:")
        else "*** (from TRENT_ROOT_KEY)"
        if settings.root_key or os.environ.get("TRENT_ROOT_KEY")
        else str(settings.root_key_path)
    )
    print_json(values)


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
