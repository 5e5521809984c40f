"""A root key held in an HSM, end to end through boto3 (issue 20): SoftHSM2 as the HSM, `trent init` and
`trent serve` with a pkcs11: URI, two workers, a restart; a wrong PIN refused at start; and a store whose root key
is a file moved into the HSM by `trent admin root-key replace`, online."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.conftest import SoftHsmToken
from tests.server import TrentServer

ACCOUNT = "000000000000"


def test_a_root_key_in_an_hsm_serves_everything_and_survives_a_restart(softhsm: SoftHsmToken, tmp_path: Path) -> None:
    trent = TrentServer(tmp_path / "data", env={"TRENT_ROOT_KEY": softhsm.uri}, workers=2)
    trent.init(spawn=True)
    assert not (trent.data_dir / "root.key").exists()  # nothing of the root key on disk
    trent.start()
    try:
        kms = trent.client("kms")
        key_id = kms.create_key()["KeyMetadata"]["KeyId"]
        blob = kms.encrypt(KeyId=key_id, Plaintext=b"held by the HSM")["CiphertextBlob"]
        alice = trent.admin("user", "create", ACCOUNT, "alice")
        grant = kms.create_grant(
            KeyId=key_id, GranteePrincipal=f"arn:aws:iam::{ACCOUNT}:user/alice", Operations=["Decrypt"]
        )
        as_alice = trent.client("kms", alice["AccessKeyId"], alice["SecretAccessKey"])
        decrypted = as_alice.decrypt(CiphertextBlob=blob, GrantTokens=[grant["GrantToken"]])
        assert decrypted["Plaintext"] == b"held by the HSM"
        status = trent.admin("root-key", "status")
        versions = {entry["version"]: entry for entry in status["versions"]}
        # The HSM's key wraps only version 1's data key: nothing at all is wrapped under it directly.
        assert versions[0]["retired"] is not None and sum(versions[0]["wrapped"].values()) == 0
        assert versions[1]["newest"] and sum(versions[1]["wrapped"].values()) >= 3
        trent.stop()
        trent.start()
        kms = trent.client("kms")
        assert kms.decrypt(CiphertextBlob=blob)["Plaintext"] == b"held by the HSM"
        assert as_alice.decrypt(CiphertextBlob=blob, GrantTokens=[grant["GrantToken"]])["KeyId"].endswith(key_id)
    finally:
        trent.stop()
    # A wrong PIN: the server refuses to start and says why; it does not fall back to anything.
    softhsm.pin_file.write_text("0000\n")
    with pytest.raises(RuntimeError, match="refused the PIN"):
        trent.start()
    assert "Traceback" not in trent.log()


def test_a_file_root_key_moves_into_the_hsm_while_the_server_serves(softhsm: SoftHsmToken, tmp_path: Path) -> None:
    trent = TrentServer(tmp_path / "data")
    trent.init(spawn=True)
    trent.start()
    try:
        kms = trent.client("kms")
        key_ids = [kms.create_key()["KeyMetadata"]["KeyId"] for _ in range(3)]
        blobs = {key_id: kms.encrypt(KeyId=key_id, Plaintext=key_id.encode())["CiphertextBlob"] for key_id in key_ids}
        alice = trent.admin("user", "create", ACCOUNT, "alice")
        grant = kms.create_grant(
            KeyId=key_ids[0], GranteePrincipal=f"arn:aws:iam::{ACCOUNT}:user/alice", Operations=["Decrypt"]
        )
        marker = kms.list_keys(Limit=1)["NextMarker"]
        moved = trent.admin("root-key", "replace", "--new-root-key", softhsm.uri)
        assert moved["rewrapped"] is True
        for key_id, blob in blobs.items():  # still served with the file key meanwhile
            assert kms.decrypt(CiphertextBlob=blob)["Plaintext"] == key_id.encode()
        trent.stop()
        trent.env["TRENT_ROOT_KEY"] = softhsm.uri
        trent.start()
        assert trent.admin("root-key", "retire-old") == {"retired": [0]}
        (trent.data_dir / "root.key").unlink()  # the file key opens nothing any more
        kms = trent.client("kms")
        for key_id, blob in blobs.items():
            assert kms.decrypt(CiphertextBlob=blob)["Plaintext"] == key_id.encode()
        as_alice = trent.client("kms", alice["AccessKeyId"], alice["SecretAccessKey"])
        token = grant["GrantToken"]  # made under the file key: the derived keys were kept
        assert as_alice.decrypt(CiphertextBlob=blobs[key_ids[0]], GrantTokens=[token])["Plaintext"]
        assert kms.list_keys(Limit=1, Marker=marker)["Keys"]
        held = {
            entry["version"]: sum(entry["wrapped"].values())
            for entry in trent.admin("root-key", "status")["versions"]
            if sum(entry["wrapped"].values())
        }
        assert list(held) == [1]
    finally:
        trent.stop()
