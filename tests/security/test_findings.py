"""Divergences the differential tests (tests/authz_model) found, each as a minimal regression test through boto3.
(A revoked grant's token on another PostgreSQL node is in test_caches.py.)"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from botocore.exceptions import ClientError

from tests.e2e.test_authorization import denied, key_policy, new_user
from tests.e2e.test_keys import error_of
from tests.server import TrentServer

A = "000000000000"
ROOT_STATEMENT = {"Effect": "Allow", "Principal": {"AWS": f"arn:aws:iam::{A}:root"}, "Action": "kms:*", "Resource": "*"}


def test_the_lockout_check_sees_the_keys_aliases_when_only_the_new_policy_names_them(kms: Any) -> None:
    """The check gathered tags and aliases only if the *stored* policy named them: a new policy with a
    ForAllValues condition on kms:ResourceAliases then saw none, its Deny held vacuously, and the caller was told
    it would lock itself out."""
    key = kms.create_key()["KeyMetadata"]
    kms.create_alias(AliasName="alias/finding-lockout", TargetKeyId=key["KeyId"])
    deny_unless_other_alias = {
        "Effect": "Deny",
        "Principal": {"AWS": "*"},
        "Action": "kms:PutKeyPolicy",
        "Resource": "*",
        "Condition": {"ForAllValues:StringLike": {"kms:ResourceAliases": "alias/other*"}},
    }
    policy = key_policy(ROOT_STATEMENT, deny_unless_other_alias)
    kms.put_key_policy(KeyId=key["KeyId"], PolicyName="default", Policy=policy)
    assert kms.get_key_policy(KeyId=key["KeyId"])["Policy"] == policy


def test_re_encrypt_decides_the_destination_before_telling_the_source_keys_state(
    server: TrentServer, kms: Any, tmp_path: Path
) -> None:
    """A caller allowed to ReEncryptFrom a key pending deletion, but not to ReEncryptTo the destination, heard
    KMSInvalidStateException about the source instead of AccessDeniedException."""
    source = kms.create_key()["KeyMetadata"]
    destination = kms.create_key()["KeyMetadata"]
    blob = kms.encrypt(KeyId=source["Arn"], Plaintext=b"x")["CiphertextBlob"]
    from_only = [{"Effect": "Allow", "Action": "kms:ReEncryptFrom", "Resource": source["Arn"]}]
    _, user = new_user(server, tmp_path, from_only)
    kms.schedule_key_deletion(KeyId=source["KeyId"], PendingWindowInDays=7)
    denied(lambda: user.re_encrypt(CiphertextBlob=blob, DestinationKeyId=destination["Arn"]))
    with pytest.raises(ClientError) as exc:  # the owner, allowed both, hears about the state
        kms.re_encrypt(CiphertextBlob=blob, DestinationKeyId=destination["Arn"])
    assert error_of(exc)[0] == "KMSInvalidStateException"


def test_create_key_with_tags_decides_tag_resource_with_the_facts_of_the_request(
    server: TrentServer, tmp_path: Path
) -> None:
    """CreateKey with Tags also needs kms:TagResource; that decision saw only the tags, not the rest of the
    request's facts, so a Deny conditioned on kms:BypassPolicyLockoutSafetyCheck (false by default) was missed."""
    no_tagging_without_bypass = {
        "Effect": "Deny",
        "Action": "kms:Tag*",
        "Resource": "*",
        "Condition": {"Bool": {"kms:BypassPolicyLockoutSafetyCheck": "false"}},
    }
    _, user = new_user(
        server, tmp_path, [{"Effect": "Allow", "Action": "*", "Resource": "*"}, no_tagging_without_bypass]
    )
    before = {k["KeyId"] for k in user.list_keys(Limit=1000)["Keys"]}
    denied(lambda: user.create_key(Tags=[{"TagKey": "env", "TagValue": "dev"}]))
    assert {k["KeyId"] for k in user.list_keys(Limit=1000)["Keys"]} == before
    assert user.create_key()["KeyMetadata"]["KeyId"]  # without tags, no TagResource decision
