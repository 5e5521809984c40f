"""Restarts, key material at rest, the root key, `trent init` and the AWS CLI."""

from __future__ import annotations

import base64
import json
import os
import shutil
import stat
import subprocess
from pathlib import Path

import pytest

from tests.server import TrentServer
from trent.crypto.rootkey import RootKey, decode_root_key
from trent.storage.store import Store


def _raw_materials(data_dir: Path, store_url: str | None = None) -> list[bytes]:
    """Every key material the store holds, unwrapped (imported material that was deleted or expired holds none)."""
    root_key = RootKey(decode_root_key((data_dir / "root.key").read_text(), "root.key"))
    store = Store(store_url or f"sqlite:///{data_dir / 'trent.db'}", root_key)
    try:
        with store.engine.connect() as conn:
            rows = conn.exec_driver_sql("SELECT key_id, version FROM key_materials").all()
        with store.transaction(write=False) as tx:
            materials = []
            for key_id, version in rows:
                material = tx.keys.material(key_id, version)
                assert material is not None
                if material.material is not None:
                    materials.append(material.material)
        return materials
    finally:
        store.dispose()


def test_restart_keeps_everything_and_no_material_is_stored_in_clear(fresh_server: TrentServer) -> None:
    fresh_server.init(spawn=True)
    fresh_server.start()
    kms = fresh_server.client("kms")
    symmetric = kms.create_key(Description="keep me", Tags=[{"TagKey": "k", "TagValue": "v"}])["KeyMetadata"]
    kms.create_alias(AliasName="alias/keep", TargetKeyId=symmetric["KeyId"])
    kms.rotate_key_on_demand(KeyId=symmetric["KeyId"])
    hmac_key = kms.create_key(KeySpec="HMAC_256", KeyUsage="GENERATE_VERIFY_MAC")["KeyMetadata"]
    ec_key = kms.create_key(KeySpec="ECC_NIST_P256", KeyUsage="SIGN_VERIFY")["KeyMetadata"]
    kms.disable_key(KeyId=hmac_key["KeyId"])
    before = {k["KeyId"]: kms.describe_key(KeyId=k["KeyId"])["KeyMetadata"] for k in (symmetric, hmac_key, ec_key)}
    fresh_server.stop()

    # Nothing secret in the clear in any file of the store (database, WAL, shared memory).
    materials = _raw_materials(fresh_server.data_dir)
    assert len(materials) == 4
    _, admin_secret = fresh_server.admin_credentials()
    files = [p for p in fresh_server.data_dir.iterdir() if p.name.startswith("trent.db")]
    assert files
    for path in files:
        content = path.read_bytes()
        for material in materials:
            assert material not in content
            assert base64.b64encode(material) not in content
        assert admin_secret.encode() not in content

    fresh_server.start()
    kms = fresh_server.client("kms")
    after = {key_id: kms.describe_key(KeyId=key_id)["KeyMetadata"] for key_id in before}
    assert after == before
    assert kms.describe_key(KeyId="alias/keep")["KeyMetadata"]["KeyId"] == symmetric["KeyId"]
    assert kms.list_resource_tags(KeyId=symmetric["KeyId"])["Tags"] == [{"TagKey": "k", "TagValue": "v"}]
    assert len(kms.list_key_rotations(KeyId=symmetric["KeyId"])["Rotations"]) == 1


def test_secret_files_are_private(fresh_server: TrentServer) -> None:
    fresh_server.init(spawn=True)
    for name in ("root.key", "credentials", "trent.db"):
        mode = stat.S_IMODE((fresh_server.data_dir / name).stat().st_mode)
        assert mode == 0o600, f"{name} has mode {mode:o}"


def test_init_is_idempotent(fresh_server: TrentServer) -> None:
    first = json.loads(fresh_server.init(spawn=True).stdout)
    assert any("credentials" in item for item in first["created"])
    snapshot = {p.name: p.read_bytes() for p in fresh_server.data_dir.iterdir() if not p.name.startswith("trent.db")}
    second = json.loads(fresh_server.init(spawn=True).stdout)
    assert second["created"] == []
    assert {
        p.name: p.read_bytes() for p in fresh_server.data_dir.iterdir() if not p.name.startswith("trent.db")
    } == snapshot


def test_wrong_root_key_refuses_to_start(fresh_server: TrentServer) -> None:
    fresh_server.init(spawn=True)
    (fresh_server.data_dir / "root.key").unlink()
    other = base64.b64encode(os.urandom(32)).decode()
    result = subprocess.run(
        [
            *fresh_server.trent("--version").args[:3],
            "serve",
            "--data-dir",
            str(fresh_server.data_dir),
            "--port",
            str(fresh_server.port),
        ],
        capture_output=True,
        text=True,
        env={**os.environ, "TRENT_ROOT_KEY": other},
        timeout=60,
        check=False,
    )
    assert result.returncode != 0
    assert "root key does not match this store" in result.stderr


def test_root_key_from_environment(fresh_server: TrentServer) -> None:
    fresh_server.init(spawn=True)
    root_key = (fresh_server.data_dir / "root.key").read_text().strip()
    (fresh_server.data_dir / "root.key").unlink()
    fresh_server.env["TRENT_ROOT_KEY"] = root_key
    fresh_server.start()
    assert fresh_server.client("kms").create_key()["KeyMetadata"]["KeyState"] == "Enabled"
    assert not (fresh_server.data_dir / "root.key").exists()


@pytest.mark.skipif(
    shutil.which("aws", path=str(Path(os.sys.executable).parent)) is None,
    reason="the AWS CLI (dev extra 'awscli') is not installed in this environment",
)
def test_aws_cli_works_with_only_the_files_init_writes(fresh_server: TrentServer) -> None:
    fresh_server.init(spawn=True)
    fresh_server.start()
    aws = str(Path(os.sys.executable).parent / "aws")
    env = {k: v for k, v in os.environ.items() if not k.startswith("AWS_")}
    env["AWS_CONFIG_FILE"] = str(fresh_server.data_dir / "aws-config")
    env["AWS_SHARED_CREDENTIALS_FILE"] = str(fresh_server.data_dir / "credentials")

    def cli(*args: str) -> dict[str, object]:
        result = subprocess.run(
            [aws, "kms", *args, "--output", "json"],
            capture_output=True,
            text=True,
            env=env,
            timeout=60,
            check=False,
        )
        assert result.returncode == 0, result.stderr
        return json.loads(result.stdout) if result.stdout.strip() else {}

    key = cli("create-key", "--description", "from the cli")["KeyMetadata"]
    assert isinstance(key, dict)
    key_id = key["KeyId"]
    cli("create-alias", "--alias-name", "alias/cli", "--target-key-id", key_id)
    cli("tag-resource", "--key-id", key_id, "--tags", "TagKey=team,TagValue=ops")
    cli("disable-key", "--key-id", key_id)
    cli("enable-key", "--key-id", key_id)
    cli("enable-key-rotation", "--key-id", key_id)
    cli("rotate-key-on-demand", "--key-id", key_id)
    assert cli("describe-key", "--key-id", "alias/cli")["KeyMetadata"]["KeyId"] == key_id  # type: ignore[index]
    listed = cli("list-keys")["Keys"]
    assert key_id in [k["KeyId"] for k in listed]  # type: ignore[union-attr]
    deletion = cli("schedule-key-deletion", "--key-id", key_id, "--pending-window-in-days", "7")
    assert deletion["KeyState"] == "PendingDeletion"
    cli("cancel-key-deletion", "--key-id", key_id)
