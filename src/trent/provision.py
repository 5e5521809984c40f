"""`trent init`: the store, the root key, the default account, an administrator and the client files.

Re-running it changes nothing that exists; it only adds what is missing.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from trent.api.identity import (
    ADMIN_POLICY,
    create_access_key,
    create_account,
    create_user,
    put_identity_policy,
)
from trent.bootstrap import build_store
from trent.config import Settings, render_config
from trent.crypto.rootkey import write_secret_file
from trent.domain.identities import user_arn
from trent.storage.rotation import start_with_a_data_key
from trent.storage.store import Store

ADMIN_USER = "admin"


@dataclass
class InitReport:
    data_dir: str
    created: list[str] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)


def initialize(settings: Settings, account: str | None = None) -> InitReport:
    account = account or settings.default_account
    data_dir = Path(settings.data_dir)
    report = InitReport(str(data_dir.resolve()))
    had_root_key = settings.root_key_path.exists()
    store = build_store(settings, create_root_key=True)
    try:
        if not had_root_key and settings.root_key_path.exists():
            report.created.append(str(settings.root_key_path))
        store.migrate()
        if not store.check_root_key():
            store.write_root_key_check()
            report.created.append("store")
            if store.root_key.held_in_hsm:
                start_with_a_data_key(store)
        if create_account(store, account):
            report.created.append(f"account {account}")
        _remember_default_account(store, account)
        credentials = _ensure_admin(store, account, report)
        _write_client_files(settings, store, account, credentials, report)
        _write_config_file(settings, report)
    finally:
        store.dispose()
    return report


def _remember_default_account(store: Store, account: str) -> None:
    with store.transaction() as tx:
        if tx.meta.get("default_account") is None:
            tx.meta.put("default_account", account.encode())


def _ensure_admin(store: Store, account: str, report: InitReport) -> tuple[str, str] | None:
    """Create the administrator user once; returns its new access key pair when one was made."""
    arn = user_arn(account, ADMIN_USER)
    with store.transaction(write=False) as tx:
        exists = tx.identities.get_principal(arn) is not None
    if exists:
        return None
    _, key = create_user(store, account, ADMIN_USER)
    put_identity_policy(store, arn, "AdministratorAccess", ADMIN_POLICY)
    report.created.append(arn)
    return key.access_key_id, key.secret_access_key


def _write_config_file(settings: Settings, report: InitReport) -> None:
    path = Path(settings.data_dir) / "trent.toml"
    if not path.exists():
        write_secret_file(path, render_config(settings))  # private: a store URL may carry a password
        report.created.append(str(path))


def add_profile(data_dir: Path, profile: str, access_key_id: str, secret_access_key: str) -> None:
    """Add a profile to the data directory's `credentials` (mode 0600) and `aws-config` (the default profile's
    region and endpoint), so that `AWS_PROFILE=<profile>` clients sign as its key.

    :raises ValueError: the profile exists already, or `trent init` has not written the files.
    """
    import configparser

    credentials_path, config_path = data_dir / "credentials", data_dir / "aws-config"
    credentials, config = configparser.ConfigParser(), configparser.ConfigParser()
    if not credentials.read(credentials_path) or not config.read(config_path) or "default" not in config:
        raise ValueError(f"{data_dir} has no credentials and aws-config files: run `trent init` first")
    if not profile.replace("-", "").replace("_", "").isalnum() or profile == "default":
        raise ValueError(f"profile name {profile!r} must be letters, digits, - and _ (and not 'default')")
    if profile in credentials or f"profile {profile}" in config:
        raise ValueError(f"profile {profile} exists already in {data_dir}")
    with credentials_path.open("a") as handle:  # the file is 0600 from `trent init`; appending keeps its mode
        handle.write(
            f"\n[{profile}]\naws_access_key_id = {access_key_id}\naws_secret_access_key = {secret_access_key}\n"
        )
    default = config["default"]
    with config_path.open("a") as handle:
        handle.write(f"\n[profile {profile}]\n" + "".join(f"{k} = {v}\n" for k, v in default.items()))


def _write_client_files(
    settings: Settings, store: Store, account: str, credentials: tuple[str, str] | None, report: InitReport
) -> None:
    data_dir = Path(settings.data_dir)
    credentials_path = data_dir / "credentials"
    if not credentials_path.exists():
        if credentials is None:
            # The file was removed, or the store was restored without it: issue the administrator a fresh key
            # rather than reuse a secret, and say so (the keys it had before still work).
            key = create_access_key(store, user_arn(account, ADMIN_USER))
            credentials = (key.access_key_id, key.secret_access_key)
            report.warnings.append(
                f"{credentials_path} was missing: a new access key {key.access_key_id} was made for "
                f"{user_arn(account, ADMIN_USER)} and written there (copy the credentials file with a restored "
                "store to keep using the old key; `trent admin access-key delete` removes keys no longer wanted)"
            )
        write_secret_file(
            credentials_path,
            f"[default]\naws_access_key_id = {credentials[0]}\naws_secret_access_key = {credentials[1]}\n",
        )
        report.created.append(str(credentials_path))
    config_path = data_dir / "aws-config"
    if not config_path.exists():
        host = "127.0.0.1" if settings.host in ("0.0.0.0", "::") else settings.host  # noqa: S104
        config_path.write_text(f"[default]\nregion = {settings.region}\nendpoint_url = http://{host}:{settings.port}\n")
        report.created.append(str(config_path))
