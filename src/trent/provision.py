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
from trent.storage.store import Store

ADMIN_USER = "admin"


@dataclass
class InitReport:
    data_dir: str
    created: list[str] = field(default_factory=list)


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


def _write_client_files(
    settings: Settings, store: Store, account: str, credentials: tuple[str, str] | None, report: InitReport
) -> None:
    data_dir = Path(settings.data_dir)
    credentials_path = data_dir / "credentials"
    if not credentials_path.exists():
        if credentials is None:
            # The file was removed: issue the administrator a fresh key rather than reuse a secret.
            key = create_access_key(store, user_arn(account, ADMIN_USER))
            credentials = (key.access_key_id, key.secret_access_key)
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
