"""The IAM API on Trent's endpoint, through boto3's `iam` client and the AWS CLI, on SQLite and PostgreSQL:
users, access keys, inline policies, roles and tags, authorized like everything else, and revocation that takes
effect at once on every worker."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import time
import urllib.parse
import uuid
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import pytest
from botocore.exceptions import ClientError

from tests.server import TrentServer

A = "000000000000"
KMS_LIST_KEYS = {"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "kms:ListKeys", "Resource": "*"}]}


def error(call: Any) -> tuple[str, str | None, int]:
    with pytest.raises(ClientError) as exc:
        call()
    response = exc.value.response
    return response["Error"]["Code"], response["Error"].get("Message"), response["ResponseMetadata"]["HTTPStatusCode"]


@pytest.fixture(scope="module")
def iam(server: TrentServer) -> Any:
    return server.client("iam")


def name(prefix: str = "u") -> str:
    return f"{prefix}{uuid.uuid4().hex[:10]}"


def kms_as(server: TrentServer, key: dict[str, Any], region: str = "us-east-1") -> Any:
    return server.client("kms", access_key=key["AccessKeyId"], secret_key=key["SecretAccessKey"], region=region)


def test_users_are_created_listed_read_and_deleted(server: TrentServer, iam: Any) -> None:
    user_name = name()
    user = iam.create_user(UserName=user_name, Tags=[{"Key": "team", "Value": "blue"}])["User"]
    assert user["Arn"] == f"arn:aws:iam::{A}:user/{user_name}"
    assert user["UserId"].startswith("AIDA") and user["Path"] == "/"
    assert user["Tags"] == [{"Key": "team", "Value": "blue"}]
    assert iam.get_user(UserName=user_name)["User"]["UserId"] == user["UserId"]
    listed = [
        u["UserName"]
        for page in iam.get_paginator("list_users").paginate(PaginationConfig={"PageSize": 1})
        for u in page["Users"]
    ]
    assert user_name in listed and len(listed) == len(set(listed))
    assert error(lambda: iam.create_user(UserName=user_name)) == (
        "EntityAlreadyExists",
        f"User with name {user_name} already exists.",
        409,
    )
    iam.delete_user(UserName=user_name)
    assert error(lambda: iam.get_user(UserName=user_name)) == (
        "NoSuchEntity",
        f"The user with name {user_name} cannot be found.",
        404,
    )
    unchecked = server.client("iam", parameter_validation=False)  # the server must check, not only botocore
    assert error(lambda: unchecked.create_user(UserName="bad name!"))[0] == "ValidationError"
    assert error(lambda: unchecked.list_users(MaxItems=0))[:2] == (
        "ValidationError",
        "1 validation error detected: Value '0' at 'maxItems' failed to satisfy constraint: "
        "Member must have value greater than or equal to 1",
    )


def test_a_user_with_access_keys_or_policies_cannot_be_deleted(iam: Any) -> None:
    user_name = name()
    iam.create_user(UserName=user_name)
    key = iam.create_access_key(UserName=user_name)["AccessKey"]
    iam.put_user_policy(UserName=user_name, PolicyName="p", PolicyDocument=json.dumps(KMS_LIST_KEYS))
    assert error(lambda: iam.delete_user(UserName=user_name))[:2] == (
        "DeleteConflict",
        "Cannot delete entity, must delete access keys first.",
    )
    iam.delete_access_key(UserName=user_name, AccessKeyId=key["AccessKeyId"])
    assert error(lambda: iam.delete_user(UserName=user_name))[:2] == (
        "DeleteConflict",
        "Cannot delete entity, must delete policies first.",
    )
    iam.delete_user_policy(UserName=user_name, PolicyName="p")
    iam.delete_user(UserName=user_name)


def test_access_keys_authenticate_until_deactivated_or_deleted(server: TrentServer, iam: Any) -> None:
    user_name = name()
    iam.create_user(UserName=user_name)
    iam.put_user_policy(UserName=user_name, PolicyName="list", PolicyDocument=json.dumps(KMS_LIST_KEYS))
    key = iam.create_access_key(UserName=user_name)["AccessKey"]
    assert (key["UserName"], key["Status"]) == (user_name, "Active") and key["AccessKeyId"].startswith("AKIA")
    second = iam.create_access_key(UserName=user_name)["AccessKey"]
    assert error(lambda: iam.create_access_key(UserName=user_name))[:2] == (
        "LimitExceeded",
        "Cannot exceed quota for AccessKeysPerUser: 2",
    )
    listed = iam.list_access_keys(UserName=user_name)["AccessKeyMetadata"]
    assert {k["AccessKeyId"] for k in listed} == {key["AccessKeyId"], second["AccessKeyId"]}
    assert all("SecretAccessKey" not in k for k in listed)
    kms = kms_as(server, key)
    kms.list_keys()
    iam.update_access_key(UserName=user_name, AccessKeyId=key["AccessKeyId"], Status="Inactive")
    assert error(kms.list_keys)[:2] == (
        "UnrecognizedClientException",
        "The security token included in the request is invalid.",
    )
    assert {k["Status"] for k in iam.list_access_keys(UserName=user_name)["AccessKeyMetadata"]} == {
        "Active",
        "Inactive",
    }
    iam.update_access_key(UserName=user_name, AccessKeyId=key["AccessKeyId"], Status="Active")
    kms.list_keys()
    iam.delete_access_key(UserName=user_name, AccessKeyId=key["AccessKeyId"])
    assert error(kms.list_keys)[0] == "UnrecognizedClientException"
    assert error(lambda: iam.delete_access_key(UserName=user_name, AccessKeyId=key["AccessKeyId"]))[0] == (
        "NoSuchEntity"
    )
    # The caller's own keys, without UserName: the user manages its own second key.
    own_iam = server.client("iam", access_key=second["AccessKeyId"], secret_key=second["SecretAccessKey"])
    assert error(own_iam.list_access_keys)[0] == "AccessDenied"  # no iam: permission yet
    iam.put_user_policy(
        UserName=user_name,
        PolicyName="self",
        PolicyDocument=json.dumps(
            {
                "Version": "2012-10-17",
                "Statement": [
                    {"Effect": "Allow", "Action": "iam:*AccessKey*", "Resource": "arn:aws:iam::*:user/${aws:username}"}
                ],
            }
        ),
    )
    assert [k["AccessKeyId"] for k in own_iam.list_access_keys()["AccessKeyMetadata"]] == [second["AccessKeyId"]]


def test_inline_policies_apply_at_once_and_are_validated(server: TrentServer, iam: Any) -> None:
    user_name = name()
    iam.create_user(UserName=user_name)
    kms = kms_as(server, iam.create_access_key(UserName=user_name)["AccessKey"])
    assert error(kms.list_keys)[0] == "AccessDeniedException"
    iam.put_user_policy(UserName=user_name, PolicyName="list", PolicyDocument=json.dumps(KMS_LIST_KEYS))
    kms.list_keys()
    got = iam.get_user_policy(UserName=user_name, PolicyName="list")
    assert got["PolicyDocument"] == KMS_LIST_KEYS  # boto3 decodes the URL-encoded document, as AWS sends it
    assert iam.list_user_policies(UserName=user_name)["PolicyNames"] == ["list"]
    iam.delete_user_policy(UserName=user_name, PolicyName="list")
    assert error(kms.list_keys)[0] == "AccessDeniedException"
    assert error(lambda: iam.put_user_policy(UserName=user_name, PolicyName="bad", PolicyDocument="{not json"))[0] == (
        "MalformedPolicyDocument"
    )
    assert error(lambda: iam.get_user_policy(UserName=user_name, PolicyName="list"))[0] == "NoSuchEntity"


def test_roles_trust_policies_and_sessions_that_end_with_the_role(server: TrentServer, iam: Any) -> None:
    user_name, role_name = name(), name("r")
    user = iam.create_user(UserName=user_name)["User"]
    iam.put_user_policy(
        UserName=user_name,
        PolicyName="assume",
        PolicyDocument=json.dumps(
            {"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "sts:AssumeRole", "Resource": "*"}]}
        ),
    )
    key = iam.create_access_key(UserName=user_name)["AccessKey"]
    trust = {
        "Version": "2012-10-17",
        "Statement": [{"Effect": "Allow", "Principal": {"AWS": user["Arn"]}, "Action": "sts:AssumeRole"}],
    }
    role = iam.create_role(RoleName=role_name, AssumeRolePolicyDocument=json.dumps(trust))["Role"]
    assert role["Arn"] == f"arn:aws:iam::{A}:role/{role_name}" and role["RoleId"].startswith("AROA")
    assert role["AssumeRolePolicyDocument"] == trust
    assert role_name in [r["RoleName"] for page in iam.get_paginator("list_roles").paginate() for r in page["Roles"]]
    iam.put_role_policy(RoleName=role_name, PolicyName="list", PolicyDocument=json.dumps(KMS_LIST_KEYS))
    assert iam.list_role_policies(RoleName=role_name)["PolicyNames"] == ["list"]
    sts = server.client("sts", access_key=key["AccessKeyId"], secret_key=key["SecretAccessKey"])
    credentials = sts.assume_role(RoleArn=role["Arn"], RoleSessionName="s1")["Credentials"]
    session = server.client(
        "kms",
        access_key=credentials["AccessKeyId"],
        secret_key=credentials["SecretAccessKey"],
        session_token=credentials["SessionToken"],
    )
    session.list_keys()
    # A trust policy that no longer names the user: no new session.
    iam.update_assume_role_policy(
        RoleName=role_name,
        PolicyDocument=json.dumps({**trust, "Statement": [{**trust["Statement"][0], "Effect": "Deny"}]}),
    )
    assert error(lambda: sts.assume_role(RoleArn=role["Arn"], RoleSessionName="s2"))[0] == "AccessDenied"
    assert error(lambda: iam.delete_role(RoleName=role_name))[0] == "DeleteConflict"
    iam.delete_role_policy(RoleName=role_name, PolicyName="list")
    iam.delete_role(RoleName=role_name)
    assert error(session.list_keys)[0] == "UnrecognizedClientException"  # the session ended with its role
    assert error(lambda: iam.get_role(RoleName=role_name))[0] == "NoSuchEntity"


def test_iam_is_authorized_by_identity_policies_in_the_callers_account(server: TrentServer, iam: Any) -> None:
    user_name = name()
    iam.create_user(UserName=user_name)
    key = iam.create_access_key(UserName=user_name)["AccessKey"]
    user_iam = server.client("iam", access_key=key["AccessKeyId"], secret_key=key["SecretAccessKey"])
    code, message, status = error(lambda: user_iam.create_user(UserName=name()))
    assert (code, status) == ("AccessDenied", 403) and "iam:CreateUser" in (message or "")
    iam.put_user_policy(
        UserName=user_name,
        PolicyName="admins",
        PolicyDocument=json.dumps(
            {
                "Version": "2012-10-17",
                "Statement": [
                    {
                        "Effect": "Allow",
                        "Action": ["iam:CreateUser", "iam:GetUser"],
                        "Resource": f"arn:aws:iam::{A}:user/app-*",
                    }
                ],
            }
        ),
    )
    created = name("app-")
    user_iam.create_user(UserName=created)
    assert user_iam.get_user(UserName=created)["User"]["UserName"] == created
    assert error(lambda: user_iam.create_user(UserName=name("ops-")))[0] == "AccessDenied"
    assert error(lambda: user_iam.delete_user(UserName=created))[0] == "AccessDenied"
    # Another account's root sees only its own account's users.
    other_account = f"{uuid.uuid4().int % 10**12:012d}"
    server.admin("account", "create", other_account)
    other_root = server.admin("access-key", "create", f"arn:aws:iam::{other_account}:root")
    other_iam = server.client("iam", access_key=other_root["AccessKeyId"], secret_key=other_root["SecretAccessKey"])
    assert created not in [u["UserName"] for u in other_iam.list_users()["Users"]]
    assert error(lambda: other_iam.get_user(UserName=created))[0] == "NoSuchEntity"


def test_user_tags(iam: Any) -> None:
    user_name = name()
    iam.create_user(UserName=user_name)
    iam.tag_user(UserName=user_name, Tags=[{"Key": "a", "Value": "1"}, {"Key": "b", "Value": "2"}])
    iam.untag_user(UserName=user_name, TagKeys=["a"])
    assert iam.list_user_tags(UserName=user_name)["Tags"] == [{"Key": "b", "Value": "2"}]
    assert error(lambda: iam.tag_user(UserName=user_name, Tags=[{"Key": "aws:x", "Value": "1"}]))[0] == (
        "ValidationError"
    )


def test_iam_calls_are_audited_without_secrets(server: TrentServer, iam: Any) -> None:
    user_name = name()
    iam.create_user(UserName=user_name)
    secret = iam.create_access_key(UserName=user_name)["AccessKey"]["SecretAccessKey"]
    output = server.audit_output("--event", "CreateAccessKey")
    assert secret not in output
    events = [json.loads(line) for line in output.splitlines() if line.strip()]
    [event] = [e for e in events if (e.get("requestParameters") or {}).get("userName") == user_name]
    assert event["eventSource"] == "iam.amazonaws.com" and event["readOnly"] is False


def test_a_deactivated_key_is_refused_at_once_by_every_worker(tmp_path: Path) -> None:
    trent = TrentServer(tmp_path / "data", extra_args=["--workers", "2"])
    trent.init()
    trent.start()
    try:
        iam = trent.client("iam")
        user_name = name()
        iam.create_user(UserName=user_name)
        iam.put_user_policy(UserName=user_name, PolicyName="list", PolicyDocument=json.dumps(KMS_LIST_KEYS))
        key = iam.create_access_key(UserName=user_name)["AccessKey"]
        clients = [kms_as(trent, key) for _ in range(16)]  # new connections land on both workers
        with ThreadPoolExecutor(8) as pool:
            list(pool.map(lambda c: c.list_keys(), clients * 4))  # every worker now holds the key in its cache
        iam.update_access_key(UserName=user_name, AccessKeyId=key["AccessKeyId"], Status="Inactive")

        def refused(client: Any) -> str:
            return error(client.list_keys)[0]

        with ThreadPoolExecutor(8) as pool:
            assert set(pool.map(refused, clients * 4)) == {"UnrecognizedClientException"}
    finally:
        trent.stop()


@pytest.mark.skipif(
    shutil.which("aws", path=str(Path(os.sys.executable).parent)) is None,
    reason="the AWS CLI (dev extra 'awscli') is not installed in this environment",
)
def test_the_aws_cli_manages_users(server: TrentServer) -> None:
    aws = str(Path(os.sys.executable).parent / "aws")
    access_key, secret = server.admin_credentials()
    env = {k: v for k, v in os.environ.items() if not k.startswith("AWS_")}
    env |= {"AWS_ACCESS_KEY_ID": access_key, "AWS_SECRET_ACCESS_KEY": secret, "AWS_DEFAULT_REGION": "us-east-1"}

    def cli(*args: str) -> dict[str, Any]:
        result = subprocess.run(
            [aws, "--endpoint-url", server.endpoint, "iam", *args, "--output", "json"],
            capture_output=True,
            text=True,
            env=env,
            timeout=60,
            check=False,
        )
        assert result.returncode == 0, result.stderr
        return json.loads(result.stdout) if result.stdout.strip() else {}

    user_name = name()
    assert cli("create-user", "--user-name", user_name)["User"]["UserName"] == user_name
    key = cli("create-access-key", "--user-name", user_name)["AccessKey"]
    assert (
        cli("list-access-keys", "--user-name", user_name)["AccessKeyMetadata"][0]["AccessKeyId"] == key["AccessKeyId"]
    )
    cli("delete-access-key", "--user-name", user_name, "--access-key-id", key["AccessKeyId"])
    cli("delete-user", "--user-name", user_name)
    assert user_name not in [u["UserName"] for u in cli("list-users")["Users"]]


def test_a_deleted_users_grants_do_not_pass_to_a_new_user_of_the_same_name(server: TrentServer, iam: Any) -> None:
    user_name = name()
    first = iam.create_user(UserName=user_name)["User"]
    kms = server.client("kms")
    key_id = kms.create_key()["KeyMetadata"]["KeyId"]
    grant_id = kms.create_grant(KeyId=key_id, GranteePrincipal=first["Arn"], Operations=["Encrypt"])["GrantId"]
    key = iam.create_access_key(UserName=user_name)["AccessKey"]
    kms_as(server, key).encrypt(KeyId=key_id, Plaintext=b"x")
    iam.delete_access_key(UserName=user_name, AccessKeyId=key["AccessKeyId"])
    iam.delete_user(UserName=user_name)
    [grant] = [g for g in kms.list_grants(KeyId=key_id)["Grants"] if g["GrantId"] == grant_id]
    assert grant["GranteePrincipal"] == first["UserId"]  # as AWS shows a deleted grantee: its unique ID
    second = iam.create_user(UserName=user_name)["User"]
    assert second["Arn"] == first["Arn"] and second["UserId"] != first["UserId"]
    new_key = iam.create_access_key(UserName=user_name)["AccessKey"]
    assert error(lambda: kms_as(server, new_key).encrypt(KeyId=key_id, Plaintext=b"x"))[0] == "AccessDeniedException"


def test_account_authorization_details_list_users_roles_and_their_policies(iam: Any) -> None:
    user_name, role_name = name(), name("r")
    iam.create_user(UserName=user_name, Tags=[{"Key": "t", "Value": "v"}])
    iam.put_user_policy(UserName=user_name, PolicyName="list", PolicyDocument=json.dumps(KMS_LIST_KEYS))
    trust = {
        "Version": "2012-10-17",
        "Statement": [{"Effect": "Allow", "Principal": {"AWS": f"arn:aws:iam::{A}:root"}, "Action": "sts:AssumeRole"}],
    }
    iam.create_role(RoleName=role_name, AssumeRolePolicyDocument=json.dumps(trust))
    users: dict[str, Any] = {}
    roles: dict[str, Any] = {}
    pages = iam.get_paginator("get_account_authorization_details").paginate(PaginationConfig={"PageSize": 2})
    for page in pages:
        users |= {u["UserName"]: u for u in page["UserDetailList"]}
        roles |= {r["RoleName"]: r for r in page["RoleDetailList"]}
    assert users[user_name]["UserPolicyList"] == [{"PolicyName": "list", "PolicyDocument": KMS_LIST_KEYS}]
    assert users[user_name]["Tags"] == [{"Key": "t", "Value": "v"}]
    assert roles[role_name]["AssumeRolePolicyDocument"] == trust
    only_roles = iam.get_account_authorization_details(Filter=["Role"])
    assert only_roles["UserDetailList"] == [] and role_name in [r["RoleName"] for r in only_roles["RoleDetailList"]]


def test_access_key_last_used(server: TrentServer, iam: Any) -> None:
    user_name = name()
    iam.create_user(UserName=user_name)
    iam.put_user_policy(UserName=user_name, PolicyName="list", PolicyDocument=json.dumps(KMS_LIST_KEYS))
    key = iam.create_access_key(UserName=user_name)["AccessKey"]
    never = iam.get_access_key_last_used(AccessKeyId=key["AccessKeyId"])
    assert never["UserName"] == user_name
    assert never["AccessKeyLastUsed"] == {"ServiceName": "N/A", "Region": "N/A"}
    kms_as(server, key, region="eu-west-1").list_keys()
    used = iam.get_access_key_last_used(AccessKeyId=key["AccessKeyId"])["AccessKeyLastUsed"]
    assert (used["ServiceName"], used["Region"]) == ("kms", "eu-west-1")
    assert abs(used["LastUsedDate"].timestamp() - time.time()) < 120
    assert error(lambda: iam.get_access_key_last_used(AccessKeyId="AKIA" + "A" * 16))[0] == "NoSuchEntity"


def test_admin_commands_for_revocation_and_profiles(fresh_server: TrentServer) -> None:
    import boto3

    fresh_server.init()
    fresh_server.start()
    created = fresh_server.admin("user", "create", A, "bob", "--profile", "bob")
    mode = (fresh_server.data_dir / "credentials").stat().st_mode & 0o777
    assert mode == 0o600
    env = {
        "AWS_CONFIG_FILE": str(fresh_server.data_dir / "aws-config"),
        "AWS_SHARED_CREDENTIALS_FILE": str(fresh_server.data_dir / "credentials"),
    }
    old = {k: os.environ.get(k) for k in env}
    os.environ.update(env)
    try:
        sts = boto3.Session(profile_name="bob").client("sts")
        assert sts.get_caller_identity()["Arn"] == created["Arn"]
    finally:
        for k, v in old.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v
    listed = fresh_server.admin("access-key", "list", A, "bob")["AccessKeyMetadata"]
    assert [k["AccessKeyId"] for k in listed] == [created["AccessKeyId"]]
    fresh_server.admin("access-key", "deactivate", A, "bob", created["AccessKeyId"])
    bob = fresh_server.client("sts", access_key=created["AccessKeyId"], secret_key=created["SecretAccessKey"])
    assert error(bob.get_caller_identity)[0] == "InvalidClientTokenId"
    fresh_server.admin("access-key", "activate", A, "bob", created["AccessKeyId"])
    bob.get_caller_identity()
    refused = fresh_server.admin_run("user", "delete", A, "bob", check=False)
    assert refused.returncode != 0
    assert "DeleteConflict" in refused.stderr + refused.stdout
    fresh_server.admin("access-key", "delete", created["AccessKeyId"])
    fresh_server.admin("user", "delete", A, "bob")
    assert error(bob.get_caller_identity)[0] == "InvalidClientTokenId"


def test_a_policy_naming_a_kms_action_that_does_not_exist_is_refused_everywhere(server: TrentServer, iam: Any) -> None:
    typo = {"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "kms:Decryptt", "Resource": "*"}]}
    user_name = name()
    iam.create_user(UserName=user_name)
    code, message, _ = error(
        lambda: iam.put_user_policy(UserName=user_name, PolicyName="p", PolicyDocument=json.dumps(typo))
    )
    expected = "Policy contains a statement with one or more invalid actions: kms:Decryptt is not a KMS action"
    assert code == "MalformedPolicyDocument" and message is not None and message.startswith(expected)
    assert "did you mean kms:Decrypt" in message
    key_policy = {**typo, "Statement": [{**typo["Statement"][0], "Principal": {"AWS": f"arn:aws:iam::{A}:root"}}]}
    kms = server.client("kms")
    with pytest.raises(ClientError) as exc:
        kms.create_key(Policy=json.dumps(key_policy), BypassPolicyLockoutSafetyCheck=True)
    assert exc.value.response["Error"]["Code"] == "MalformedPolicyDocumentException"
    assert exc.value.response["Error"]["Message"].startswith(expected)
    refused = server.admin_run(
        "policy", "put", f"arn:aws:iam::{A}:user/{user_name}", "p", str(_write(typo)), check=False
    )
    assert refused.returncode != 0 and expected in refused.stderr + refused.stdout
    wildcard = {**typo, "Statement": [{**typo["Statement"][0], "Action": ["kms:Decrypt*", "s3:GetObject"]}]}
    iam.put_user_policy(UserName=user_name, PolicyName="p", PolicyDocument=json.dumps(wildcard))


def _write(document: dict[str, Any]) -> Path:
    import tempfile

    with tempfile.NamedTemporaryFile("w", suffix=".json", delete=False) as handle:
        json.dump(document, handle)
    return Path(handle.name)


# --- found by an attack from outside (issue 15/16), each fixed ---------------------------------------------------
def _console(server: TrentServer) -> Any:
    """A urllib opener with its own cookies: a browser, for the console."""
    import http.cookiejar
    import urllib.request

    return urllib.request.build_opener(urllib.request.HTTPCookieProcessor(http.cookiejar.CookieJar()))


def _page(opener: Any, url: str) -> tuple[int, str]:
    import urllib.error

    try:
        with opener.open(url, timeout=10) as response:
            return response.status, response.geturl()
    except urllib.error.HTTPError as exc:
        return exc.code, url


def test_a_console_session_never_passes_to_a_new_principal_of_the_same_name(server: TrentServer, iam: Any) -> None:
    user_name = name()
    arn = iam.create_user(UserName=user_name)["User"]["Arn"]
    browser = _console(server)
    assert _page(browser, server.admin("console-login", arn)["Url"])[1].endswith("/console/keys")
    unused = server.admin("console-login", arn)["Url"]  # printed, not used yet
    iam.delete_user(UserName=user_name)
    iam.create_user(UserName=user_name)  # a new principal with the old name
    assert _page(browser, server.endpoint + "/console/keys")[1].endswith("/console/login")
    assert _page(_console(server), unused)[0] == 401


def test_a_session_ended_by_an_inactive_key_does_not_come_back_with_it(server: TrentServer, iam: Any) -> None:

    user_name = name()
    iam.create_user(UserName=user_name)
    key = iam.create_access_key(UserName=user_name)["AccessKey"]
    browser = _console(server)
    form = urllib.parse.urlencode({"access_key_id": key["AccessKeyId"], "secret_access_key": key["SecretAccessKey"]})
    with browser.open(server.endpoint + "/console/login", data=form.encode(), timeout=10) as response:
        assert response.geturl().endswith("/console/keys")
    iam.update_access_key(UserName=user_name, AccessKeyId=key["AccessKeyId"], Status="Inactive")
    iam.update_access_key(UserName=user_name, AccessKeyId=key["AccessKeyId"], Status="Active")
    assert _page(browser, server.endpoint + "/console/keys")[1].endswith("/console/login")
    events = server.audit_events("--event", "ConsoleLogin", "--principal", f"arn:aws:iam::{A}:user/{user_name}")
    assert events and events[-1]["eventSource"] == "signin.amazonaws.com"


def test_sign_in_from_another_origin_or_a_sandboxed_frame_is_refused(server: TrentServer) -> None:
    import urllib.error
    import urllib.request

    access_key, secret = server.admin_credentials()
    form = urllib.parse.urlencode({"access_key_id": access_key, "secret_access_key": secret}).encode()
    for headers in ({"Origin": "null"}, {"Origin": "http://evil.example"}, {"Sec-Fetch-Site": "cross-site"}):
        request = urllib.request.Request(server.endpoint + "/console/login", data=form, headers=headers)
        with pytest.raises(urllib.error.HTTPError) as exc:
            urllib.request.urlopen(request, timeout=10)
        assert exc.value.code == 403


def test_grants_naming_a_deleted_roles_sessions_pass_to_no_new_role(server: TrentServer, iam: Any) -> None:
    role_name = name("r")
    user_name = name()
    user = iam.create_user(UserName=user_name)["User"]
    assume = {"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "sts:AssumeRole", "Resource": "*"}]}
    iam.put_user_policy(UserName=user_name, PolicyName="assume", PolicyDocument=json.dumps(assume))
    key = iam.create_access_key(UserName=user_name)["AccessKey"]
    trust = {
        "Version": "2012-10-17",
        "Statement": [{"Effect": "Allow", "Principal": {"AWS": user["Arn"]}, "Action": "sts:AssumeRole"}],
    }
    iam.create_role(RoleName=role_name, AssumeRolePolicyDocument=json.dumps(trust))
    kms = server.client("kms")
    key_id = kms.create_key()["KeyMetadata"]["KeyId"]
    session_arn = f"arn:aws:sts::{A}:assumed-role/{role_name}/ops"
    kms.create_grant(KeyId=key_id, GranteePrincipal=session_arn, Operations=["Encrypt"])
    iam.delete_role(RoleName=role_name)
    iam.create_role(RoleName=role_name, AssumeRolePolicyDocument=json.dumps(trust))
    sts = server.client("sts", access_key=key["AccessKeyId"], secret_key=key["SecretAccessKey"])
    credentials = sts.assume_role(RoleArn=f"arn:aws:iam::{A}:role/{role_name}", RoleSessionName="ops")["Credentials"]
    session = server.client(
        "kms",
        access_key=credentials["AccessKeyId"],
        secret_key=credentials["SecretAccessKey"],
        session_token=credentials["SessionToken"],
    )
    assert error(lambda: session.encrypt(KeyId=key_id, Plaintext=b"x"))[0] == "AccessDeniedException"


def test_trust_policies_name_existing_principals_and_forget_deleted_ones(server: TrentServer, iam: Any) -> None:
    ghost = f"arn:aws:iam::{A}:user/{name('ghost')}"
    trust = {
        "Version": "2012-10-17",
        "Statement": [{"Effect": "Allow", "Principal": {"AWS": ghost}, "Action": "sts:AssumeRole"}],
    }
    code, message, _ = error(lambda: iam.create_role(RoleName=name("r"), AssumeRolePolicyDocument=json.dumps(trust)))
    assert code == "MalformedPolicyDocument" and message == f'Invalid principal in policy: "AWS":"{ghost}"'
    bob = name("bob")
    bob_arn = iam.create_user(UserName=bob)["User"]["Arn"]
    role = name("r")
    trust["Statement"][0]["Principal"] = {"AWS": bob_arn}  # type: ignore[index]
    iam.create_role(RoleName=role, AssumeRolePolicyDocument=json.dumps(trust))
    iam.delete_user(UserName=bob)
    iam.create_user(UserName=bob)
    assume = {"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "sts:AssumeRole", "Resource": "*"}]}
    iam.put_user_policy(UserName=bob, PolicyName="assume", PolicyDocument=json.dumps(assume))
    key = iam.create_access_key(UserName=bob)["AccessKey"]
    sts = server.client("sts", access_key=key["AccessKeyId"], secret_key=key["SecretAccessKey"])
    assert error(lambda: sts.assume_role(RoleArn=f"arn:aws:iam::{A}:role/{role}", RoleSessionName="s1"))[0] == (
        "AccessDenied"
    )


def test_names_are_unique_whatever_their_case_and_two_keys_hold_under_concurrency(iam: Any) -> None:
    user_name = name("Case")
    iam.create_user(UserName=user_name)
    assert error(lambda: iam.create_user(UserName=user_name.upper()))[0] == "EntityAlreadyExists"

    def create(_: int) -> str:
        try:
            iam.create_access_key(UserName=user_name)
            return "created"
        except ClientError as exc:
            return str(exc.response["Error"]["Code"])

    with ThreadPoolExecutor(6) as pool:
        outcomes = list(pool.map(create, range(6)))
    assert outcomes.count("created") == 2 and len(iam.list_access_keys(UserName=user_name)["AccessKeyMetadata"]) == 2


def test_a_one_time_link_signs_in_once_under_concurrency(server: TrentServer) -> None:
    link = server.admin("console-login", f"arn:aws:iam::{A}:user/admin")["Url"]
    with ThreadPoolExecutor(6) as pool:
        statuses = list(pool.map(lambda _: _page(_console(server), link)[0], range(6)))
    assert statuses.count(200) == 1 and statuses.count(401) == 5


def test_console_forms_refuse_bad_numbers_and_other_accounts_keys_in_explain(server: TrentServer) -> None:
    import re

    browser = _console(server)
    access_key, secret = server.admin_credentials()
    form = urllib.parse.urlencode({"access_key_id": access_key, "secret_access_key": secret}).encode()
    with browser.open(server.endpoint + "/console/login", data=form, timeout=10) as response:
        csrf = re.search(r'name="csrf" value="([^"]+)"', response.read().decode()).group(1)  # type: ignore[union-attr]
    key_id = server.client("kms").create_key()["KeyMetadata"]["KeyId"]

    def post(path: str, fields: dict[str, str]) -> tuple[int, str]:
        import urllib.error

        data = urllib.parse.urlencode({"csrf": csrf, **fields}).encode()
        try:
            with browser.open(server.endpoint + path, data=data, timeout=10) as response:
                return response.status, response.read().decode()
        except urllib.error.HTTPError as exc:
            return exc.code, exc.read().decode()

    for days in ("abc", "7.5", "nan", "1e400"):
        status, body = post(f"/console/keys/{key_id}/schedule-deletion", {"days": days})
        assert status == 400 and ("ValidationException" in body or "SerializationException" in body), (days, status)
    other = f"arn:aws:kms:us-east-1:999999999999:key/{uuid.uuid4()}"
    status, body = post(
        "/console/explain", {"principal": f"arn:aws:iam::{A}:user/admin", "action": "kms:Decrypt", "key": other}
    )
    assert "keys of your own account only" in body


def test_the_consoles_grants_across_keys_show_only_keys_the_user_may_list(server: TrentServer, iam: Any) -> None:
    kms = server.client("kms")
    mine, theirs = (kms.create_key()["KeyMetadata"]["Arn"] for _ in range(2))
    user_name = name()
    arn = iam.create_user(UserName=user_name)["User"]["Arn"]
    for key in (mine, theirs):
        kms.create_grant(KeyId=key, GranteePrincipal=arn, Operations=["Encrypt"], Name=f"g-{key[-6:]}")
    only_mine = {
        "Version": "2012-10-17",
        "Statement": [{"Effect": "Allow", "Action": "kms:ListGrants", "Resource": mine}],
    }
    iam.put_user_policy(UserName=user_name, PolicyName="list", PolicyDocument=json.dumps(only_mine))
    key = iam.create_access_key(UserName=user_name)["AccessKey"]
    browser = _console(server)
    form = urllib.parse.urlencode({"access_key_id": key["AccessKeyId"], "secret_access_key": key["SecretAccessKey"]})
    browser.open(server.endpoint + "/console/login", data=form.encode(), timeout=10).close()
    with browser.open(server.endpoint + "/console/grants?grantee=" + urllib.parse.quote(arn), timeout=10) as page:
        html = page.read().decode()
    assert f"g-{mine[-6:]}" in html and f"g-{theirs[-6:]}" not in html
