"""What every command group of `trent` shares: the top-level group, common options, settings and output."""

from __future__ import annotations

import json
import logging
from pathlib import Path
from typing import Any

import click

from trent.config import ConfigError, Settings, load_settings

log = logging.getLogger("trent")


def settings_from(config: Path | None, **overrides: Any) -> Settings:
    try:
        return load_settings(config, overrides)
    except ConfigError as exc:
        raise click.ClickException(f"configuration error: {exc}") from None


def print_json(value: Any) -> None:
    click.echo(json.dumps(value, indent=2, sort_keys=False))


@click.group()
@click.version_option(package_name="trent")
def main() -> None:
    """Trent: a self-hosted key management service that speaks the AWS KMS API."""


config_option = click.option("--config", "config", type=click.Path(path_type=Path), help="TOML configuration file.")
data_dir_option = click.option(
    "--data-dir", type=click.Path(path_type=Path), help="Data directory (default ./trent-data)."
)
