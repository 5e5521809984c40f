"""Online backup of a live server's SQLite store, and restore into an identical store."""

from __future__ import annotations

import json
import sqlite3
import stat
from pathlib import Path

from tests.server import TrentServer


def dump(database: Path) -> list[tuple[object, ...]]:
    connection = sqlite3.connect(database)
    try:
        rows: list[tuple[object, ...]] = []
        for table in ("keys", "key_materials", "aliases", "tags", "grants", "principals", "access_keys"):
            rows += [(table, *row) for row in connection.execute(f"SELECT * FROM {table} ORDER BY 1, 2")]
        return rows
    finally:
        connection.close()


def test_backup_of_a_live_server_restores_identically(fresh_server: TrentServer, tmp_path: Path) -> None:
    fresh_server.init()
    fresh_server.start()
    kms = fresh_server.client("kms")
    keys = [kms.create_key(Tags=[{"TagKey": "n", "TagValue": str(i)}])["KeyMetadata"]["KeyId"] for i in range(5)]
    kms.create_alias(AliasName="alias/backed-up", TargetKeyId=keys[0])
    blob = kms.encrypt(KeyId=keys[0], Plaintext=b"survives")["CiphertextBlob"]
    kms.create_grant(KeyId=keys[1], GranteePrincipal="arn:aws:iam::000000000000:user/admin", Operations=["Encrypt"])
    backup = tmp_path / "trent-backup.db"
    result = fresh_server.trent("backup", str(fresh_server.data_dir), str(backup))
    assert "backed up" in result.stderr
    assert stat.S_IMODE(backup.stat().st_mode) == 0o600
    snapshot = dump(backup)
    later = kms.create_key()["KeyMetadata"]["KeyId"]  # after the backup: must not come back
    serving = fresh_server.trent("restore", str(backup), str(fresh_server.data_dir), "--force", check=False)
    assert serving.returncode != 0 and "a server is serving" in serving.stderr  # it would break the live store
    assert kms.describe_key(KeyId=later)["KeyMetadata"]["KeyId"] == later  # nothing was touched
    fresh_server.stop()

    refused = fresh_server.trent("restore", str(backup), str(fresh_server.data_dir), check=False)
    assert refused.returncode != 0 and "--force" in refused.stderr
    fresh_server.trent("restore", str(backup), str(fresh_server.data_dir), "--force")
    assert dump(fresh_server.data_dir / "trent.db") == snapshot

    fresh_server.start()
    kms = fresh_server.client("kms")
    listed = {k["KeyId"] for k in kms.list_keys()["Keys"]}
    assert set(keys) <= listed and later not in listed
    assert kms.decrypt(CiphertextBlob=blob)["Plaintext"] == b"survives"
    assert kms.describe_key(KeyId="alias/backed-up")["KeyMetadata"]["KeyId"] == keys[0]


def test_restore_refuses_a_foreign_or_damaged_file(fresh_server: TrentServer, tmp_path: Path) -> None:
    fresh_server.init()
    other = TrentServer(tmp_path / "other")
    other.init()
    backup = tmp_path / "other.db"
    other.trent("backup", str(other.data_dir), str(backup))
    result = fresh_server.trent("restore", str(backup), str(fresh_server.data_dir), "--force", check=False)
    assert result.returncode != 0 and "another root key" in result.stderr
    garbage = tmp_path / "garbage.db"
    garbage.write_bytes(b"not a database" * 100)
    result = fresh_server.trent("restore", str(garbage), str(fresh_server.data_dir), "--force", check=False)
    assert result.returncode != 0


def test_restoring_into_a_fresh_directory_needs_the_root_key_and_says_what_it_makes(
    fresh_server: TrentServer, tmp_path: Path
) -> None:
    import shutil

    fresh_server.init()
    backup = tmp_path / "b.db"
    fresh_server.trent("backup", str(fresh_server.data_dir), str(backup))
    elsewhere = TrentServer(tmp_path / "elsewhere")
    refused = elsewhere.trent("restore", str(backup), str(elsewhere.data_dir), check=False)
    assert refused.returncode != 0 and "root.key" in refused.stderr and "no root key" in refused.stderr
    elsewhere.data_dir.mkdir(parents=True, exist_ok=True)
    shutil.copy2(fresh_server.data_dir / "root.key", elsewhere.data_dir / "root.key")
    elsewhere.trent("restore", str(backup), str(elsewhere.data_dir))
    initialized = json.loads(elsewhere.init().stdout)  # no credentials file copied: a new administrator key
    assert "a new access key" in " ".join(initialized.get("warnings", []))
