"""Settings precedence and validation."""

from __future__ import annotations

from pathlib import Path

import pytest

from trent.config import ConfigError, load_settings


def test_precedence_defaults_file_environment_flags(tmp_path: Path) -> None:
    config = tmp_path / "trent.toml"
    config.write_text('port = 9000\nlog_level = "debug"\nworkers = 2\n')
    settings = load_settings(config, {}, environ={})
    assert (settings.port, settings.log_level, settings.workers, settings.host) == (
        9000,
        "debug",
        2,
        "127.0.0.1",
    )
    assert settings.data_dir == tmp_path  # a config file's directory is the data directory by default
    settings = load_settings(config, {}, environ={"TRENT_PORT": "9100"})
    assert settings.port == 9100
    settings = load_settings(config, {"port": 9200}, environ={"TRENT_PORT": "9100"})
    assert settings.port == 9200


@pytest.mark.parametrize(
    ("content", "environ", "message"),
    [
        ("port = 0\n", {}, "port must be between 1 and 65535"),
        ("colour = 'blue'\n", {}, "unknown setting 'colour'"),
        ("port = 'x'\n", {}, "port has an invalid value"),
        ("", {"TRENT_WORKERS": "0"}, "workers must be at least 1"),
        ("", {"TRENT_DEV": "maybe"}, "TRENT_DEV: dev has an invalid value"),
        ("port = [\n", {}, "is not valid TOML"),
        ("store = 'mysql://x'\n", {}, "store must be a sqlite:// or postgresql:// URL"),
    ],
)
def test_invalid_settings_are_named(tmp_path: Path, content: str, environ: dict[str, str], message: str) -> None:
    config = tmp_path / "trent.toml"
    config.write_text(content)
    with pytest.raises(ConfigError, match=message):
        load_settings(config, {}, environ=environ)


def test_missing_config_file(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="does not exist"):
        load_settings(tmp_path / "nope.toml", {}, environ={})
