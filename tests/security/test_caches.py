"""Every cache on the request path, across worker processes and nodes: a change stops working everywhere at once on
one node (SQLite, several workers), and within the refresh interval on several nodes over PostgreSQL — grants with
and without their token, key state, key policies, aliases, identity policies, access keys — also after the change
feed's rows were purged unread (docs/architecture.md, "Caches").

Fresh boto3 clients open fresh connections, which the kernel spreads over the workers: many of them reach both.
"""

from __future__ import annotations

import base64
import os
import sqlite3
import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from botocore.exceptions import ClientError

from tests.e2e.test_authorization import key_policy, policy_file
from tests.server import TrentServer, create_database, drop_database, postgres_admin_url

A = "000000000000"
A_ROOT = f"arn:aws:iam::{A}:root"
ROOT_STATEMENT = {"Effect": "Allow", "Principal": {"AWS": A_ROOT}, "Action": "kms:*", "Resource": "*"}
ATTEMPTS = 24  # fresh connections per check: both workers answer some of them
REFRESH = 0.5  # grant_refresh_interval of the PostgreSQL nodes


@pytest.fixture(scope="module")
def workers(tmp_path_factory: pytest.TempPathFactory) -> Iterator[TrentServer]:
    trent = TrentServer(tmp_path_factory.mktemp("workers") / "data", extra_args=["--workers", "2"])
    trent.init()
    trent.start()
    yield trent
    trent.stop()


def code_of(call: Callable[[], Any]) -> str | None:
    try:
        call()
    except ClientError as exc:
        return str(exc.response["Error"]["Code"])
    return None


def everywhere(server: TrentServer, call: Callable[[Any], Any], *, user: dict[str, str] | None = None) -> set[Any]:
    """The outcomes (error code, or None for success) of `call(client)` on ATTEMPTS fresh connections."""
    outcomes = set()
    for _ in range(ATTEMPTS):
        if user is None:
            client = server.client("kms")
        else:
            client = server.client("kms", access_key=user["AccessKeyId"], secret_key=user["SecretAccessKey"])
        outcomes.add(code_of(lambda client=client: call(client)))
    return outcomes


def new_user(server: TrentServer, tmp_path: Path, statements: list[dict[str, Any]] | None = None) -> dict[str, str]:
    user: dict[str, str] = server.admin("user", "create", A, f"u{uuid.uuid4().hex[:10]}")
    if statements:
        server.admin("policy", "put", user["Arn"], "inline", policy_file(tmp_path, statements))
    return user


# --- one node, two workers, SQLite -----------------------------------------------------------------------------------
@pytest.mark.parametrize("how", ["revoke", "retire"])
def test_a_deleted_grant_stops_at_once_in_every_worker_with_and_without_its_token(
    workers: TrentServer, tmp_path: Path, how: str
) -> None:
    """Bypass 4: a retired or revoked grant's token kept working in the other worker."""
    admin = workers.client("kms")
    key = admin.create_key()["KeyMetadata"]
    alice = new_user(workers, tmp_path)
    grant = admin.create_grant(
        KeyId=key["Arn"], GranteePrincipal=alice["Arn"], RetiringPrincipal=A_ROOT, Operations=["Encrypt"]
    )
    token = grant["GrantToken"]
    # Both workers load the grant into their views, with and without the token.
    assert everywhere(
        workers, lambda c: c.encrypt(KeyId=key["Arn"], Plaintext=b"x", GrantTokens=[token]), user=alice
    ) == {None}
    assert everywhere(workers, lambda c: c.encrypt(KeyId=key["Arn"], Plaintext=b"x"), user=alice) == {None}
    if how == "revoke":
        admin.revoke_grant(KeyId=key["Arn"], GrantId=grant["GrantId"])
    else:
        admin.retire_grant(GrantToken=token)
    with_token = everywhere(
        workers, lambda c: c.encrypt(KeyId=key["Arn"], Plaintext=b"x", GrantTokens=[token]), user=alice
    )
    without = everywhere(workers, lambda c: c.encrypt(KeyId=key["Arn"], Plaintext=b"x"), user=alice)
    assert with_token == without == {"AccessDeniedException"}


def test_a_revoked_grant_stays_refused_after_the_feed_rows_were_purged_unread(
    workers: TrentServer, tmp_path: Path
) -> None:
    """The purge gap: a worker that had not read the revocation before its feed row was deleted must not keep it,
    neither in its grant view nor among the grants it keeps for tokens."""
    admin = workers.client("kms")
    key = admin.create_key()["KeyMetadata"]
    alice = new_user(workers, tmp_path)
    grant = admin.create_grant(KeyId=key["Arn"], GranteePrincipal=alice["Arn"], Operations=["Encrypt"])
    token = grant["GrantToken"]

    def with_token(c: Any) -> Any:
        return c.encrypt(KeyId=key["Arn"], Plaintext=b"x", GrantTokens=[token])

    assert everywhere(workers, lambda c: c.encrypt(KeyId=key["Arn"], Plaintext=b"x"), user=alice) == {None}
    assert everywhere(workers, with_token, user=alice) == {None}
    admin.revoke_grant(KeyId=key["Arn"], GrantId=grant["GrantId"])
    admin.create_key()  # a newer feed row: the purge never deletes the newest one
    with sqlite3.connect(workers.data_dir / "trent.db") as db:  # what the hourly purge does, right away
        db.execute("DELETE FROM changes WHERE seq < (SELECT MAX(seq) FROM changes)")
    assert everywhere(workers, lambda c: c.encrypt(KeyId=key["Arn"], Plaintext=b"x"), user=alice) == {
        "AccessDeniedException"
    }
    assert everywhere(workers, with_token, user=alice) == {"AccessDeniedException"}


def test_key_state_key_policy_and_alias_changes_apply_at_once_in_every_worker(workers: TrentServer) -> None:
    admin = workers.client("kms")
    key = admin.create_key()["KeyMetadata"]
    other = admin.create_key()["KeyMetadata"]
    alias = f"alias/c{uuid.uuid4().hex[:8]}"
    admin.create_alias(AliasName=alias, TargetKeyId=key["KeyId"])
    assert everywhere(workers, lambda c: c.encrypt(KeyId=alias, Plaintext=b"x")["KeyId"]) == {None}
    admin.update_alias(AliasName=alias, TargetKeyId=other["KeyId"])
    targets = set()
    for _ in range(ATTEMPTS):
        targets.add(workers.client("kms").encrypt(KeyId=alias, Plaintext=b"x")["KeyId"])
    assert targets == {other["Arn"]}
    admin.disable_key(KeyId=other["KeyId"])
    assert everywhere(workers, lambda c: c.encrypt(KeyId=alias, Plaintext=b"x")) == {"DisabledException"}
    deny_encrypt = {"Effect": "Deny", "Principal": {"AWS": "*"}, "Action": "kms:Encrypt", "Resource": "*"}
    admin.put_key_policy(KeyId=key["KeyId"], PolicyName="default", Policy=key_policy(ROOT_STATEMENT, deny_encrypt))
    assert everywhere(workers, lambda c: c.encrypt(KeyId=key["KeyId"], Plaintext=b"x")) == {"AccessDeniedException"}
    admin.delete_alias(AliasName=alias)
    assert everywhere(workers, lambda c: c.encrypt(KeyId=alias, Plaintext=b"x")) == {"NotFoundException"}


def test_identity_policy_changes_made_by_the_admin_command_apply_at_once(workers: TrentServer, tmp_path: Path) -> None:
    """`trent admin` is another process writing the store: its changes reach every worker's cache at once."""
    admin = workers.client("kms")
    key = admin.create_key()["KeyMetadata"]
    alice = new_user(workers, tmp_path, [{"Effect": "Allow", "Action": "kms:Encrypt", "Resource": key["Arn"]}])

    def encrypt(client: Any) -> Any:
        return client.encrypt(KeyId=key["Arn"], Plaintext=b"x")

    assert everywhere(workers, encrypt, user=alice) == {None}
    deny = [{"Effect": "Deny", "Action": "kms:Encrypt", "Resource": "*"}]
    workers.admin("policy", "put", alice["Arn"], "guardrail", policy_file(tmp_path, deny))
    assert everywhere(workers, encrypt, user=alice) == {"AccessDeniedException"}
    workers.admin("policy", "delete", alice["Arn"], "guardrail")
    assert everywhere(workers, encrypt, user=alice) == {None}
    workers.admin("policy", "delete", alice["Arn"], "inline")
    assert everywhere(workers, encrypt, user=alice) == {"AccessDeniedException"}


def test_a_deleted_access_key_is_refused_at_once_in_every_worker(workers: TrentServer, tmp_path: Path) -> None:
    alice = new_user(workers, tmp_path, [{"Effect": "Allow", "Action": "kms:ListKeys", "Resource": "*"}])
    assert everywhere(workers, lambda c: c.list_keys(), user=alice) == {None}
    workers.admin("access-key", "delete", alice["AccessKeyId"])
    assert everywhere(workers, lambda c: c.list_keys(), user=alice) == {"UnrecognizedClientException"}


# --- two nodes over PostgreSQL ----------------------------------------------------------------------------------------
def eventually(check: Callable[[], bool], timeout: float) -> float:
    started = time.monotonic()
    while not check():
        if time.monotonic() - started > timeout:
            raise AssertionError(f"not within {timeout} s")
        time.sleep(0.05)
    return time.monotonic() - started


@pytest.fixture
def two_nodes(tmp_path: Path) -> Iterator[tuple[TrentServer, TrentServer]]:
    admin_url = postgres_admin_url()
    if admin_url is None:
        pytest.skip("the two-node tests need PostgreSQL: set TRENT_TEST_POSTGRES_URL")
    url, name = create_database(admin_url)
    root_key = base64.b64encode(os.urandom(32)).decode()
    nodes = []
    for node in ("a", "b"):
        trent = TrentServer(
            tmp_path / node,
            store_url=url,
            env={"TRENT_ROOT_KEY": root_key},
            extra_args=["--grant-refresh-interval", str(REFRESH)],
        )
        trent.init()
        nodes.append(trent.start())
    yield nodes[0], nodes[1]
    for trent in nodes:
        trent.stop()
    drop_database(admin_url, name)


def test_every_cache_follows_changes_made_on_another_node(
    two_nodes: tuple[TrentServer, TrentServer], tmp_path: Path
) -> None:
    a, b = two_nodes
    admin_a, admin_b = a.client("kms"), b.client("kms")
    key = admin_a.create_key()["KeyMetadata"]
    alice = new_user(a, tmp_path, [{"Effect": "Allow", "Action": "kms:DescribeKey", "Resource": "*"}])
    alice_b = b.client("kms", access_key=alice["AccessKeyId"], secret_key=alice["SecretAccessKey"])
    grant = admin_a.create_grant(KeyId=key["Arn"], GranteePrincipal=alice["Arn"], Operations=["Encrypt"])
    token = grant["GrantToken"]
    bound = REFRESH * 4 + 1

    def encrypt(tokens: list[str]) -> str | None:
        return code_of(lambda: alice_b.encrypt(KeyId=key["Arn"], Plaintext=b"x", GrantTokens=tokens))

    assert encrypt([token]) is None  # a token works at once on the other node
    eventually(lambda: encrypt([]) is None, bound)  # and the grant itself within the refresh bound
    admin_a.revoke_grant(KeyId=key["Arn"], GrantId=grant["GrantId"])
    assert encrypt([token]) == "AccessDeniedException"  # a token of a revoked grant stops at once
    eventually(lambda: encrypt([]) == "AccessDeniedException", bound)
    assert all(encrypt([]) == "AccessDeniedException" for _ in range(10))
    # Key state, read through node B's cache.
    assert code_of(lambda: admin_b.encrypt(KeyId=key["Arn"], Plaintext=b"x")) is None
    admin_a.disable_key(KeyId=key["KeyId"])
    eventually(lambda: code_of(lambda: admin_b.encrypt(KeyId=key["Arn"], Plaintext=b"x")) == "DisabledException", bound)
    # Identity policies, read through node B's cache.
    assert code_of(lambda: alice_b.describe_key(KeyId=key["Arn"])) is None
    a.admin("policy", "delete", alice["Arn"], "inline")
    eventually(lambda: code_of(lambda: alice_b.describe_key(KeyId=key["Arn"])) == "AccessDeniedException", bound)
    # Access keys, through node B's credentials cache.
    a.admin("access-key", "delete", alice["AccessKeyId"])
    eventually(lambda: code_of(lambda: alice_b.describe_key(KeyId=key["Arn"])) == "UnrecognizedClientException", bound)


def test_a_node_that_missed_purged_feed_rows_forgets_what_it_held(
    two_nodes: tuple[TrentServer, TrentServer], tmp_path: Path
) -> None:
    """The purge gap across nodes: node B had the grant in its view; the revocation's feed row is purged before B
    reads it; B must still refuse, because it notices the gap and reloads."""
    import psycopg

    a, b = two_nodes
    admin_a = a.client("kms")
    key = admin_a.create_key()["KeyMetadata"]
    alice = new_user(a, tmp_path)
    alice_b = b.client("kms", access_key=alice["AccessKeyId"], secret_key=alice["SecretAccessKey"])
    grant = admin_a.create_grant(KeyId=key["Arn"], GranteePrincipal=alice["Arn"], Operations=["Encrypt"])
    bound = REFRESH * 4 + 1
    eventually(lambda: code_of(lambda: alice_b.encrypt(KeyId=key["Arn"], Plaintext=b"x")) is None, bound)
    admin_a.revoke_grant(KeyId=key["Arn"], GrantId=grant["GrantId"])
    admin_a.create_key()  # a newer feed row: the purge never deletes the newest one
    assert a.store_url is not None
    with psycopg.connect(a.store_url, autocommit=True) as db:  # what the hourly purge does, right away
        db.execute("DELETE FROM changes WHERE seq < (SELECT MAX(seq) FROM changes)")
    eventually(
        lambda: code_of(lambda: alice_b.encrypt(KeyId=key["Arn"], Plaintext=b"x")) == "AccessDeniedException", bound
    )
    assert all(code_of(lambda: alice_b.encrypt(KeyId=key["Arn"], Plaintext=b"x")) is not None for _ in range(10))
