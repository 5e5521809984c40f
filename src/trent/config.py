"""Settings: defaults, then the TOML file, then TRENT_* environment variables, then command-line flags.

Every setting is validated when Trent starts, with an error that names the setting and the source.
"""

from __future__ import annotations

import dataclasses
import json
import os
import tomllib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from trent.domain.regions import AWS_COMMERCIAL_REGIONS, MAX_REGION_LENGTH, is_region_name


class ConfigError(Exception):
    """A setting is invalid; the message says which and why."""


def usable_cores() -> int:
    """The cores this process may run on (its CPU affinity, which containers and `taskset` narrow)."""
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not Linux
        return os.cpu_count() or 1


@dataclass(frozen=True)
class Settings:
    data_dir: Path = Path("./trent-data")
    host: str = "127.0.0.1"
    port: int = 7878
    #: One worker process per usable core unless set.
    workers: int = field(default_factory=usable_cores)
    #: Database URL; empty means SQLite in the data directory.
    store: str = ""
    #: Where the root key is: empty for data_dir/root.key, a PKCS#11 URI for a key held in an HSM. TRENT_ROOT_KEY
    #: may also hold the key itself (base64); it is never written to a file.
    root_key: str = ""
    dev: bool = False
    log_level: str = "info"
    #: How often the background worker deletes keys whose waiting period has ended and rotates due keys.
    maintenance_interval: float = 30.0
    #: Largest request body accepted, checked before parsing.
    max_request_bytes: int = 1024 * 1024
    #: Largest request line and headers (431 beyond), and the seconds they may take to arrive (408 beyond).
    max_header_bytes: int = 16 * 1024
    header_timeout: float = 10.0
    #: Seconds the body of a request may take to arrive once its headers have (408 beyond).
    body_timeout: float = 30.0
    #: Bytes of request bodies beyond 64 KiB each that one worker holds at once while they arrive.
    body_buffer_bytes: int = 64 * 1024 * 1024
    #: Seconds an idle kept-alive connection stays open.
    keep_alive_timeout: float = 5.0
    #: Connections one worker holds at once; beyond it, requests are answered 503 (clients retry).
    max_connections: int = 1000
    #: Allowed clock skew of SigV4 signatures, in seconds (AWS: 5 minutes).
    max_signature_skew: int = 300
    #: Default account of `trent init` and of --dev callers whose access key is not an account ID.
    default_account: str = "000000000000"
    #: Region `trent init` writes into aws-config; one of `regions`.
    region: str = "us-east-1"
    #: Regions served: a request whose SigV4 credential is scoped to another region is refused, as AWS refuses
    #: a region that does not exist. In TRENT_REGIONS and --regions: comma-separated.
    regions: tuple[str, ...] = AWS_COMMERCIAL_REGIONS
    #: Seconds before a new grant is usable without its token, and a deleted one stops working (AWS's
    #: eventual consistency, for testing retry and grant-token logic). 0: at once.
    grant_propagation_delay: float = 0.0
    #: Seconds between reads of the grant change feed; negative means the store's default (0 for SQLite,
    #: where the view is read before every use, 1 for PostgreSQL).
    grant_refresh_interval: float = -1.0
    #: SQLite durability: "full" syncs every commit to disk (survives power loss); "normal" survives a crash
    #: of the process only, and makes write-heavy calls (CreateKey, CreateGrant, ...) several times faster.
    sqlite_synchronous: str = "full"
    #: Seconds between batched writes of the audit events of calls that change nothing.
    audit_flush_interval: float = 0.25
    #: Days audit events are kept; the maintenance task deletes older ones. 0 keeps them forever.
    audit_retention_days: int = 365
    #: Audit events kept at most, the oldest deleted first (every event is bounded in size). 0: no bound.
    audit_max_events: int = 10_000_000
    #: How much each cache of a process holds (least recently used entries go beyond; trent.api.caches.CacheSizes).
    cache_keys: int = 50_000
    cache_key_material: int = 20_000
    cache_grant_sets: int = 100_000
    cache_credentials: int = 25_000
    cache_policies: int = 16_384
    cache_identity_policies: int = 25_000
    cache_decisions: int = 25_000
    cache_megabytes: int = 256
    #: The web console under /console/ (docs/console.md).
    console: bool = True
    #: Minutes a console session may stay unused before it ends.
    console_idle_minutes: int = 30
    extra: dict[str, Any] = field(default_factory=dict, compare=False, repr=False)

    def validate(self) -> Settings:
        if not 0 < self.port < 65536:
            raise ConfigError(f"port must be between 1 and 65535, not {self.port}")
        if self.workers < 1:
            raise ConfigError(f"workers must be at least 1, not {self.workers}")
        if self.log_level.lower() not in ("debug", "info", "warning", "error", "critical"):
            raise ConfigError(f"log_level must be one of debug, info, warning, error, critical, not {self.log_level!r}")
        for name in (
            "cache_keys",
            "cache_key_material",
            "cache_grant_sets",
            "cache_credentials",
            "cache_policies",
            "cache_identity_policies",
            "cache_decisions",
            "cache_megabytes",
        ):
            if getattr(self, name) < 1:
                raise ConfigError(f"{name} must be at least 1")
        if self.root_key and not self.root_key.startswith("pkcs11:") and len(self.root_key) != 44:
            raise ConfigError("root_key must be empty, a pkcs11: URI, or (in TRENT_ROOT_KEY) a base64 key")
        if self.console_idle_minutes < 1:
            raise ConfigError("console_idle_minutes must be at least 1")
        if self.maintenance_interval <= 0:
            raise ConfigError("maintenance_interval must be positive")
        if self.max_request_bytes < 1024:
            raise ConfigError("max_request_bytes must be at least 1024")
        if self.max_header_bytes < 1024:
            raise ConfigError("max_header_bytes must be at least 1024")
        for name in ("header_timeout", "body_timeout", "keep_alive_timeout"):
            if getattr(self, name) <= 0:
                raise ConfigError(f"{name} must be positive")
        if self.body_buffer_bytes < self.max_request_bytes:
            raise ConfigError("body_buffer_bytes must be at least max_request_bytes")
        if self.max_connections < 1:
            raise ConfigError("max_connections must be at least 1")
        if self.sqlite_synchronous.lower() not in ("full", "normal"):
            raise ConfigError(f"sqlite_synchronous must be full or normal, not {self.sqlite_synchronous!r}")
        if self.audit_flush_interval <= 0:
            raise ConfigError("audit_flush_interval must be positive")
        if self.audit_retention_days < 0:
            raise ConfigError("audit_retention_days must not be negative")
        if self.audit_max_events < 0:
            raise ConfigError("audit_max_events must not be negative")
        if self.grant_propagation_delay < 0:
            raise ConfigError("grant_propagation_delay must not be negative")
        if not (len(self.default_account) == 12 and self.default_account.isdigit()):
            raise ConfigError(f"default_account must be a 12-digit account ID, not {self.default_account!r}")
        if not self.regions:
            raise ConfigError("regions must name at least one region")
        for name in self.regions:
            if not is_region_name(name):
                raise ConfigError(
                    f"regions: {name!r} is not a region name (like us-east-1: lowercase words and a number, "
                    f"joined with '-', at most {MAX_REGION_LENGTH} characters)"
                )
        if self.region not in self.regions:
            raise ConfigError(f"region {self.region!r} (written into aws-config) must be one of regions")
        if self.store and not self.store.startswith(("sqlite:", "postgresql:", "postgres:", "postgresql+psycopg:")):
            raise ConfigError(f"store must be a sqlite:// or postgresql:// URL, not {self.store!r}")
        return self

    def effective_grant_refresh_interval(self) -> float:
        if self.grant_refresh_interval >= 0:
            return self.grant_refresh_interval
        return 0.0 if not self.store or self.store.startswith("sqlite") else 1.0

    @property
    def root_key_path(self) -> Path:
        return self.data_dir / "root.key"

    def store_url(self) -> str:
        if self.store:
            return self.store
        return f"sqlite:///{(self.data_dir / 'trent.db').resolve()}"

    def to_env(self) -> dict[str, str]:
        """The settings as TRENT_* variables, to hand to worker processes."""
        out = {}
        for f in dataclasses.fields(self):
            if f.name == "extra":
                continue
            value = getattr(self, f.name)
            if isinstance(value, bool):
                text = str(value).lower()
            elif isinstance(value, tuple):
                text = ",".join(value)  # read back by _coerce, which splits on commas
            else:
                text = str(value)
            out[f"TRENT_{f.name.upper()}"] = text
        return out


_FIELDS = {f.name: f for f in dataclasses.fields(Settings) if f.name != "extra"}

#: One line of documentation per setting, for the trent.toml that `trent init` writes.
_COMMENTS = {
    "data_dir": "Directory of the root key, the SQLite store and the client files (default: this file's directory).",
    "host": "Address to listen on. Use 0.0.0.0 only behind TLS.",
    "port": "Port to listen on.",
    "workers": "Worker processes (default: one per usable core).",
    "store": 'Database URL: empty for SQLite in data_dir, or "postgresql://user@host/db".',
    "root_key": (
        'Empty for data_dir/root.key, or a key in an HSM: "pkcs11:token=T;object=K?module-path=LIB&pin-source=file:P".'
    ),
    "dev": "Accept any access key without checking signatures. Local experiments only.",
    "log_level": "debug, info, warning, error or critical.",
    "maintenance_interval": "Seconds between passes that delete keys whose waiting period ended and rotate due keys.",
    "max_request_bytes": "Largest request body, refused before parsing.",
    "max_header_bytes": "Largest request line and headers (answered 431 beyond).",
    "header_timeout": "Seconds the request line and headers may take to arrive (answered 408, closed, beyond).",
    "body_timeout": "Seconds a request body may take to arrive after its headers (answered 408 beyond).",
    "keep_alive_timeout": "Seconds an idle kept-alive connection stays open.",
    "body_buffer_bytes": "Bytes of bodies beyond 64 KiB each one worker holds while they arrive (throttled beyond).",
    "max_connections": "Connections one worker holds at once; requests beyond are answered 503.",
    "max_signature_skew": "Seconds a SigV4 signature may be off the server clock.",
    "default_account": "Account `trent init` creates, and that --dev callers use by default.",
    "region": "Region written into aws-config; one of regions.",
    "regions": "Regions served; a request signed for another is refused. Commented out: AWS's commercial regions.",
    "grant_propagation_delay": "Seconds before a new grant works without its token and a retired one stops (AWS-like).",
    "grant_refresh_interval": "Seconds between reads of the grant change feed (<0: 0 on SQLite, 1 on PostgreSQL).",
    "sqlite_synchronous": 'SQLite durability: "full" (survives power loss) or "normal" (survives process crashes).',
    "audit_flush_interval": "Seconds between batched writes of audit events of calls that change nothing.",
    "audit_retention_days": "Days audit events are kept (0: forever).",
    "audit_max_events": "Audit events kept at most, the oldest deleted first (0: no bound).",
    "cache_keys": "Keys (with their policies), alias targets, accounts and principals each process keeps.",
    "cache_key_material": "Unwrapped key material versions each process keeps, ready for use.",
    "cache_grant_sets": "(key, grantee) sets of grants each process keeps.",
    "cache_credentials": "Access keys each process keeps verified callers for.",
    "cache_policies": "Parsed policy documents each process keeps.",
    "cache_identity_policies": "Principals whose identity policies each process keeps.",
    "cache_decisions": "Decisions no condition can change, kept per process.",
    "cache_megabytes": "Megabytes each cache of documents (keys, parsed and identity policies) may hold.",
    "console": "Serve the web console under /console/.",
    "console_idle_minutes": "Minutes a console session may stay unused before it ends.",
}


def render_config(settings: Settings) -> str:
    """A trent.toml holding every setting, each with a comment; `data_dir` and `store` stay implicit."""
    lines = ["# Trent configuration. Environment variables TRENT_<NAME> and command-line flags override it.", ""]
    for name in _FIELDS:
        value = getattr(settings, name)
        lines.append(f"# {_COMMENTS.get(name, name)}")
        if name == "data_dir":
            lines.append('# data_dir = "."')
        elif name == "root_key" and not str(value).startswith("pkcs11:"):
            lines.append('# root_key = ""')  # a key itself (TRENT_ROOT_KEY) is never written to a file
        elif name == "workers" and value == usable_cores():
            lines.append(f"# workers = {value}")  # left to the machine the server runs on
        elif name == "regions":
            lines.extend(_render_regions(value))
        elif isinstance(value, bool):
            lines.append(f"{name} = {'true' if value else 'false'}")
        elif isinstance(value, int | float):
            lines.append(f"{name} = {value}")
        else:
            lines.append(f"{name} = {json.dumps(str(value))}")
        lines.append("")
    return "\n".join(lines)


def _render_regions(regions: tuple[str, ...]) -> list[str]:
    """`regions` as a TOML array; commented out while it is the default, so that the default stays current."""
    prefix = "# " if regions == AWS_COMMERCIAL_REGIONS else ""
    lines = [f"{prefix}regions = ["]
    line = ""
    for name in regions:
        item = f"{json.dumps(name)},"
        if line and len(line) + 1 + len(item) > 96:
            lines.append(f"{prefix}    {line}")
            line = ""
        line = f"{line} {item}" if line else item
    if line:
        lines.append(f"{prefix}    {line}")
    lines.append(f"{prefix}]")
    return lines


def _region_list(value: Any) -> tuple[str, ...]:
    """A TOML array of names, or comma-separated names (environment, command line); repeats dropped."""
    if isinstance(value, str):
        names = [part.strip() for part in value.split(",")]
        names = [name for name in names if name]
    elif isinstance(value, list | tuple) and all(isinstance(name, str) for name in value):
        names = [name.strip() for name in value]
    else:
        raise ValueError(value)
    return tuple(dict.fromkeys(names))


def _coerce(name: str, value: Any, source: str) -> Any:
    default = getattr(Settings(), name)
    try:
        if isinstance(default, tuple):
            return _region_list(value)
        if isinstance(default, bool):
            if isinstance(value, bool):
                return value
            text = str(value).strip().lower()
            if text in ("1", "true", "yes", "on"):
                return True
            if text in ("0", "false", "no", "off", ""):
                return False
            raise ValueError(value)
        if isinstance(default, int):
            if isinstance(value, bool):
                raise ValueError(value)
            return int(value)
        if isinstance(default, float):
            return float(value)
        if isinstance(default, Path):
            return Path(str(value))
        return str(value)
    except (TypeError, ValueError):
        raise ConfigError(f"{source}: {name} has an invalid value {value!r}") from None


def load_settings(
    config_file: Path | None = None,
    overrides: dict[str, Any] | None = None,
    environ: dict[str, str] | None = None,
) -> Settings:
    """Effective settings: defaults < TOML file < TRENT_* environment < `overrides` (command-line flags)."""
    environ = dict(os.environ) if environ is None else environ
    values: dict[str, Any] = {}
    path = config_file or (Path(environ["TRENT_CONFIG"]) if environ.get("TRENT_CONFIG") else None)
    if path is None:
        # The data directory's own trent.toml (written by `trent init`) applies when no file is named.
        data_dir = (overrides or {}).get("data_dir") or environ.get("TRENT_DATA_DIR") or Settings().data_dir
        candidate = Path(data_dir) / "trent.toml"
        if candidate.is_file():
            path = candidate
    if path is not None:
        try:
            data = tomllib.loads(path.read_text())
        except FileNotFoundError:
            raise ConfigError(f"configuration file {path} does not exist") from None
        except tomllib.TOMLDecodeError as exc:
            raise ConfigError(f"configuration file {path} is not valid TOML: {exc}") from None
        for name, value in data.items():
            if name not in _FIELDS:
                raise ConfigError(f"{path}: unknown setting {name!r}")
            values[name] = _coerce(name, value, str(path))
    for name in _FIELDS:
        env_name = f"TRENT_{name.upper()}"
        if env_name in environ:
            values[name] = _coerce(name, environ[env_name], env_name)
    for name, value in (overrides or {}).items():
        if value is not None:
            values[name] = _coerce(name, value, f"--{name.replace('_', '-')}")
    if path is not None and "data_dir" not in values:
        values["data_dir"] = path.parent
    return Settings(**values).validate()
