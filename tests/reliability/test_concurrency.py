"""Races that must end in one consistent outcome, on both stores."""

from __future__ import annotations

import time
import uuid
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import sqlalchemy as sa
from botocore.exceptions import ClientError

from tests.server import TrentServer

ADMIN = "arn:aws:iam::000000000000:user/admin"


def outcome(call: Any) -> str:
    try:
        call()
        return "ok"
    except ClientError as exc:
        return str(exc.response["Error"]["Code"])


def clients(server: TrentServer, count: int) -> list[Any]:
    return [server.client("kms") for _ in range(count)]


def test_64_identical_named_create_grants_make_one_grant(server: TrentServer, kms: Any) -> None:
    key = kms.create_key()["KeyMetadata"]
    name = f"race-{uuid.uuid4().hex[:8]}"

    def create(client: Any) -> str:
        grant_id: str = client.create_grant(
            KeyId=key["KeyId"], GranteePrincipal=ADMIN, Operations=["Encrypt", "Decrypt"], Name=name
        )["GrantId"]
        return grant_id

    with ThreadPoolExecutor(16) as pool:
        grant_ids = list(pool.map(create, clients(server, 64)))
    assert len(grant_ids) == 64 and len(set(grant_ids)) == 1
    assert [g["GrantId"] for g in kms.list_grants(KeyId=key["KeyId"])["Grants"]] == [grant_ids[0]]


def test_racing_the_grant_limit_stops_at_exactly_50000(server: TrentServer, kms: Any) -> None:
    key = kms.create_key()["KeyMetadata"]
    engine = sa.create_engine(server.database_url)
    with engine.begin() as conn:
        conn.execute(sa.text("UPDATE keys SET grant_count = 49990 WHERE key_id = :k"), {"k": key["KeyId"]})
    engine.dispose()

    def create(client: Any) -> str:
        return outcome(lambda: client.create_grant(KeyId=key["KeyId"], GranteePrincipal=ADMIN, Operations=["Encrypt"]))

    with ThreadPoolExecutor(16) as pool:
        results = Counter(pool.map(create, clients(server, 40)))
    assert results == {"ok": 10, "LimitExceededException": 30}
    engine = sa.create_engine(server.database_url)
    with engine.begin() as conn:
        count = conn.execute(sa.text("SELECT grant_count FROM keys WHERE key_id = :k"), {"k": key["KeyId"]}).scalar()
        active = conn.execute(
            sa.text("SELECT COUNT(*) FROM grants WHERE key_id = :k AND deleted_at IS NULL"), {"k": key["KeyId"]}
        ).scalar()
    engine.dispose()
    assert count == 50000 and active == 10


def test_retire_and_revoke_of_one_grant_race(server: TrentServer, kms: Any) -> None:
    key = kms.create_key()["KeyMetadata"]
    for _ in range(5):
        grant = kms.create_grant(
            KeyId=key["KeyId"], GranteePrincipal=ADMIN, RetiringPrincipal=ADMIN, Operations=["Encrypt"]
        )
        calls = [
            lambda c, g=grant: c.retire_grant(GrantToken=g["GrantToken"]),
            lambda c, g=grant: c.revoke_grant(KeyId=key["KeyId"], GrantId=g["GrantId"]),
        ] * 4
        with ThreadPoolExecutor(8) as pool:
            results = Counter(
                pool.map(lambda pair: outcome(lambda: pair[0](pair[1])), zip(calls, clients(server, 8), strict=True))
            )
        assert results["ok"] == 1 and results["NotFoundException"] == 7, results
    assert kms.list_grants(KeyId=key["KeyId"])["Grants"] == []


def test_disable_while_encrypting_is_consistent(server: TrentServer, kms: Any) -> None:
    key = kms.create_key()["KeyMetadata"]
    stop = time.monotonic() + 3

    def encrypt_loop(client: Any) -> Counter[str]:
        seen: Counter[str] = Counter()
        while time.monotonic() < stop:
            seen[outcome(lambda: client.encrypt(KeyId=key["KeyId"], Plaintext=b"x"))] += 1
        return seen

    def toggle(client: Any) -> Counter[str]:
        seen: Counter[str] = Counter()
        while time.monotonic() < stop:
            seen[outcome(lambda: client.disable_key(KeyId=key["KeyId"]))] += 1
            seen[outcome(lambda: client.enable_key(KeyId=key["KeyId"]))] += 1
        return seen

    with ThreadPoolExecutor(4) as pool:
        futures = [pool.submit(encrypt_loop, c) for c in clients(server, 3)] + [pool.submit(toggle, server.client())]
        results = [f.result() for f in futures]
    encrypts = sum(results[:3], Counter())
    assert set(encrypts) <= {"ok", "DisabledException"}, encrypts
    assert set(results[3]) == {"ok"}, results[3]
    kms.enable_key(KeyId=key["KeyId"])
    assert kms.describe_key(KeyId=key["KeyId"])["KeyMetadata"]["KeyState"] == "Enabled"
    kms.disable_key(KeyId=key["KeyId"])
    assert outcome(lambda: kms.encrypt(KeyId=key["KeyId"], Plaintext=b"x")) == "DisabledException"


def test_schedule_deletion_while_creating_grants(server: TrentServer, kms: Any) -> None:
    key = kms.create_key()["KeyMetadata"]

    def create(client: Any) -> str:
        return outcome(lambda: client.create_grant(KeyId=key["KeyId"], GranteePrincipal=ADMIN, Operations=["Encrypt"]))

    with ThreadPoolExecutor(8) as pool:
        futures = [pool.submit(create, c) for c in clients(server, 12)]
        deletion = pool.submit(lambda: outcome(lambda: kms.schedule_key_deletion(KeyId=key["KeyId"])))
        results = Counter(f.result() for f in futures)
    assert deletion.result() == "ok"
    assert set(results) <= {"ok", "KMSInvalidStateException"}, results
    assert len(kms.list_grants(KeyId=key["KeyId"])["Grants"]) == results["ok"]
    assert (
        outcome(lambda: kms.create_grant(KeyId=key["KeyId"], GranteePrincipal=ADMIN, Operations=["Encrypt"]))
        == "KMSInvalidStateException"
    )
