"""Rotating the root key online (issue 20), on SQLite and on two PostgreSQL nodes.

While the servers serve a load of writes and reads through boto3, `trent admin root-key rotate` and then `rewrap`
are killed with SIGKILL in the middle of the re-wrap, then a server is killed while it carries the re-wrap on by
itself. Afterwards: no request of the load failed, every ciphertext the load was given decrypts on every server,
the grant made before works with and without its token, the access keys made during the rotation authenticate,
nothing is left under the old version, retiring it succeeds, and all of it still holds after a restart.
"""

from __future__ import annotations

import base64
import os
import random
import signal
import subprocess
import sys
import threading
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.server import TrentServer, create_database, drop_database, postgres_admin_url
from trent.crypto.rootkey import RootKey, decode_root_key
from trent.domain.identities import AccessKey, Principal, PrincipalType
from trent.storage.store import Store

ACCOUNT = "000000000000"
#: Secrets added straight into the store, so that the re-wrap lasts long enough to be killed in its middle.
BULK_SECRETS = 12_000


class Load(threading.Thread):
    """Encrypt, Decrypt and CreateKey in turn, on each server; every answer must be a success."""

    def __init__(self, servers: list[TrentServer], key_ids: list[str]) -> None:
        super().__init__(daemon=True)
        self.clients = [server.client("kms") for server in servers]
        self.key_ids = list(key_ids)
        self.ciphertexts: list[tuple[bytes, bytes]] = []
        self.failures: list[str] = []
        self.calls = 0
        #: Servers (by index) the load leaves alone while the test restarts or kills them.
        self.down: set[int] = set()
        self.stopping = threading.Event()
        self.rng = random.Random(20)

    def run(self) -> None:
        turn = 0
        while not self.stopping.is_set():
            turn += 1
            if turn % len(self.clients) in self.down:
                time.sleep(0.001)
                continue
            kms = self.clients[turn % len(self.clients)]
            self.calls += 1
            try:
                choice = self.rng.random()
                if choice < 0.1:
                    self.key_ids.append(kms.create_key()["KeyMetadata"]["KeyId"])
                elif choice < 0.6 or not self.ciphertexts:
                    plaintext = os.urandom(32)
                    blob = kms.encrypt(KeyId=self.rng.choice(self.key_ids), Plaintext=plaintext)["CiphertextBlob"]
                    self.ciphertexts.append((blob, plaintext))
                else:
                    blob, plaintext = self.rng.choice(self.ciphertexts)
                    assert kms.decrypt(CiphertextBlob=blob)["Plaintext"] == plaintext
            except Exception as exc:  # every failure is reported, none is expected
                self.failures.append(f"{type(exc).__name__}: {exc}")

    def stop(self) -> None:
        self.stopping.set()
        self.join(timeout=30)


def store_of(server: TrentServer) -> Store:
    """The server's store, opened in this process (for bulk secrets and status)."""
    encoded = server.env.get("TRENT_ROOT_KEY") or (server.data_dir / "root.key").read_text()
    url = server.store_url or f"sqlite:///{server.data_dir / 'trent.db'}"
    return Store(url, RootKey(decode_root_key(encoded, "root key")))


def add_bulk_secrets(store: Store, count: int) -> None:
    principal = Principal(
        f"arn:aws:iam::{ACCOUNT}:user/bulk", ACCOUNT, PrincipalType.USER, "bulk", "AIDABULK", None, 1.0
    )
    with store.transaction() as tx:
        tx.identities.add_principal(principal)
        for n in range(count):
            tx.identities.add_access_key(AccessKey(f"AKIABULK{n:012d}", principal.arn, f"bulk-secret-{n}", 2.0))


def rewrap_status(server: TrentServer) -> dict[str, Any]:
    return server.admin("root-key", "status")["rewrap"]  # type: ignore[no-any-return]


def killed_midway(server: TrentServer, *command: str) -> dict[str, Any]:
    """Run `trent admin COMMAND` in its own process and SIGKILL it once it has re-wrapped something and before it
    has finished; returns the re-wrap's status at the kill."""
    process = subprocess.Popen(
        [sys.executable, "-m", "trent", "admin", "--data-dir", str(server.data_dir), *server._store_args(), *command],
        env=server.env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    before = rewrap_status(server)
    start = before["processed"] if before is not None and before["finished"] is None else 0
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        current = rewrap_status(server)
        if current is not None and current["finished"] is None and current["processed"] > start:
            break
        time.sleep(0.02)
    process.send_signal(signal.SIGKILL)
    process.wait()
    at_kill = rewrap_status(server)
    assert at_kill is not None and at_kill["finished"] is None, f"the re-wrap ended before the kill: {at_kill}"
    assert 0 < at_kill["processed"] < at_kill["total"]
    return at_kill


def versions_holding_secrets(server: TrentServer) -> dict[int, int]:
    status = server.admin("root-key", "status")
    return {
        entry["version"]: sum(entry["wrapped"].values())
        for entry in status["versions"]
        if sum(entry["wrapped"].values())
    }


def check_everything(servers: list[TrentServer], load: Load, grant: dict[str, Any], alice: tuple[str, str]) -> None:
    for server in servers:
        kms = server.client("kms")
        for blob, plaintext in load.ciphertexts:
            assert kms.decrypt(CiphertextBlob=blob)["Plaintext"] == plaintext
        as_alice = server.client("kms", *alice)
        for tokens in ([grant["token"]], []):
            answer = as_alice.encrypt(KeyId=grant["key"], Plaintext=b"x", GrantTokens=tokens)
            assert answer["KeyId"].endswith(grant["key"])


@pytest.fixture(params=["sqlite", "postgresql"])
def servers(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[list[TrentServer]]:
    """One SQLite server; or two nodes over one PostgreSQL database. The maintenance pass runs once at start, then
    hourly: the server takes the re-wrap over only when the test restarts it."""
    env = {"TRENT_MAINTENANCE_INTERVAL": "3600"}
    if request.param == "sqlite":
        nodes = [TrentServer(tmp_path / "data", env=env)]
        database = None
    else:
        admin_url = postgres_admin_url()
        if admin_url is None:
            pytest.skip("PostgreSQL tests need TRENT_TEST_POSTGRES_URL (e.g. postgresql://postgres@127.0.0.1/test)")
        url, database = create_database(admin_url)
        env["TRENT_ROOT_KEY"] = base64.b64encode(os.urandom(32)).decode()
        nodes = [TrentServer(tmp_path / name, env=env, store_url=url) for name in ("a", "b")]
    for node in nodes:
        node.init()
        node.start()
    yield nodes
    for node in nodes:
        node.stop()
    if database is not None:
        drop_database(postgres_admin_url() or "", database)


def test_rotation_survives_kills_of_the_command_and_of_a_server_under_load(servers: list[TrentServer]) -> None:
    first = servers[0]
    kms = first.client("kms")
    key_ids = [kms.create_key()["KeyMetadata"]["KeyId"] for _ in range(10)]
    alice_keys = first.admin("user", "create", ACCOUNT, "alice")
    alice = (alice_keys["AccessKeyId"], alice_keys["SecretAccessKey"])
    alice_arn = f"arn:aws:iam::{ACCOUNT}:user/alice"
    made = kms.create_grant(KeyId=key_ids[0], GranteePrincipal=alice_arn, Operations=["Encrypt"])
    grant = {"key": key_ids[0], "token": made["GrantToken"]}
    store = store_of(first)
    try:
        add_bulk_secrets(store, BULK_SECRETS)
    finally:
        store.dispose()
    load = Load(servers, key_ids)
    load.start()
    try:
        # The command that rotates is killed in the middle of its re-wrap, and so is the command that resumes it.
        killed_midway(first, "root-key", "rotate")
        assert set(versions_holding_secrets(first)) == {0, 1}
        refused = first.admin_run("root-key", "retire-old", check=False)
        assert refused.returncode != 0 and "still wrapped under an older root-key version" in refused.stderr
        killed_midway(first, "root-key", "rewrap")
        # Credentials made during the rotation are wrapped under the new version, and work.
        bob_keys = first.admin("user", "create", ACCOUNT, "bob")
        bob = (bob_keys["AccessKeyId"], bob_keys["SecretAccessKey"])
        # A server takes the re-wrap over when it starts, and is killed in the middle of it.
        victim = servers[-1]
        load.down.add(len(servers) - 1)
        time.sleep(0.5)  # the calls under way end
        victim.stop()
        victim.start()
        deadline = time.monotonic() + 60
        at_start = rewrap_status(victim)["processed"]
        while rewrap_status(victim)["processed"] <= at_start and time.monotonic() < deadline:
            time.sleep(0.02)
        assert victim.process is not None
        victim.process.send_signal(signal.SIGKILL)
        victim.process.wait()
        victim.process = None
        assert rewrap_status(victim)["finished"] is None
        victim.start()  # and finishes it
        load.down.clear()
        while rewrap_status(victim)["finished"] is None and time.monotonic() < deadline:
            time.sleep(0.1)
        assert rewrap_status(victim)["finished"] is not None, victim.log()
    finally:
        load.stop()
    assert load.failures == [], load.failures[:5]
    assert load.calls > 100 and load.ciphertexts
    held = versions_holding_secrets(first)
    assert list(held) == [1] and held[1] >= BULK_SECRETS + len(load.key_ids) + 3  # materials and access keys
    check_everything(servers, load, grant, alice)
    assert servers[0].client("sts", *bob).get_caller_identity()["Arn"].endswith(":user/bob")
    with urllib.request.urlopen(first.endpoint + "/metrics", timeout=5) as response:
        exposition = response.read().decode()
    assert "trent_root_key_rewrap_version 1.0" in exposition
    assert "trent_root_key_rewrap_progress 1.0" in exposition
    assert first.admin("root-key", "retire-old") == {"retired": [0]}
    check_everything(servers, load, grant, alice)
    for server in servers:
        server.stop()
        server.start()
    check_everything(servers, load, grant, alice)
    events = [event["eventName"] for event in first.audit_events("--event", "RetireRootKeyVersions")]
    assert events == ["RetireRootKeyVersions"]
    print(
        f"ROOT-KEY ROTATION: {len(servers)} server(s), {load.calls} calls under load, "
        f"{len(load.ciphertexts)} ciphertexts checked, {held[1]} secrets re-wrapped"
    )


def test_the_root_key_itself_is_replaced_while_the_servers_serve(servers: list[TrentServer], tmp_path: Path) -> None:
    """`replace` (killed once in its re-wrap, then resumed), the servers moved to the new root key one at a time,
    `retire-old`: the load never fails, grant tokens and pagination markers handed out before still work, and a
    server given the old root key no longer starts."""
    first = servers[0]
    kms = first.client("kms")
    key_ids = [kms.create_key()["KeyMetadata"]["KeyId"] for _ in range(6)]
    alice_keys = first.admin("user", "create", ACCOUNT, "alice")
    alice = (alice_keys["AccessKeyId"], alice_keys["SecretAccessKey"])
    made = kms.create_grant(
        KeyId=key_ids[0], GranteePrincipal=f"arn:aws:iam::{ACCOUNT}:user/alice", Operations=["Encrypt"]
    )
    grant = {"key": key_ids[0], "token": made["GrantToken"]}
    marker = kms.list_keys(Limit=2)["NextMarker"]
    store = store_of(first)
    try:
        add_bulk_secrets(store, BULK_SECRETS)
    finally:
        store.dispose()
    old_key = first.env.get("TRENT_ROOT_KEY") or (first.data_dir / "root.key").read_text().strip()
    new_key = base64.b64encode(os.urandom(32)).decode()
    new_key_file = tmp_path / "new-root.key"
    new_key_file.write_text(new_key + "\n")
    new_key_file.chmod(0o600)
    load = Load(servers, key_ids)
    load.start()
    try:
        killed_midway(first, "root-key", "replace", "--new-root-key-file", str(new_key_file))
        first.admin_run("root-key", "rewrap")  # resumed, with the old root key, until it has finished
        assert rewrap_status(first)["finished"] is not None
        for index, server in enumerate(servers):  # one node at a time
            load.down.add(index)
            time.sleep(0.5)
            server.stop()
            if server.store_url is None:
                (server.data_dir / "root.key").write_text(new_key + "\n")
            server.env["TRENT_ROOT_KEY"] = new_key
            server.start()
            load.down.discard(index)
            time.sleep(0.5)
        assert first.admin("root-key", "retire-old")["retired"] == [0]
        time.sleep(0.5)
    finally:
        load.stop()
    assert load.failures == [], load.failures[:5]
    check_everything(servers, load, grant, alice)
    assert kms.list_keys(Limit=2, Marker=marker)["Keys"]  # a marker from before the replacement
    held = versions_holding_secrets(first)
    assert list(held) == [1]
    # The old root key opens nothing any more: a server given it refuses to start, saying why.
    stale = TrentServer(
        tmp_path / "stale",
        store_url=first.store_url,
        env={"TRENT_ROOT_KEY": old_key, "TRENT_MAINTENANCE_INTERVAL": "3600"},
    )
    if first.store_url is None:
        stale = TrentServer(first.data_dir, env={"TRENT_ROOT_KEY": old_key})
    with pytest.raises(RuntimeError, match="root key does not match this store"):
        stale.start()
    events = [event["eventName"] for event in first.audit_events("--event", "ReplaceRootKey")]
    assert events == ["ReplaceRootKey"]
