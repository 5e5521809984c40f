"""SigV4 authentication, STS, identities and --dev mode, against live servers."""

from __future__ import annotations

import datetime as dt
import http.client
import json
import uuid
from pathlib import Path
from typing import Any
from unittest import mock

import pytest
from botocore.auth import SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.credentials import Credentials
from botocore.exceptions import ClientError

from tests.e2e.test_keys import error_of
from tests.server import REGION, TrentServer


def send_signed(
    server: TrentServer,
    body: bytes,
    *,
    access_key: str,
    secret_key: str,
    token: str | None = None,
    target: str = "TrentService.ListKeys",
    region: str = REGION,
    service: str = "kms",
    when: dt.datetime | None = None,
    tamper_body: bytes | None = None,
    extra_headers: dict[str, str] | None = None,
) -> tuple[int, dict[str, Any]]:
    """Sign like botocore does, optionally tamper afterwards, send, and return (status, JSON body)."""
    request = AWSRequest(
        method="POST",
        url=server.endpoint + "/",
        data=body,
        headers={
            "Content-Type": "application/x-amz-json-1.1",
            "X-Amz-Target": target,
            **(extra_headers or {}),
        },
    )
    credentials = Credentials(access_key, secret_key, token)
    signer = SigV4Auth(credentials, service, region)
    if when is None:
        signer.add_auth(request)
    else:
        with mock.patch("botocore.auth.get_current_datetime", return_value=when):
            signer.add_auth(request)
    prepared = request.prepare()
    connection = http.client.HTTPConnection("127.0.0.1", server.port, timeout=10)
    payload = tamper_body if tamper_body is not None else body
    headers = dict(prepared.headers.items())
    headers["Content-Length"] = str(len(payload))
    connection.request("POST", "/", body=payload, headers=headers)
    response = connection.getresponse()
    data = response.read()
    connection.close()
    return response.status, json.loads(data) if data else {}


SIGNATURE_MISMATCH = (
    "The request signature we calculated does not match the signature you provided. Check your AWS Secret Access "
    "Key and signing method. Consult the service documentation for details."
)


def test_correctly_signed_request_is_accepted(server: TrentServer) -> None:
    access_key, secret_key = server.admin_credentials()
    status, body = send_signed(server, b"{}", access_key=access_key, secret_key=secret_key)
    assert status == 200 and "Keys" in body


def test_tampered_body_is_refused(server: TrentServer) -> None:
    access_key, secret_key = server.admin_credentials()
    status, body = send_signed(
        server, b'{"Limit": 5}', access_key=access_key, secret_key=secret_key, tamper_body=b'{"Limit": 6}'
    )
    assert (status, body) == (400, {"__type": "InvalidSignatureException", "message": SIGNATURE_MISMATCH})


def test_tampered_target_header_is_refused(server: TrentServer) -> None:
    access_key, secret_key = server.admin_credentials()
    request = AWSRequest(
        method="POST",
        url=server.endpoint + "/",
        data=b"{}",
        headers={"Content-Type": "application/x-amz-json-1.1", "X-Amz-Target": "TrentService.ListKeys"},
    )
    SigV4Auth(Credentials(access_key, secret_key), "kms", REGION).add_auth(request)
    headers = dict(request.prepare().headers.items())
    headers["X-Amz-Target"] = "TrentService.CreateKey"
    connection = http.client.HTTPConnection("127.0.0.1", server.port, timeout=10)
    connection.request("POST", "/", body=b"{}", headers=headers)
    response = connection.getresponse()
    assert response.status == 400
    assert json.loads(response.read())["__type"] == "InvalidSignatureException"


def test_wrong_secret_is_refused(server: TrentServer) -> None:
    access_key, secret_key = server.admin_credentials()
    kms = server.client(
        "kms", access_key=access_key, secret_key=secret_key[:-1] + ("A" if secret_key[-1] != "A" else "B")
    )
    with pytest.raises(ClientError) as exc:
        kms.list_keys()
    assert error_of(exc) == ("InvalidSignatureException", SIGNATURE_MISMATCH)


def test_unknown_access_key_is_refused(server: TrentServer) -> None:
    kms = server.client("kms", access_key="AKIAUNKNOWNUNKNOWN00", secret_key="x" * 40)
    with pytest.raises(ClientError) as exc:
        kms.list_keys()
    assert error_of(exc) == (
        "UnrecognizedClientException",
        "The security token included in the request is invalid.",
    )


def test_stale_and_future_signatures_are_refused(server: TrentServer) -> None:
    access_key, secret_key = server.admin_credentials()
    now = dt.datetime.now(dt.UTC).replace(tzinfo=None)
    status, body = send_signed(
        server, b"{}", access_key=access_key, secret_key=secret_key, when=now - dt.timedelta(minutes=6)
    )
    assert status == 400 and body["__type"] == "InvalidSignatureException"
    assert body["message"].startswith("Signature expired: ")
    status, body = send_signed(
        server, b"{}", access_key=access_key, secret_key=secret_key, when=now + dt.timedelta(minutes=6)
    )
    assert status == 400 and body["__type"] == "InvalidSignatureException"
    assert body["message"].startswith("Signature not yet current: ")
    status, _ = send_signed(
        server, b"{}", access_key=access_key, secret_key=secret_key, when=now - dt.timedelta(minutes=4)
    )
    assert status == 200


def test_signature_for_another_service_is_refused(server: TrentServer) -> None:
    access_key, secret_key = server.admin_credentials()
    status, body = send_signed(server, b"{}", access_key=access_key, secret_key=secret_key, service="s3")
    assert status == 400 and body["__type"] == "InvalidSignatureException"


def test_missing_authentication(server: TrentServer) -> None:
    connection = http.client.HTTPConnection("127.0.0.1", server.port, timeout=10)
    connection.request(
        "POST",
        "/",
        body=b"{}",
        headers={"Content-Type": "application/x-amz-json-1.1", "X-Amz-Target": "TrentService.ListKeys"},
    )
    response = connection.getresponse()
    body = json.loads(response.read())
    assert response.status == 400
    assert body["__type"] == "MissingAuthenticationTokenException"


def test_unknown_operation_and_bad_json(server: TrentServer) -> None:
    access_key, secret_key = server.admin_credentials()
    status, body = send_signed(
        server, b"{}", access_key=access_key, secret_key=secret_key, target="TrentService.NoSuchOperation"
    )
    assert status == 400 and body["__type"] == "UnknownOperationException"
    status, body = send_signed(server, b"{not json", access_key=access_key, secret_key=secret_key)
    assert status == 400 and body["__type"] == "SerializationException"
    status, body = send_signed(server, b'{"Limit": "ten"}', access_key=access_key, secret_key=secret_key)
    assert status == 400 and body["__type"] == "SerializationException"


def test_each_region_is_its_own_namespace(server: TrentServer) -> None:
    west = server.client("kms", region="us-west-2")
    key_id = west.create_key()["KeyMetadata"]["KeyId"]
    assert west.describe_key(KeyId=key_id)["KeyMetadata"]["Arn"].startswith("arn:aws:kms:us-west-2:")
    east = server.client("kms", region="us-east-1")
    with pytest.raises(ClientError) as exc:
        east.describe_key(KeyId=key_id)
    assert error_of(exc)[0] == "NotFoundException"


# --- the credential scope's region --------------------------------------------------------------------------
def invalid_region(region: str) -> str:
    """AWS's message for a credential scoped to a region it does not have (with its trailing space)."""
    return f"Credential should be scoped to a valid region, not '{region}'. "


def keys_of_account(server: TrentServer, account: str) -> int:
    import sqlalchemy as sa

    engine = sa.create_engine(server.database_url)
    try:
        with engine.connect() as conn:
            count = conn.execute(sa.text("SELECT count(*) FROM keys WHERE account_id = :a"), {"a": account}).scalar()
    finally:
        engine.dispose()
    return int(count or 0)


def test_a_region_that_does_not_exist_is_refused_and_changes_nothing(server: TrentServer) -> None:
    from tests.e2e.test_audit import audit

    account = f"{uuid.uuid4().int % 10**12:012d}"
    server.admin("account", "create", account)
    root = server.admin("access-key", "create", f"arn:aws:iam::{account}:root")
    credentials = {"access_key": root["AccessKeyId"], "secret_key": root["SecretAccessKey"]}
    fake = server.client("kms", region="xx-fake-1", **credentials)
    for call in (lambda: fake.create_key(Description="nowhere"), fake.list_keys):
        with pytest.raises(ClientError) as exc:
            call()
        assert exc.value.response["ResponseMetadata"]["HTTPStatusCode"] == 400
        assert error_of(exc) == ("InvalidSignatureException", invalid_region("xx-fake-1"))
    # Nothing was made, in the region asked for or any other.
    assert server.client("kms", region="us-east-1", **credentials).list_keys()["Keys"] == []
    assert keys_of_account(server, account) == 0
    # STS refuses it as AWS's STS does.
    with pytest.raises(ClientError) as exc:
        server.client("sts", region="xx-fake-1", **credentials).get_caller_identity()
    assert exc.value.response["ResponseMetadata"]["HTTPStatusCode"] == 403
    assert error_of(exc) == ("SignatureDoesNotMatch", invalid_region("xx-fake-1"))
    # Audited like any failed authentication: the access key and region the credential claimed.
    events = [e for e in audit(server, "--errors-only") if e["userIdentity"].get("accessKeyId") == root["AccessKeyId"]]
    assert sorted((e["eventName"], e["errorCode"], e["awsRegion"]) for e in events) == [
        ("CreateKey", "InvalidSignatureException", "xx-fake-1"),
        ("GetCallerIdentity", "SignatureDoesNotMatch", "xx-fake-1"),
        ("ListKeys", "InvalidSignatureException", "xx-fake-1"),
    ]


def test_a_region_outside_the_set_is_refused_even_with_a_wrong_secret_or_key(server: TrentServer) -> None:
    """The region is checked first, as a part of the header's form, before any access key is looked up."""
    stranger = server.client("kms", access_key="AKIAUNKNOWNUNKNOWN00", secret_key="x" * 40, region="us-gov-west-1")
    with pytest.raises(ClientError) as exc:
        stranger.list_keys()
    assert error_of(exc) == ("InvalidSignatureException", invalid_region("us-gov-west-1"))


def test_the_set_of_regions_is_configured(fresh_server: TrentServer) -> None:
    # `trent init`'s region must be one of the regions.
    fresh_server.env["TRENT_REGIONS"] = "eu-west-1,xx-lab-1"
    result = fresh_server.trent(
        "init", "--data-dir", str(fresh_server.data_dir), "--port", str(fresh_server.port), check=False
    )
    assert result.returncode != 0
    assert "region 'us-east-1' (written into aws-config) must be one of regions" in result.stderr
    # With it, init writes both into DATA_DIR/trent.toml, which the server then reads.
    fresh_server.env["TRENT_REGION"] = "eu-west-1"
    fresh_server.init()
    del fresh_server.env["TRENT_REGIONS"], fresh_server.env["TRENT_REGION"]
    assert "region = eu-west-1" in (fresh_server.data_dir / "aws-config").read_text()
    fresh_server.start()
    lab = fresh_server.client("kms", region="xx-lab-1")
    key = lab.create_key()["KeyMetadata"]
    assert key["Arn"].startswith("arn:aws:kms:xx-lab-1:")  # a region added by setting is served
    assert fresh_server.client("kms", region="eu-west-1").list_keys()["Keys"] == []
    with pytest.raises(ClientError) as exc:
        fresh_server.client("kms", region="us-east-1").list_keys()  # a default region left out is refused
    assert error_of(exc) == ("InvalidSignatureException", invalid_region("us-east-1"))
    fresh_server.stop()
    # The command line wins over the file, and reaches every worker process (as TRENT_REGIONS).
    fresh_server.extra_args = ["--regions", "us-east-1,eu-west-1", "--workers", "2"]
    fresh_server.start()
    for _ in range(6):  # fresh connections, spread over both workers
        with pytest.raises(ClientError) as exc:
            fresh_server.client("kms", region="xx-lab-1").describe_key(KeyId=key["KeyId"])
        assert error_of(exc) == ("InvalidSignatureException", invalid_region("xx-lab-1"))
        assert fresh_server.client("kms", region="us-east-1").list_keys()["Keys"] == []


def test_dev_mode_refuses_a_region_outside_the_set_too(tmp_path: Path) -> None:
    """--dev skips signatures, not the region set: a typo must not open a namespace (or create an account)."""
    trent = TrentServer(tmp_path / "dev", dev=True)
    trent.init()
    trent.start()
    try:
        typo = trent.client("kms", access_key="123456789012", secret_key="x", region="us-east-l")
        with pytest.raises(ClientError) as exc:
            typo.create_key()
        assert error_of(exc) == ("InvalidSignatureException", invalid_region("us-east-l"))
        assert "123456789012" not in trent.admin("list")["Accounts"]
        assert trent.client("kms", access_key="123456789012", secret_key="x").create_key()["KeyMetadata"]["Arn"]
    finally:
        trent.stop()


def signed_headers_for(server: TrentServer, body: bytes, target: str = "TrentService.ListKeys") -> dict[str, str]:
    """The headers botocore sends for a KMS call signed with the administrator's key."""
    access_key, secret_key = server.admin_credentials()
    request = AWSRequest(
        method="POST",
        url=server.endpoint + "/",
        data=body,
        headers={"Content-Type": "application/x-amz-json-1.1", "X-Amz-Target": target},
    )
    SigV4Auth(Credentials(access_key, secret_key), "kms", REGION).add_auth(request)
    headers = dict(request.prepare().headers.items())
    headers["Content-Length"] = str(len(body))
    return headers


def send_raw(server: TrentServer, headers: list[tuple[str, str]], body: bytes) -> tuple[int, dict[str, Any]]:
    """Send exactly these header lines (repeats included)."""
    connection = http.client.HTTPConnection("127.0.0.1", server.port, timeout=10)
    connection.putrequest("POST", "/", skip_host=True, skip_accept_encoding=True)
    if not any(name.lower() == "host" for name, _ in headers):
        connection.putheader("Host", f"127.0.0.1:{server.port}")
    for name, value in headers:
        connection.putheader(name, value)
    connection.endheaders(body)
    response = connection.getresponse()
    data = response.read()
    connection.close()
    return response.status, json.loads(data) if data else {}


def test_a_second_credential_in_the_authorization_header_is_refused(server: TrentServer) -> None:
    """Not "last one wins": a correctly signed request with another Credential in front of its own is refused
    (before, the verifier used the last one while the audit recorded the first)."""
    body = b'{"Description": "refused unless its Credential is given once"}'
    headers = signed_headers_for(server, body, target="TrentService.CreateKey")
    authorization = headers["Authorization"]
    assert authorization.startswith("AWS4-HMAC-SHA256 Credential=")
    kms = server.client("kms")
    before = {k["KeyId"] for page in kms.get_paginator("list_keys").paginate() for k in page["Keys"]}
    scope = authorization.split("Credential=", 1)[1].split(",", 1)[0]
    decoy = "AKIADECOYDECOYDECOY0/" + scope.split("/", 1)[1]
    for forged in (
        authorization.replace("Credential=", f"Credential={decoy}, Credential=", 1),
        f"{authorization}, Credential={decoy}",
        authorization.replace("Credential=", f"Credential={scope}, Credential=", 1),  # even the same value twice
    ):
        status, answer = send_raw(server, [*{**headers, "Authorization": forged}.items()], body)
        assert (status, answer["__type"]) == (400, "IncompleteSignatureException")
        assert answer["message"].startswith("Authorization header has more than one 'Credential' parameter.")
    after = {k["KeyId"] for page in kms.get_paginator("list_keys").paginate() for k in page["Keys"]}
    assert after == before
    # What was refused is the repetition alone: the same request with one Credential is served.
    status, answer = send_raw(server, [*headers.items()], body)
    assert status == 200 and answer["KeyMetadata"]["Description"] == "refused unless its Credential is given once"
    kms.schedule_key_deletion(KeyId=answer["KeyMetadata"]["KeyId"], PendingWindowInDays=7)


def test_two_authorization_headers_are_refused(server: TrentServer) -> None:
    body = b"{}"
    headers = signed_headers_for(server, body)
    decoy = headers["Authorization"].replace("Credential=", "Credential=AKIADECOYDECOYDECOY0", 1)
    lines = [(name, value) for name, value in headers.items() if name != "Authorization"]
    for first, second in ((decoy, headers["Authorization"]), (headers["Authorization"], decoy)):
        status, answer = send_raw(server, [*lines, ("Authorization", first), ("Authorization", second)], body)
        assert (status, answer["__type"]) == (400, "IncompleteSignatureException")
    status, answer = send_raw(server, [*lines, ("Authorization", headers["Authorization"])], body)
    assert status == 200 and "Keys" in answer


# --- identities, access keys and STS ----------------------------------------------------------------------
def test_user_created_by_admin_cli_can_call(server: TrentServer) -> None:
    user = server.admin("user", "create", "000000000000", "alice")
    assert user["Arn"] == "arn:aws:iam::000000000000:user/alice"
    sts = server.client("sts", access_key=user["AccessKeyId"], secret_key=user["SecretAccessKey"])
    identity = sts.get_caller_identity()
    assert identity["Arn"] == user["Arn"]
    assert identity["Account"] == "000000000000"
    assert identity["UserId"] == user["UserId"]


def test_cross_account_key_is_refused(server: TrentServer) -> None:
    server.admin("account", "create", "111111111111")
    other = server.admin("access-key", "create", "arn:aws:iam::111111111111:root")
    other_kms = server.client("kms", access_key=other["AccessKeyId"], secret_key=other["SecretAccessKey"])
    foreign = other_kms.create_key()["KeyMetadata"]
    assert foreign["AWSAccountId"] == "111111111111"
    kms = server.client("kms")
    with pytest.raises(ClientError) as exc:
        kms.describe_key(KeyId=foreign["Arn"])
    code, message = error_of(exc)
    assert code == "AccessDeniedException"
    assert message == (
        "User: arn:aws:iam::000000000000:user/admin is not authorized to perform: kms:DescribeKey on resource: "
        f"{foreign['Arn']} because no resource-based policy allows the kms:DescribeKey action"
    )
    with pytest.raises(ClientError) as exc:
        kms.disable_key(KeyId=foreign["Arn"])
    assert error_of(exc)[0] == "AccessDeniedException"
    assert other_kms.describe_key(KeyId=foreign["KeyId"])["KeyMetadata"]["KeyState"] == "Enabled"
    # A bare key ID names a key of the caller's own account: someone else's is simply not there.
    with pytest.raises(ClientError) as exc:
        kms.describe_key(KeyId=foreign["KeyId"])
    assert error_of(exc)[0] == "NotFoundException"


def _trust(tmp_path: Path, principal: Any, effect: str = "Allow") -> str:
    path = tmp_path / f"trust-{effect}-{abs(hash(json.dumps(principal)))}.json"
    path.write_text(
        json.dumps(
            {
                "Version": "2012-10-17",
                "Statement": [{"Effect": effect, "Principal": principal, "Action": "sts:AssumeRole"}],
            }
        )
    )
    return str(path)


def test_assume_role_with_allowing_trust_policy(server: TrentServer, tmp_path: Path) -> None:
    user = server.admin("user", "create", "000000000000", "bob")
    role = server.admin(
        "role", "create", "000000000000", "deployer", "--trust-policy", _trust(tmp_path, {"AWS": user["Arn"]})
    )
    list_keys_policy = tmp_path / "list-keys.json"
    list_keys_policy.write_text(
        json.dumps(
            {"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "kms:ListKeys", "Resource": "*"}]}
        )
    )
    server.admin("policy", "put", role["Arn"], "list-keys", str(list_keys_policy))
    sts = server.client("sts", access_key=user["AccessKeyId"], secret_key=user["SecretAccessKey"])
    response = sts.assume_role(RoleArn=role["Arn"], RoleSessionName="deploy-1", DurationSeconds=900)
    assumed = response["AssumedRoleUser"]
    assert assumed["Arn"] == "arn:aws:sts::000000000000:assumed-role/deployer/deploy-1"
    assert assumed["AssumedRoleId"] == f"{role['RoleId']}:deploy-1"
    creds = response["Credentials"]
    assert creds["AccessKeyId"].startswith("ASIA")
    session_sts = server.client(
        "sts",
        access_key=creds["AccessKeyId"],
        secret_key=creds["SecretAccessKey"],
        session_token=creds["SessionToken"],
    )
    identity = session_sts.get_caller_identity()
    assert identity["Arn"] == assumed["Arn"] and identity["UserId"] == assumed["AssumedRoleId"]
    session_kms = server.client(
        "kms",
        access_key=creds["AccessKeyId"],
        secret_key=creds["SecretAccessKey"],
        session_token=creds["SessionToken"],
    )
    assert "Keys" in session_kms.list_keys()
    # The temporary credentials need their session token, and only the right one.
    without_token = server.client("kms", access_key=creds["AccessKeyId"], secret_key=creds["SecretAccessKey"])
    with pytest.raises(ClientError) as exc:
        without_token.list_keys()
    assert error_of(exc)[0] == "UnrecognizedClientException"
    bad_token = server.client(
        "kms",
        access_key=creds["AccessKeyId"],
        secret_key=creds["SecretAccessKey"],
        session_token=creds["SessionToken"][:-2] + "xx",
    )
    with pytest.raises(ClientError) as exc:
        bad_token.list_keys()
    assert error_of(exc)[0] == "UnrecognizedClientException"
    # A session token on long-term credentials is refused too.
    access_key, secret_key = server.admin_credentials()
    with_token = server.client("kms", access_key=access_key, secret_key=secret_key, session_token="bogus")
    with pytest.raises(ClientError) as exc:
        with_token.list_keys()
    assert error_of(exc)[0] == "UnrecognizedClientException"


def test_assume_role_limits(server: TrentServer, tmp_path: Path) -> None:
    """Root may not assume roles; session policies are refused rather than ignored; ExternalId reaches the trust
    policy's conditions."""
    name = f"u{uuid.uuid4().hex[:8]}"
    user = server.admin("user", "create", "000000000000", name)
    trust = tmp_path / "trust-external.json"
    trust.write_text(
        json.dumps(
            {
                "Version": "2012-10-17",
                "Statement": [
                    {
                        "Effect": "Allow",
                        "Principal": {"AWS": ["arn:aws:iam::000000000000:root", user["Arn"]]},
                        "Action": "sts:AssumeRole",
                        "Condition": {"StringEquals": {"sts:ExternalId": "ext-1"}},
                    }
                ],
            }
        )
    )
    role = server.admin("role", "create", "000000000000", f"r{uuid.uuid4().hex[:8]}", "--trust-policy", str(trust))
    sts = server.client("sts", access_key=user["AccessKeyId"], secret_key=user["SecretAccessKey"])
    for wrong in ({}, {"ExternalId": "ext-2"}):
        with pytest.raises(ClientError) as exc:
            sts.assume_role(RoleArn=role["Arn"], RoleSessionName="ss", **wrong)
        assert error_of(exc)[0] == "AccessDenied"
    assert sts.assume_role(RoleArn=role["Arn"], RoleSessionName="ss", ExternalId="ext-1")["Credentials"]
    narrow = json.dumps({"Statement": [{"Effect": "Allow", "Action": "kms:DescribeKey", "Resource": "*"}]})
    with pytest.raises(ClientError) as exc:
        sts.assume_role(RoleArn=role["Arn"], RoleSessionName="ss", ExternalId="ext-1", Policy=narrow)
    assert error_of(exc)[0] == "ValidationError"
    root = server.admin("access-key", "create", "arn:aws:iam::000000000000:root")
    root_sts = server.client("sts", access_key=root["AccessKeyId"], secret_key=root["SecretAccessKey"])
    with pytest.raises(ClientError) as exc:
        root_sts.assume_role(RoleArn=role["Arn"], RoleSessionName="ss", ExternalId="ext-1")
    assert error_of(exc) == ("AccessDenied", "Roles may not be assumed by root accounts.")


def test_assume_role_refused_by_trust_policy(server: TrentServer, tmp_path: Path) -> None:
    carol = server.admin("user", "create", "000000000000", "carol")
    dave = server.admin("user", "create", "000000000000", "dave")
    role = server.admin(
        "role",
        "create",
        "000000000000",
        "carol-only",
        "--trust-policy",
        _trust(tmp_path, {"AWS": carol["Arn"]}),
    )
    sts = server.client("sts", access_key=dave["AccessKeyId"], secret_key=dave["SecretAccessKey"])
    with pytest.raises(ClientError) as exc:
        sts.assume_role(RoleArn=role["Arn"], RoleSessionName="nope")
    assert exc.value.response["Error"]["Code"] == "AccessDenied"
    assert exc.value.response["Error"]["Message"] == (
        f"User: {dave['Arn']} is not authorized to perform: sts:AssumeRole on resource: {role['Arn']}"
    )
    with pytest.raises(ClientError) as exc:
        sts.assume_role(RoleArn="arn:aws:iam::000000000000:role/does-not-exist", RoleSessionName="nope")
    assert exc.value.response["Error"]["Code"] == "AccessDenied"


def test_explicit_deny_in_trust_policy_wins(server: TrentServer, tmp_path: Path) -> None:
    erin = server.admin("user", "create", "000000000000", "erin")
    path = tmp_path / "trust.json"
    path.write_text(
        json.dumps(
            {
                "Version": "2012-10-17",
                "Statement": [
                    {"Effect": "Allow", "Principal": {"AWS": "000000000000"}, "Action": "sts:AssumeRole"},
                    {"Effect": "Deny", "Principal": {"AWS": erin["Arn"]}, "Action": "sts:*"},
                ],
            }
        )
    )
    role = server.admin("role", "create", "000000000000", "no-erin", "--trust-policy", str(path))
    sts = server.client("sts", access_key=erin["AccessKeyId"], secret_key=erin["SecretAccessKey"])
    with pytest.raises(ClientError) as exc:
        sts.assume_role(RoleArn=role["Arn"], RoleSessionName="s1")
    assert exc.value.response["Error"]["Code"] == "AccessDenied"
    # The account principal lets every other identity of the account in.
    admin_sts = server.client("sts")
    assert admin_sts.assume_role(RoleArn=role["Arn"], RoleSessionName="s2")["Credentials"]["AccessKeyId"]


def test_admin_list_never_prints_secrets(server: TrentServer) -> None:
    user = server.admin("user", "create", "000000000000", "frank")
    listing = server.admin_run("list").stdout
    assert user["AccessKeyId"] in listing
    assert user["SecretAccessKey"] not in listing
    _, admin_secret = server.admin_credentials()
    assert admin_secret not in listing


# --- --dev mode -------------------------------------------------------------------------------------------
def test_dev_mode_accepts_any_key_and_selects_account(tmp_path: Path) -> None:
    trent = TrentServer(tmp_path / "dev", dev=True)
    trent.init()
    trent.start()
    try:
        assert "DEV MODE" in trent.log()
        anyone = trent.client("kms", access_key="anything", secret_key="wrong")
        key = anyone.create_key()["KeyMetadata"]
        assert key["AWSAccountId"] == "000000000000"
        sts = trent.client("sts", access_key="123456789012", secret_key="whatever")
        assert sts.get_caller_identity()["Arn"] == "arn:aws:iam::123456789012:root"
        other = trent.client("kms", access_key="123456789012", secret_key="x")
        assert other.create_key()["KeyMetadata"]["AWSAccountId"] == "123456789012"
        assert [k["KeyId"] for k in other.list_keys()["Keys"]] != [key["KeyId"]]
    finally:
        trent.stop()


def test_signatures_are_checked_when_dev_mode_is_off(server: TrentServer) -> None:
    kms = server.client("kms", access_key="123456789012", secret_key="whatever")
    with pytest.raises(ClientError) as exc:
        kms.list_keys()
    assert error_of(exc)[0] == "UnrecognizedClientException"
