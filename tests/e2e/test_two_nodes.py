"""Several stateless Trent nodes over one PostgreSQL (issue: scale out)."""

from __future__ import annotations

import base64
import os
import time
import uuid
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import pytest
from botocore.exceptions import ClientError

from tests.e2e.test_keys import error_of
from tests.proxy import TcpProxy
from tests.server import TrentServer, create_database, drop_database, postgres_admin_url

pytestmark = pytest.mark.skipif(
    postgres_admin_url() is None,
    reason="the two-node tests need PostgreSQL: set TRENT_TEST_POSTGRES_URL (e.g. postgresql://postgres@127.0.0.1/test)",
)
REFRESH = 0.5  # grant_refresh_interval of the nodes under test


def eventually(check: Callable[[], Any], timeout: float) -> float:
    """Retry `check` until it passes; returns how long it took."""
    started = time.monotonic()
    while True:
        try:
            check()
            return time.monotonic() - started
        except (AssertionError, ClientError):
            if time.monotonic() - started > timeout:
                raise
            time.sleep(0.05)


@pytest.fixture
def database() -> Iterator[str]:
    admin_url = postgres_admin_url()
    assert admin_url is not None
    url, name = create_database(admin_url)
    yield url
    drop_database(admin_url, name)


def node(tmp_path: Path, name: str, store_url: str, root_key: str, refresh: float = REFRESH) -> TrentServer:
    trent = TrentServer(
        tmp_path / name,
        store_url=store_url,
        env={"TRENT_ROOT_KEY": root_key},
        extra_args=["--grant-refresh-interval", str(refresh)],
    )
    trent.init()
    return trent.start()


@pytest.fixture
def two_nodes(tmp_path: Path, database: str) -> Iterator[tuple[TrentServer, TrentServer]]:
    root_key = base64.b64encode(os.urandom(32)).decode()
    a = node(tmp_path, "a", database, root_key)
    b = node(tmp_path, "b", database, root_key)
    yield a, b
    a.stop()
    b.stop()


def user_on_both(a: TrentServer, b: TrentServer) -> tuple[str, Any, Any]:
    user = a.admin("user", "create", "000000000000", f"u{uuid.uuid4().hex[:8]}")
    clients = [n.client("kms", access_key=user["AccessKeyId"], secret_key=user["SecretAccessKey"]) for n in (a, b)]
    return user["Arn"], clients[0], clients[1]


def test_grants_propagate_between_nodes(two_nodes: tuple[TrentServer, TrentServer]) -> None:
    a, b = two_nodes
    kms_a, kms_b = a.client("kms"), b.client("kms")
    key = kms_a.create_key()["KeyMetadata"]
    assert kms_b.describe_key(KeyId=key["KeyId"])["KeyMetadata"]["KeyId"] == key["KeyId"]
    user, _, user_b = user_on_both(a, b)
    with pytest.raises(ClientError):  # node B now holds this key's grants in its view
        user_b.encrypt(KeyId=key["KeyId"], Plaintext=b"x")
    grant = kms_a.create_grant(KeyId=key["KeyId"], GranteePrincipal=user, Operations=["Encrypt"])
    for _ in range(3):  # a token works at once (and node B keeps its grant from then on)
        user_b.encrypt(KeyId=key["KeyId"], Plaintext=b"x", GrantTokens=[grant["GrantToken"]])
    took = eventually(lambda: user_b.encrypt(KeyId=key["KeyId"], Plaintext=b"x"), timeout=REFRESH * 4 + 1)
    assert took <= REFRESH * 4 + 1
    kms_a.revoke_grant(KeyId=key["KeyId"], GrantId=grant["GrantId"])
    with pytest.raises(ClientError) as with_token:  # ... and stops at once on node B, whatever the interval
        user_b.encrypt(KeyId=key["KeyId"], Plaintext=b"x", GrantTokens=[grant["GrantToken"]])
    assert with_token.value.response["Error"]["Code"] == "AccessDeniedException"

    def refused() -> None:
        try:
            user_b.encrypt(KeyId=key["KeyId"], Plaintext=b"x")
        except ClientError as exc:
            assert exc.response["Error"]["Code"] == "AccessDeniedException"
            return
        raise AssertionError("the revoked grant still works on node B")

    eventually(refused, timeout=REFRESH * 4 + 1)


def test_a_revoked_grants_token_stops_at_once_however_long_the_refresh_interval(tmp_path: Path, database: str) -> None:
    """Node B keeps the grants its tokens name and reads the feed only every 60 s: a token check reads it first,
    once per pass of its event loop, so a revocation made through node A stops the token on B's next request."""
    root_key = base64.b64encode(os.urandom(32)).decode()
    a, b = (node(tmp_path, name, database, root_key, refresh=60.0) for name in ("a", "b"))
    try:
        kms_a = a.client("kms")
        key = kms_a.create_key()["KeyMetadata"]
        user, _, user_b = user_on_both(a, b)
        for _ in range(3):  # each grant is used, and kept, on node B before it is revoked
            grant = kms_a.create_grant(KeyId=key["KeyId"], GranteePrincipal=user, Operations=["Encrypt"])
            for _ in range(5):
                user_b.encrypt(KeyId=key["KeyId"], Plaintext=b"x", GrantTokens=[grant["GrantToken"]])
            kms_a.revoke_grant(KeyId=key["KeyId"], GrantId=grant["GrantId"])
            with pytest.raises(ClientError) as refused:
                user_b.encrypt(KeyId=key["KeyId"], Plaintext=b"x", GrantTokens=[grant["GrantToken"]])
            assert refused.value.response["Error"]["Code"] == "AccessDeniedException"
    finally:
        a.stop()
        b.stop()


def test_material_wrapped_for_one_node_is_imported_through_the_other(
    two_nodes: tuple[TrentServer, TrentServer],
) -> None:
    from tests.e2e.test_import import DOES_NOT_EXPIRE, wrap

    a, b = two_nodes
    kms_a, kms_b = a.client("kms"), b.client("kms")
    key_id = kms_a.create_key(Origin="EXTERNAL")["KeyMetadata"]["KeyId"]
    parameters = kms_a.get_parameters_for_import(
        KeyId=key_id, WrappingAlgorithm="RSAES_OAEP_SHA_256", WrappingKeySpec="RSA_2048"
    )
    material = os.urandom(32)
    kms_b.import_key_material(
        KeyId=key_id,
        ImportToken=parameters["ImportToken"],
        EncryptedKeyMaterial=wrap(parameters, "RSAES_OAEP_SHA_256", material),
        **DOES_NOT_EXPIRE,
    )
    blob = kms_b.encrypt(KeyId=key_id, Plaintext=b"x")["CiphertextBlob"]
    assert eventually(lambda: kms_a.decrypt(CiphertextBlob=blob), timeout=REFRESH * 4 + 1) <= REFRESH * 4 + 1
    kms_a.delete_imported_key_material(KeyId=key_id)

    def refused_on_b() -> None:
        try:
            kms_b.decrypt(CiphertextBlob=blob)
        except ClientError as exc:
            assert exc.response["Error"]["Code"] == "KMSInvalidStateException"
            return
        raise AssertionError("node B still decrypts with deleted material")

    eventually(refused_on_b, timeout=REFRESH * 4 + 1)


def test_multi_region_keys_across_nodes(two_nodes: tuple[TrentServer, TrentServer]) -> None:
    """A replica made through one node is used, rotated with its primary and given the primary role through the
    other; each node's caches follow (issue: multi-Region keys work across PostgreSQL nodes)."""
    a, b = two_nodes
    home_a, away_b = a.client("kms"), b.client("kms", region="eu-west-1")
    key_id = home_a.create_key(MultiRegion=True)["KeyMetadata"]["KeyId"]
    blob = home_a.encrypt(KeyId=key_id, Plaintext=b"x")["CiphertextBlob"]
    with pytest.raises(ClientError) as exc:  # node B now holds "no such key" for the replica's ref
        away_b.describe_key(KeyId=key_id)
    assert error_of(exc)[0] == "NotFoundException"
    home_a.replicate_key(KeyId=key_id, ReplicaRegion="eu-west-1")
    eventually(lambda: away_b.decrypt(CiphertextBlob=blob), timeout=REFRESH * 4 + 1)
    home_a.rotate_key_on_demand(KeyId=key_id)
    rotated = home_a.encrypt(KeyId=key_id, Plaintext=b"y")["CiphertextBlob"]
    assert eventually(lambda: away_b.decrypt(CiphertextBlob=rotated), timeout=REFRESH * 4 + 1) <= REFRESH * 4 + 1
    b.client("kms").update_primary_region(KeyId=key_id, PrimaryRegion="eu-west-1")

    def swapped() -> None:
        config = home_a.describe_key(KeyId=key_id)["KeyMetadata"]["MultiRegionConfiguration"]
        assert config["MultiRegionKeyType"] == "REPLICA"

    eventually(swapped, timeout=REFRESH * 4 + 1)
    away_a = a.client("kms", region="eu-west-1")
    away_a.rotate_key_on_demand(KeyId=key_id)


def test_a_key_deactivated_through_one_node_is_refused_by_the_other(two_nodes: tuple[TrentServer, TrentServer]) -> None:
    """IAM revocation across nodes: within the refresh interval (on one node's workers, at once)."""
    import json

    a, b = two_nodes
    iam_a = a.client("iam")
    user = f"u{uuid.uuid4().hex[:8]}"
    iam_a.create_user(UserName=user)
    policy = {"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "kms:ListKeys", "Resource": "*"}]}
    iam_a.put_user_policy(UserName=user, PolicyName="list", PolicyDocument=json.dumps(policy))
    key = iam_a.create_access_key(UserName=user)["AccessKey"]
    kms_b = b.client("kms", access_key=key["AccessKeyId"], secret_key=key["SecretAccessKey"])
    eventually(kms_b.list_keys, timeout=REFRESH * 4 + 1)
    iam_a.update_access_key(UserName=user, AccessKeyId=key["AccessKeyId"], Status="Inactive")

    def refused() -> None:
        try:
            kms_b.list_keys()
        except ClientError as exc:
            assert exc.response["Error"]["Code"] == "UnrecognizedClientException"
            return
        raise AssertionError("node B still accepts the Inactive key")

    assert eventually(refused, timeout=REFRESH * 4 + 1) <= REFRESH * 4 + 1


def test_deleted_keys_and_roles_are_refused_by_the_other_node(two_nodes: tuple[TrentServer, TrentServer]) -> None:
    """A deleted access key, and the sessions of a deleted role, end on the other node too."""
    import json

    a, b = two_nodes
    iam_a = a.client("iam")
    user = f"u{uuid.uuid4().hex[:8]}"
    arn = iam_a.create_user(UserName=user)["User"]["Arn"]
    assume = {"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "sts:AssumeRole", "Resource": "*"}]}
    iam_a.put_user_policy(UserName=user, PolicyName="assume", PolicyDocument=json.dumps(assume))
    key = iam_a.create_access_key(UserName=user)["AccessKey"]
    trust = {
        "Version": "2012-10-17",
        "Statement": [{"Effect": "Allow", "Principal": {"AWS": arn}, "Action": "sts:AssumeRole"}],
    }
    role = iam_a.create_role(RoleName=f"r{user}", AssumeRolePolicyDocument=json.dumps(trust))["Role"]
    sts_b = b.client("sts", access_key=key["AccessKeyId"], secret_key=key["SecretAccessKey"])
    took = eventually(lambda: sts_b.assume_role(RoleArn=role["Arn"], RoleSessionName="s1"), REFRESH * 4 + 1)
    assert took <= REFRESH * 4 + 1  # node B knows the new user, key and role
    credentials = sts_b.assume_role(RoleArn=role["Arn"], RoleSessionName="s2")["Credentials"]
    session_b = b.client(
        "sts",
        access_key=credentials["AccessKeyId"],
        secret_key=credentials["SecretAccessKey"],
        session_token=credentials["SessionToken"],
    )
    session_b.get_caller_identity()
    iam_a.delete_role(RoleName=role["RoleName"])
    iam_a.delete_access_key(UserName=user, AccessKeyId=key["AccessKeyId"])

    def refused(call: Callable[[], Any]) -> Callable[[], None]:
        def check() -> None:
            try:
                call()
            except ClientError as exc:
                assert exc.response["Error"]["Code"] == "InvalidClientTokenId"
                return
            raise AssertionError("node B still accepts deleted credentials")

        return check

    assert eventually(refused(session_b.get_caller_identity), timeout=REFRESH * 4 + 1) <= REFRESH * 4 + 1
    assert eventually(refused(sts_b.get_caller_identity), timeout=REFRESH * 4 + 1) <= REFRESH * 4 + 1


def test_named_create_grant_on_both_nodes_creates_one_grant(two_nodes: tuple[TrentServer, TrentServer]) -> None:
    a, b = two_nodes
    key = a.client("kms").create_key()["KeyMetadata"]
    user, _, _ = user_on_both(a, b)
    clients = [n.client("kms") for n in (a, b) for _ in range(4)]

    def create(client: Any) -> str:
        grant_id: str = client.create_grant(
            KeyId=key["KeyId"], GranteePrincipal=user, Operations=["Decrypt"], Name="once-only"
        )["GrantId"]
        return grant_id

    with ThreadPoolExecutor(len(clients)) as pool:
        grant_ids = set(pool.map(create, clients))
    assert len(grant_ids) == 1
    assert len(a.client("kms").list_grants(KeyId=key["KeyId"])["Grants"]) == 1


def test_grant_limit_holds_across_nodes(two_nodes: tuple[TrentServer, TrentServer]) -> None:
    import sqlalchemy as sa

    a, b = two_nodes
    key = a.client("kms").create_key()["KeyMetadata"]
    engine = sa.create_engine(a.database_url)
    with engine.begin() as conn:
        conn.execute(sa.text("UPDATE keys SET grant_count = 49996 WHERE key_id = :k"), {"k": key["KeyId"]})
    engine.dispose()
    grantee = "arn:aws:iam::000000000000:user/admin"
    clients = [n.client("kms") for n in (a, b) for _ in range(5)]

    def create(client: Any) -> bool:
        try:
            client.create_grant(KeyId=key["KeyId"], GranteePrincipal=grantee, Operations=["Encrypt"])
            return True
        except ClientError as exc:
            assert exc.response["Error"]["Code"] == "LimitExceededException"
            return False

    with ThreadPoolExecutor(len(clients)) as pool:
        outcomes = list(pool.map(create, clients))
    assert outcomes.count(True) == 4


def test_node_survives_losing_the_database(tmp_path: Path, database: str) -> None:
    parts = urlsplit(database)
    proxy = TcpProxy(parts.hostname or "127.0.0.1", parts.port or 5432)
    proxied = urlunsplit(parts._replace(netloc=f"{parts.username}@127.0.0.1:{proxy.port}"))
    trent = node(tmp_path, "lonely", proxied, base64.b64encode(os.urandom(32)).decode())
    try:
        kms = trent.client("kms")
        key = kms.create_key()["KeyMetadata"]
        proxy.cut()
        with pytest.raises(ClientError) as exc:
            kms.create_key()
        assert error_of(exc)[0] in ("DependencyTimeoutException", "KMSInternalException")
        assert exc.value.response["ResponseMetadata"]["HTTPStatusCode"] in (500, 503)
        proxy.restore()
        eventually(lambda: kms.describe_key(KeyId=key["KeyId"]), timeout=15)
        assert kms.create_key()["KeyMetadata"]["KeyState"] == "Enabled"
    finally:
        proxy.restore()
        trent.stop()
