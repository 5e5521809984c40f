"""Settings precedence and validation."""

from __future__ import annotations

import tomllib
from pathlib import Path

import pytest

from trent.config import ConfigError, Settings, load_settings, render_config
from trent.domain.regions import AWS_COMMERCIAL_REGIONS


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
        ("regions = []\n", {}, "regions must name at least one region"),
        ("", {"TRENT_REGIONS": " , "}, "regions must name at least one region"),
        ("regions = 'us-east-1'\n", {"TRENT_REGIONS": ""}, "regions must name at least one region"),
        ("regions = ['us-east-1', 'US_WEST_2']\n", {}, "regions: 'US_WEST_2' is not a region name"),
        ("regions = ['us-east-1', '']\n", {}, "regions: '' is not a region name"),
        ("", {"TRENT_REGIONS": "us-east-1,eu-west-1;rm"}, "regions: 'eu-west-1;rm' is not a region name"),
        ("", {"TRENT_REGIONS": "us-east-1,xx-" + "a" * 30 + "-1"}, "at most 32 characters"),
        ("regions = ['us-east-1', 1]\n", {}, "regions has an invalid value"),
        ("regions = 5\n", {}, "regions has an invalid value"),
        ("", {"TRENT_REGIONS": "eu-west-1"}, "region 'us-east-1' .* must be one of regions"),
        ("region = 'xx-fake-1'\n", {}, "region 'xx-fake-1' .* must be one of regions"),
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


def test_the_default_regions_are_aws_commercial_regions() -> None:
    settings = load_settings(None, {}, environ={})
    assert settings.regions == AWS_COMMERCIAL_REGIONS
    assert {"us-east-1", "eu-west-1", "ap-southeast-7", "mx-central-1"} <= set(settings.regions)
    assert not {"us-gov-west-1", "cn-north-1", "xx-fake-1"} & set(settings.regions)


def test_regions_from_file_environment_and_flag(tmp_path: Path) -> None:
    config = tmp_path / "trent.toml"
    config.write_text('regions = ["us-east-1", "xx-lab-1"]\n')
    assert load_settings(config, {}, environ={}).regions == ("us-east-1", "xx-lab-1")
    # Comma-separated in the environment and on the command line; spaces and repeats are dropped.
    environ = {"TRENT_REGIONS": " us-east-1, eu-west-1 ,us-east-1,"}
    assert load_settings(config, {}, environ=environ).regions == ("us-east-1", "eu-west-1")
    flags = {"regions": "eu-west-1,us-east-1,ap-south-2", "region": "eu-west-1"}
    settings = load_settings(config, flags, environ=environ)
    assert (settings.regions, settings.region) == (("eu-west-1", "us-east-1", "ap-south-2"), "eu-west-1")


@pytest.mark.parametrize(
    "environ",
    [{}, {"TRENT_REGIONS": "eu-west-1,xx-lab-1", "TRENT_REGION": "xx-lab-1", "TRENT_WORKERS": "3", "TRENT_DEV": "1"}],
)
def test_settings_round_trip_through_the_environment(tmp_path: Path, environ: dict[str, str]) -> None:
    """Worker processes get the settings as TRENT_* variables: they must read back exactly."""
    settings = load_settings(None, {"data_dir": tmp_path}, environ=environ)
    assert load_settings(None, {}, environ=settings.to_env()) == settings


@pytest.mark.parametrize("regions", [AWS_COMMERCIAL_REGIONS, ("us-east-1", "xx-lab-1")])
def test_the_written_config_reads_back(tmp_path: Path, regions: tuple[str, ...]) -> None:
    settings = Settings(data_dir=tmp_path, regions=regions).validate()
    text = render_config(settings)
    config = tmp_path / "trent.toml"
    config.write_text(text)
    assert load_settings(config, {}, environ={}) == settings
    # The default list is written commented out, so that a later version's default applies to this file too.
    assert ("regions" in tomllib.loads(text)) == (regions != AWS_COMMERCIAL_REGIONS)
    assert "# regions = [" in text or "\nregions = [" in text
