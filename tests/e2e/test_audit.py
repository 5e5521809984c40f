"""The audit trail: a CloudTrail-shaped event for every call, with no secret in any of them."""

from __future__ import annotations

import base64
import json
import uuid
from pathlib import Path
from typing import Any

import pytest
from botocore.exceptions import ClientError

from tests.e2e.test_authorization import new_user
from tests.server import TrentServer


def audit(server: TrentServer, *args: str) -> list[dict[str, Any]]:
    return server.audit_events(*args)


def test_every_call_is_audited_without_secrets(fresh_server: TrentServer, tmp_path: Path) -> None:
    fresh_server.init()
    fresh_server.start()
    kms = fresh_server.client("kms")
    admin_key, admin_secret = fresh_server.admin_credentials()
    user, user_kms = new_user(fresh_server, tmp_path)
    key = kms.create_key(Description="audited")["KeyMetadata"]
    plaintext = b"very secret plaintext 1234567890"
    blob = kms.encrypt(KeyId=key["KeyId"], Plaintext=plaintext, EncryptionContext={"Department": "audit"})[
        "CiphertextBlob"
    ]
    kms.decrypt(CiphertextBlob=blob, EncryptionContext={"Department": "audit"})
    data_key = kms.generate_data_key(KeyId=key["KeyId"], KeySpec="AES_256")["Plaintext"]
    grant = kms.create_grant(
        KeyId=key["KeyId"],
        GranteePrincipal=user["Arn"],
        Operations=["Decrypt"],
        Constraints={"EncryptionContextSubset": {"Department": "audit"}},
    )
    user_kms.decrypt(CiphertextBlob=blob, EncryptionContext={"Department": "audit"}, GrantTokens=[grant["GrantToken"]])
    with pytest.raises(ClientError):
        user_kms.encrypt(KeyId=key["KeyId"], Plaintext=b"x")
    with pytest.raises(ClientError):
        kms.encrypt(KeyId=key["KeyId"], Plaintext=b"x", DryRun=True)
    kms.retire_grant(GrantToken=grant["GrantToken"])

    events = audit(fresh_server)
    names = [e["eventName"] for e in events]
    for expected in ("CreateKey", "Encrypt", "Decrypt", "GenerateDataKey", "CreateGrant", "RetireGrant"):
        assert expected in names, expected
    common = {
        "eventVersion",
        "userIdentity",
        "eventTime",
        "eventSource",
        "eventName",
        "awsRegion",
        "sourceIPAddress",
        "userAgent",
        "requestParameters",
        "responseElements",
        "requestID",
        "eventID",
        "readOnly",
        "resources",
        "eventType",
        "managementEvent",
        "recipientAccountId",
        "eventCategory",
    }
    for event in events:
        assert common <= set(event), event
        assert event["eventSource"] == "kms.amazonaws.com"

    create_grant = next(e for e in events if e["eventName"] == "CreateGrant")
    assert create_grant["requestParameters"]["granteePrincipal"] == user["Arn"]
    assert create_grant["requestParameters"]["operations"] == ["Decrypt"]
    assert create_grant["requestParameters"]["constraints"] == {"encryptionContextSubset": {"Department": "audit"}}
    assert create_grant["responseElements"] == {"grantId": grant["GrantId"], "keyId": key["Arn"]}
    assert create_grant["resources"] == [{"accountId": key["AWSAccountId"], "type": "AWS::KMS::Key", "ARN": key["Arn"]}]
    assert create_grant["readOnly"] is False
    retire = next(e for e in events if e["eventName"] == "RetireGrant")
    assert retire["requestParameters"] is None
    assert retire["additionalEventData"] == {"grantId": grant["GrantId"]}
    # Encryption context keys are the caller's own words: logged as given, not camelCased like member names.
    decrypts = [e for e in events if e["eventName"] == "Decrypt"]
    assert all(e["requestParameters"]["encryptionContext"] == {"Department": "audit"} for e in decrypts)
    assert {e["userIdentity"]["arn"] for e in decrypts} == {"arn:aws:iam::000000000000:user/admin", user["Arn"]}
    denied = [e for e in events if e.get("errorCode") == "AccessDeniedException"]
    assert denied and denied[0]["userIdentity"]["arn"] == user["Arn"]
    assert any(e.get("errorCode") == "DryRunOperationException" for e in events)

    # Filters.
    assert {e["eventName"] for e in audit(fresh_server, "--event", "CreateGrant")} == {"CreateGrant"}
    assert all("errorCode" in e for e in audit(fresh_server, "--errors-only"))
    assert {e["userIdentity"]["arn"] for e in audit(fresh_server, "--principal", user["Arn"])} == {user["Arn"]}
    assert all(key["Arn"] in [r["ARN"] for r in e["resources"]] for e in audit(fresh_server, "--key", key["Arn"]))
    export = tmp_path / "audit.jsonl"
    fresh_server.admin_run("audit", "--output", str(export))
    assert len(export.read_text().splitlines()) == len(audit(fresh_server))

    # No secret anywhere: not in events, not in the server's log.
    secrets = [
        plaintext,
        data_key,
        blob,
        grant["GrantToken"].encode(),
        admin_secret.encode(),
        user["SecretAccessKey"].encode(),
    ]
    haystacks = [export.read_bytes(), fresh_server.log().encode()]
    for secret in secrets:
        for haystack in haystacks:
            assert secret not in haystack
            assert base64.b64encode(secret) not in haystack
    assert admin_key.encode() in export.read_bytes()  # access key IDs are not secret, and are logged


def test_role_assumptions_are_audited_without_credentials(server: TrentServer, tmp_path: Path) -> None:
    user = server.admin("user", "create", "000000000000", f"u{uuid.uuid4().hex[:8]}")
    trust = tmp_path / "trust.json"
    trust.write_text(
        json.dumps({"Statement": [{"Effect": "Allow", "Principal": {"AWS": user["Arn"]}, "Action": "sts:AssumeRole"}]})
    )
    role = server.admin("role", "create", "000000000000", f"r{uuid.uuid4().hex[:8]}", "--trust-policy", str(trust))
    sts = server.client("sts", access_key=user["AccessKeyId"], secret_key=user["SecretAccessKey"])
    creds = sts.assume_role(RoleArn=role["Arn"], RoleSessionName="audited", DurationSeconds=900)["Credentials"]
    admin_sts = server.client("sts")
    with pytest.raises(ClientError):
        admin_sts.assume_role(RoleArn=role["Arn"], RoleSessionName="refused")  # the trust policy names the user only
    events = [e for e in audit(server, "--event", "AssumeRole") if e["requestParameters"]["roleArn"] == role["Arn"]]
    assert [e["requestParameters"]["roleSessionName"] for e in events] == ["audited", "refused"]
    granted, refused = events
    assert granted["eventSource"] == "sts.amazonaws.com" and granted["readOnly"] is False
    assert granted["userIdentity"]["arn"] == user["Arn"]
    assert granted["requestParameters"] == {
        "roleArn": role["Arn"],
        "roleSessionName": "audited",
        "durationSeconds": 900,
    }
    assert "errorCode" not in granted
    assert refused["errorCode"] == "AccessDenied" and refused["userIdentity"]["arn"].endswith(":user/admin")
    text = json.dumps(events)
    for secret in (creds["SecretAccessKey"], creds["SessionToken"], user["SecretAccessKey"]):
        assert secret not in text


def test_a_refused_call_names_the_key_it_was_about(server: TrentServer, kms: Any) -> None:
    key = kms.create_key()["KeyMetadata"]
    ghost = f"arn:aws:iam::000000000000:user/ghost-{uuid.uuid4().hex[:8]}"
    with pytest.raises(ClientError):
        kms.create_grant(KeyId=key["KeyId"], GranteePrincipal=ghost, Operations=["Encrypt"])
    with pytest.raises(ClientError):
        kms.retire_grant(KeyId=key["Arn"], GrantId="0" * 64)
    events = audit(server, "--key", key["Arn"], "--errors-only")
    assert {(e["eventName"], e["errorCode"]) for e in events} == {
        ("CreateGrant", "ValidationException"),
        ("RetireGrant", "NotFoundException"),
    }
    assert all(e["resources"][0]["ARN"] == key["Arn"] for e in events)


def test_a_request_that_fails_authentication_keeps_its_claimed_key_and_region(server: TrentServer) -> None:
    stranger_key = f"AKIA{uuid.uuid4().hex[:16].upper()}"
    stranger = server.client("kms", access_key=stranger_key, secret_key="x" * 40, region="eu-west-1")
    with pytest.raises(ClientError):
        stranger.list_keys()
    events = [e for e in audit(server, "--errors-only") if e["userIdentity"].get("accessKeyId") == stranger_key]
    assert len(events) == 1
    assert events[0]["awsRegion"] == "eu-west-1" and events[0]["errorCode"] == "UnrecognizedClientException"


def _console_audit_rows(opener: Any, url: str) -> tuple[list[tuple[str, str, str]], str | None]:
    """(caller, event name, resources) of each row of a console audit page, and the link to older events if any."""
    import html
    import re

    with opener.open(url, timeout=10) as response:
        page = response.read().decode()
    rows = re.findall(
        r"<tr>\s*<td>[^<]*</td>\s*<td>\s*<details><summary>([^<]*)</summary>.*?</details>\s*</td>"
        r"\s*<td>([^<]*)</td>\s*<td>([^<]*)</td>",
        page,
        re.S,
    )
    older = re.search(r'<a href="([^"]+)">Older events</a>', page)
    found = [(html.unescape(caller), html.unescape(name), html.unescape(arns)) for name, caller, arns in rows]
    return found, html.unescape(older.group(1)) if older else None


def test_the_consoles_audit_pages_by_key_and_by_principal(server: TrentServer, tmp_path: Path) -> None:
    """The console's audit view filtered by key or by principal (index probes of the bucketed indexes): every
    row matches, pages follow one another without a gap or a repeat, newest first."""
    import http.cookiejar
    import urllib.parse
    import urllib.request

    kms = server.client("kms")
    key = kms.create_key()["KeyMetadata"]
    other = kms.create_key()["KeyMetadata"]
    user, user_kms = new_user(server, tmp_path, [{"Effect": "Allow", "Action": "kms:Encrypt", "Resource": key["Arn"]}])
    for _ in range(60):  # more than a page (50) of the user's events on the key
        user_kms.encrypt(KeyId=key["KeyId"], Plaintext=b"x")
    kms.encrypt(KeyId=other["KeyId"], Plaintext=b"y")
    kms.describe_key(KeyId=key["KeyId"])
    admin = server.client("sts").get_caller_identity()["Arn"]
    opener = urllib.request.build_opener(urllib.request.HTTPCookieProcessor(http.cookiejar.CookieJar()))
    # Signing in lands on the keys page, whose reads (DescribeKey, ...) are audited too.
    opener.open(server.admin("console-login", admin)["Url"], timeout=10).close()
    server.audit_output()  # waits for the batches to be written

    def all_pages(query: str) -> list[tuple[str, str, str]]:
        rows, older = _console_audit_rows(opener, f"{server.endpoint}/console/audit?{query}")
        first_page = len(rows)
        while older is not None:
            more, older = _console_audit_rows(opener, server.endpoint + older)
            rows += more
        assert first_page == min(50, len(rows))
        return rows

    by_principal = all_pages(urllib.parse.urlencode({"principal": user["Arn"]}))
    assert by_principal == [(user["Arn"], "Encrypt", f"{key['Arn']} ")] * 60
    by_key = all_pages(urllib.parse.urlencode({"key": key["Arn"]}))
    assert all(resources == f"{key['Arn']} " for _, _, resources in by_key)
    # Every event about the key, once each and in the same order (newest first) as `trent admin audit` has them
    # (oldest first).
    expected = server.audit_events("--key", key["Arn"])
    assert [(e["userIdentity"]["arn"], e["eventName"]) for e in expected][::-1] == [
        (caller, name) for caller, name, _ in by_key
    ]
