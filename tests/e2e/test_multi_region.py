"""Multi-Region keys through boto3 against a live server, on SQLite and PostgreSQL: a primary and replicas in other
Regions of the same account share their ID and material, and nothing else (the fact sheet of imported material
and multi-Region keys, §13-18; docs/decisions.md D25)."""

from __future__ import annotations

import json
import os
import re
import time
from pathlib import Path
from typing import Any

import pytest
from botocore.exceptions import ClientError
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec

from tests.e2e.test_authorization import key_policy, new_user
from tests.e2e.test_import import DOES_NOT_EXPIRE, import_material
from tests.e2e.test_keys import error_of, new_key
from tests.server import TrentServer

HOME, AWAY, FAR = "us-east-1", "eu-west-1", "ap-southeast-2"
A = "000000000000"
A_ROOT = f"arn:aws:iam::{A}:root"


def error(call: Any) -> tuple[str, str | None]:
    with pytest.raises(ClientError) as exc:
        call()
    return error_of(exc)


@pytest.fixture(scope="module")
def away(server: TrentServer) -> Any:
    return server.client("kms", region=AWAY)


@pytest.fixture(scope="module")
def far(server: TrentServer) -> Any:
    return server.client("kms", region=FAR)


def replicate(kms: Any, key_id: str, region: str = AWAY, **extra: Any) -> dict[str, Any]:
    answer: dict[str, Any] = kms.replicate_key(KeyId=key_id, ReplicaRegion=region, **extra)
    return answer


def test_a_multi_region_key_has_aws_id_form_and_configuration(kms: Any) -> None:
    key = new_key(kms, MultiRegion=True)
    assert re.fullmatch(r"mrk-[0-9a-f]{32}", key["KeyId"])
    assert key["Arn"] == f"arn:aws:kms:{HOME}:{A}:key/{key['KeyId']}"
    assert key["MultiRegion"] is True
    assert key["MultiRegionConfiguration"] == {
        "MultiRegionKeyType": "PRIMARY",
        "PrimaryKey": {"Arn": key["Arn"], "Region": HOME},
        "ReplicaKeys": [],
    }
    single = new_key(kms)
    assert single["MultiRegion"] is False and "MultiRegionConfiguration" not in single


def test_a_replica_shares_id_and_material_and_nothing_else(kms: Any, away: Any) -> None:
    primary = new_key(kms, MultiRegion=True, Description="primary", Tags=[{"TagKey": "t", "TagValue": "home"}])
    key_id = primary["KeyId"]
    answer = replicate(kms, key_id, Description="replica")
    replica = answer["ReplicaKeyMetadata"]
    away_arn = f"arn:aws:kms:{AWAY}:{A}:key/{key_id}"
    # As AWS answers ReplicateKey: Creating, not yet enabled, no material ID yet; the default policy; no tags.
    assert (replica["KeyId"], replica["Arn"], replica["KeyState"], replica["Enabled"]) == (
        key_id,
        away_arn,
        "Creating",
        False,
    )
    assert "CurrentKeyMaterialId" not in replica
    assert replica["Description"] == "replica"
    assert replica["MultiRegionConfiguration"] == {
        "MultiRegionKeyType": "REPLICA",
        "PrimaryKey": {"Arn": primary["Arn"], "Region": HOME},
        "ReplicaKeys": [{"Arn": away_arn, "Region": AWAY}],
    }
    policy = json.loads(answer["ReplicaPolicy"])
    assert policy["Statement"][0]["Principal"] == {"AWS": A_ROOT}
    assert "ReplicaTags" not in answer

    described = away.describe_key(KeyId=key_id)["KeyMetadata"]
    assert (described["KeyState"], described["Enabled"]) == ("Enabled", True)
    home = kms.describe_key(KeyId=key_id)["KeyMetadata"]
    assert described["CurrentKeyMaterialId"] == home["CurrentKeyMaterialId"]
    assert home["MultiRegionConfiguration"]["ReplicaKeys"] == [{"Arn": away_arn, "Region": AWAY}]
    assert (home["Description"], described["Description"]) == ("primary", "replica")
    # Tags, aliases, policies and the enabled state are each key's own.
    assert away.list_resource_tags(KeyId=key_id)["Tags"] == []
    alias = f"alias/mrk-{key_id[-8:]}"
    kms.create_alias(AliasName=alias, TargetKeyId=key_id)
    assert error(lambda: away.describe_key(KeyId=alias))[0] == "NotFoundException"
    away.create_alias(AliasName=alias, TargetKeyId=key_id)
    assert away.describe_key(KeyId=alias)["KeyMetadata"]["Arn"] == away_arn
    [listed] = [a for a in away.list_aliases(KeyId=key_id)["Aliases"] if a["AliasName"] == alias]
    assert listed["TargetKeyId"] == key_id and listed["AliasArn"].startswith(f"arn:aws:kms:{AWAY}:")
    away.disable_key(KeyId=key_id)
    assert kms.describe_key(KeyId=key_id)["KeyMetadata"]["Enabled"] is True
    assert error(lambda: away.encrypt(KeyId=key_id, Plaintext=b"x")) == (
        "DisabledException",
        f"{away_arn} is disabled.",
    )
    kms.encrypt(KeyId=key_id, Plaintext=b"x")
    away.enable_key(KeyId=key_id)
    away.put_key_policy(KeyId=key_id, PolicyName="default", Policy=key_policy(_root_statement()))
    assert json.loads(kms.get_key_policy(KeyId=key_id)["Policy"])["Id"] == "key-default-1"
    # Single-Region keys keep their one Region: the same ID elsewhere is no key.
    single = new_key(kms)
    assert error(lambda: away.describe_key(KeyId=single["KeyId"]))[0] == "NotFoundException"


def _root_statement() -> dict[str, Any]:
    return {"Sid": "root", "Effect": "Allow", "Principal": {"AWS": A_ROOT}, "Action": "kms:*", "Resource": "*"}


def test_ciphertexts_of_any_related_key_decrypt_with_any_other(kms: Any, away: Any, far: Any) -> None:
    key_id = new_key(kms, MultiRegion=True)["KeyId"]
    replicate(kms, key_id)
    replicate(kms, key_id, FAR)
    context = {"purpose": "mrk"}
    from_home = kms.encrypt(KeyId=key_id, Plaintext=b"home", EncryptionContext=context)["CiphertextBlob"]
    from_away = away.encrypt(KeyId=key_id, Plaintext=b"away", EncryptionContext=context)["CiphertextBlob"]
    for client in (kms, away, far):
        assert client.decrypt(CiphertextBlob=from_home, EncryptionContext=context)["Plaintext"] == b"home"
        decrypted = client.decrypt(CiphertextBlob=from_away, EncryptionContext=context, KeyId=key_id)
        assert decrypted["Plaintext"] == b"away"
    assert far.decrypt(CiphertextBlob=from_home, EncryptionContext=context)["KeyId"].startswith(f"arn:aws:kms:{FAR}:")
    data_key = away.generate_data_key(KeyId=key_id, KeySpec="AES_256")
    assert kms.decrypt(CiphertextBlob=data_key["CiphertextBlob"])["Plaintext"] == data_key["Plaintext"]
    moved = far.re_encrypt(CiphertextBlob=from_home, SourceEncryptionContext=context, DestinationKeyId=key_id)
    assert kms.decrypt(CiphertextBlob=moved["CiphertextBlob"])["Plaintext"] == b"home"
    # A single-Region key's ciphertext is not a multi-Region key's, whatever the Region.
    other = new_key(kms, MultiRegion=True)["KeyId"]
    foreign = kms.encrypt(KeyId=other, Plaintext=b"x")["CiphertextBlob"]
    assert error(lambda: away.decrypt(CiphertextBlob=foreign))[0] == "InvalidCiphertextException"


def test_asymmetric_and_hmac_replicas_hold_the_same_key(kms: Any, away: Any) -> None:
    signing = new_key(kms, MultiRegion=True, KeySpec="ECC_NIST_P256", KeyUsage="SIGN_VERIFY")["KeyId"]
    replicate(kms, signing)
    public = kms.get_public_key(KeyId=signing)["PublicKey"]
    assert away.get_public_key(KeyId=signing)["PublicKey"] == public
    signature = away.sign(KeyId=signing, Message=b"m", SigningAlgorithm="ECDSA_SHA_256")["Signature"]
    verifier = serialization.load_der_public_key(public)
    assert isinstance(verifier, ec.EllipticCurvePublicKey)
    verifier.verify(signature, b"m", ec.ECDSA(hashes.SHA256()))  # raises if the replica signed with another key
    mac_key = new_key(kms, MultiRegion=True, KeySpec="HMAC_256", KeyUsage="GENERATE_VERIFY_MAC")["KeyId"]
    replicate(kms, mac_key)
    mac = kms.generate_mac(KeyId=mac_key, Message=b"m", MacAlgorithm="HMAC_SHA_256")["Mac"]
    assert away.generate_mac(KeyId=mac_key, Message=b"m", MacAlgorithm="HMAC_SHA_256")["Mac"] == mac


def test_replicas_rotate_with_their_primary_only(kms: Any, away: Any) -> None:
    key_id = new_key(kms, MultiRegion=True)["KeyId"]
    replicate(kms, key_id)
    before = away.encrypt(KeyId=key_id, Plaintext=b"before")["CiphertextBlob"]
    kms.rotate_key_on_demand(KeyId=key_id)
    home = kms.describe_key(KeyId=key_id)["KeyMetadata"]["CurrentKeyMaterialId"]
    assert away.describe_key(KeyId=key_id)["KeyMetadata"]["CurrentKeyMaterialId"] == home
    after = away.encrypt(KeyId=key_id, Plaintext=b"after")["CiphertextBlob"]
    assert kms.decrypt(CiphertextBlob=after)["Plaintext"] == b"after"
    assert away.decrypt(CiphertextBlob=before)["Plaintext"] == b"before"
    rotations = away.list_key_rotations(KeyId=key_id)["Rotations"]
    assert [r["KeyMaterialId"] for r in rotations] == [home]
    away_arn = f"arn:aws:kms:{AWAY}:{A}:key/{key_id}"
    not_primary = ("UnsupportedOperationException", f"{away_arn} is not a multi-region primary key.")
    assert error(lambda: away.rotate_key_on_demand(KeyId=key_id)) == not_primary
    assert error(lambda: away.enable_key_rotation(KeyId=key_id)) == not_primary
    kms.enable_key_rotation(KeyId=key_id, RotationPeriodInDays=90)
    status = away.get_key_rotation_status(KeyId=key_id)
    assert (status["KeyRotationEnabled"], status["RotationPeriodInDays"]) == (True, 90)
    kms.disable_key_rotation(KeyId=key_id)
    assert away.get_key_rotation_status(KeyId=key_id)["KeyRotationEnabled"] is False


def test_replicate_key_is_refused_as_aws_refuses_it(kms: Any, away: Any) -> None:
    key_id = new_key(kms, MultiRegion=True)["KeyId"]
    arn = f"arn:aws:kms:{HOME}:{A}:key/{key_id}"
    replicate(kms, key_id)
    assert error(lambda: replicate(kms, key_id))[0] == "AlreadyExistsException"  # a replica is there already
    assert error(lambda: replicate(kms, key_id, HOME))[0] == "AlreadyExistsException"  # the primary's own Region
    away_arn = f"arn:aws:kms:{AWAY}:{A}:key/{key_id}"
    assert error(lambda: replicate(away, key_id, FAR)) == (
        "UnsupportedOperationException",
        f"{away_arn} is not a multi-region primary key.",
    )
    single = new_key(kms)
    assert error(lambda: replicate(kms, single["KeyId"]))[0] == "UnsupportedOperationException"
    assert error(lambda: replicate(kms, key_id, "Nowhere"))[0] == "ValidationException"
    assert error(lambda: replicate(kms, key_id, "xx-nowhere-9"))[0] == "UnsupportedOperationException"
    assert error(lambda: replicate(kms, f"alias/none-{key_id}", FAR))[0] == "InvalidArnException"
    kms.disable_key(KeyId=key_id)
    assert error(lambda: replicate(kms, key_id, FAR)) == ("DisabledException", f"{arn} is disabled.")
    kms.enable_key(KeyId=key_id)
    # Nothing of the refused calls was created.
    config = kms.describe_key(KeyId=key_id)["KeyMetadata"]["MultiRegionConfiguration"]
    assert config["ReplicaKeys"] == [{"Arn": away_arn, "Region": AWAY}]


def test_replicate_key_with_a_policy_and_tags(kms: Any, away: Any) -> None:
    key_id = new_key(kms, MultiRegion=True)["KeyId"]
    policy = key_policy(_root_statement())
    answer = replicate(kms, key_id, Policy=policy, Tags=[{"TagKey": "env", "TagValue": "eu"}])
    assert answer["ReplicaPolicy"] == policy
    assert answer["ReplicaTags"] == [{"TagKey": "env", "TagValue": "eu"}]
    assert away.list_resource_tags(KeyId=key_id)["Tags"] == [{"TagKey": "env", "TagValue": "eu"}]
    assert kms.list_resource_tags(KeyId=key_id)["Tags"] == []
    assert away.get_key_policy(KeyId=key_id, PolicyName="default")["Policy"] == policy
    locked_out = key_policy({**_root_statement(), "Principal": {"AWS": "arn:aws:iam::000000000000:user/nobody"}})
    other = new_key(kms, MultiRegion=True)["KeyId"]
    code, _ = error(lambda: replicate(kms, other, Policy=locked_out))
    assert code in ("MalformedPolicyDocumentException",)
    assert kms.describe_key(KeyId=other)["KeyMetadata"]["MultiRegionConfiguration"]["ReplicaKeys"] == []


def test_update_primary_region_swaps_the_roles(kms: Any, away: Any, far: Any) -> None:
    key_id = new_key(kms, MultiRegion=True)["KeyId"]
    replicate(kms, key_id)
    ciphertext = kms.encrypt(KeyId=key_id, Plaintext=b"kept")["CiphertextBlob"]
    home_arn, away_arn = (f"arn:aws:kms:{r}:{A}:key/{key_id}" for r in (HOME, AWAY))
    assert error(lambda: kms.update_primary_region(KeyId=key_id, PrimaryRegion=FAR))[0] == "NotFoundException"
    assert error(lambda: away.update_primary_region(KeyId=key_id, PrimaryRegion=HOME)) == (
        "UnsupportedOperationException",
        f"{away_arn} is not a multi-region primary key.",
    )
    kms.update_primary_region(KeyId=key_id, PrimaryRegion=AWAY)
    for client, kind in ((kms, "REPLICA"), (away, "PRIMARY")):
        config = client.describe_key(KeyId=key_id)["KeyMetadata"]["MultiRegionConfiguration"]
        assert config == {
            "MultiRegionKeyType": kind,
            "PrimaryKey": {"Arn": away_arn, "Region": AWAY},
            "ReplicaKeys": [{"Arn": home_arn, "Region": HOME}],
        }
    assert away.decrypt(CiphertextBlob=ciphertext)["Plaintext"] == b"kept"
    assert error(lambda: replicate(kms, key_id, FAR))[0] == "UnsupportedOperationException"
    replicate(away, key_id, FAR)
    assert far.decrypt(CiphertextBlob=ciphertext)["Plaintext"] == b"kept"
    away.rotate_key_on_demand(KeyId=key_id)  # the new primary rotates; the old one no longer may
    assert error(lambda: kms.rotate_key_on_demand(KeyId=key_id))[0] == "UnsupportedOperationException"


def test_deleting_a_primary_waits_for_its_replicas(kms: Any, away: Any) -> None:
    key_id = new_key(kms, MultiRegion=True)["KeyId"]
    replicate(kms, key_id)
    arn = f"arn:aws:kms:{HOME}:{A}:key/{key_id}"
    answer = kms.schedule_key_deletion(KeyId=key_id, PendingWindowInDays=7)
    assert (answer["KeyId"], answer["KeyState"], answer["PendingWindowInDays"]) == (arn, "PendingReplicaDeletion", 7)
    assert "DeletionDate" not in answer
    described = kms.describe_key(KeyId=key_id)["KeyMetadata"]
    assert (described["KeyState"], described["Enabled"], described["PendingDeletionWindowInDays"]) == (
        "PendingReplicaDeletion",
        False,
        7,
    )
    assert "DeletionDate" not in described
    refused = ("KMSInvalidStateException", f"{arn} is pending replica deletion.")
    assert error(lambda: kms.encrypt(KeyId=key_id, Plaintext=b"x")) == refused
    assert error(lambda: kms.enable_key(KeyId=key_id)) == refused
    assert error(lambda: kms.schedule_key_deletion(KeyId=key_id)) == refused
    assert error(lambda: kms.tag_resource(KeyId=key_id, Tags=[{"TagKey": "a", "TagValue": "b"}])) == refused
    assert error(lambda: kms.create_grant(KeyId=key_id, GranteePrincipal=A_ROOT, Operations=["Encrypt"])) == refused
    assert error(lambda: kms.rotate_key_on_demand(KeyId=key_id)) == refused
    assert error(lambda: replicate(kms, key_id, FAR)) == refused
    assert kms.get_key_policy(KeyId=key_id, PolicyName="default")["Policy"]  # key policies work in every state
    assert away.encrypt(KeyId=key_id, Plaintext=b"x")["KeyId"].startswith(f"arn:aws:kms:{AWAY}:")
    kms.cancel_key_deletion(KeyId=key_id)
    assert kms.describe_key(KeyId=key_id)["KeyMetadata"]["KeyState"] == "Disabled"
    # A replica is deleted like a single-Region key.
    replica = away.schedule_key_deletion(KeyId=key_id, PendingWindowInDays=7)
    assert (replica["KeyState"], replica["PendingWindowInDays"]) == ("PendingDeletion", 7)
    assert replica["DeletionDate"].timestamp() > time.time() + 6 * 86400


def test_grants_are_not_shared_between_related_keys(server: TrentServer, kms: Any, tmp_path: Path) -> None:
    key_id = new_key(kms, MultiRegion=True)["KeyId"]
    replicate(kms, key_id)
    user, _ = new_user(server, tmp_path)
    home_user = server.client("kms", access_key=user["AccessKeyId"], secret_key=user["SecretAccessKey"])
    away_user = server.client("kms", access_key=user["AccessKeyId"], secret_key=user["SecretAccessKey"], region=AWAY)
    away = server.client("kms", region=AWAY)
    for granting, using, other in ((kms, home_user, away_user), (away, away_user, home_user)):
        grant = granting.create_grant(KeyId=key_id, GranteePrincipal=user["Arn"], Operations=["Encrypt", "Decrypt"])
        token = grant["GrantToken"]
        using.encrypt(KeyId=key_id, Plaintext=b"x", GrantTokens=[token])
        using.encrypt(KeyId=key_id, Plaintext=b"x")
        # Neither the grant nor its token gives anything on the related key in the other Region.
        for tokens in ([], [token]):
            with pytest.raises(ClientError) as exc:
                other.encrypt(KeyId=key_id, Plaintext=b"x", GrantTokens=tokens)
            assert error_of(exc)[0] == "AccessDeniedException"
        granting.revoke_grant(KeyId=key_id, GrantId=grant["GrantId"])
    assert kms.list_grants(KeyId=key_id)["Grants"] == []


def test_multi_region_condition_keys(server: TrentServer, kms: Any, tmp_path: Path) -> None:
    user, home_user = new_user(
        server,
        tmp_path,
        [
            {"Effect": "Allow", "Action": "kms:CreateKey", "Resource": "*"},
            {
                "Effect": "Allow",
                "Action": ["kms:ReplicateKey", "kms:Encrypt", "kms:DescribeKey"],
                "Resource": "*",
                "Condition": {"StringLike": {"kms:ReplicaRegion": "eu-*"}},
            },
            {
                "Effect": "Allow",
                "Action": "kms:Encrypt",
                "Resource": "*",
                "Condition": {"StringEquals": {"kms:MultiRegionKeyType": "REPLICA"}},
            },
        ],
    )
    away_user = server.client("kms", access_key=user["AccessKeyId"], secret_key=user["SecretAccessKey"], region=AWAY)
    key_id = new_key(kms, MultiRegion=True)["KeyId"]
    replicate(home_user, key_id)  # kms:ReplicaRegion eu-west-1
    assert error(lambda: replicate(home_user, key_id, FAR))[0] == "AccessDeniedException"
    away_user.encrypt(KeyId=key_id, Plaintext=b"x")  # a replica
    assert error(lambda: home_user.encrypt(KeyId=key_id, Plaintext=b"x"))[0] == "AccessDeniedException"
    assert error(lambda: home_user.encrypt(KeyId=new_key(kms)["KeyId"], Plaintext=b"x"))[0] == "AccessDeniedException"
    # No kms:CreateKey in the replica's Region: no replica (identity policies decide it, Region by Region).
    _, no_create_home = new_user(server, tmp_path, [{"Effect": "Allow", "Action": "kms:ReplicateKey", "Resource": "*"}])
    assert error(lambda: replicate(no_create_home, key_id, FAR))[0] == "AccessDeniedException"


def test_replication_and_primary_changes_are_audited_in_both_regions(server: TrentServer, kms: Any) -> None:
    key_id = new_key(kms, MultiRegion=True)["KeyId"]
    replicate(kms, key_id)
    kms.update_primary_region(KeyId=key_id, PrimaryRegion=AWAY)
    home_arn, away_arn = (f"arn:aws:kms:{r}:{A}:key/{key_id}" for r in (HOME, AWAY))
    events = server.audit_events("--key", home_arn) + server.audit_events("--key", away_arn)
    by_name = {(e["eventName"], e["awsRegion"]): e for e in events}
    replicated = by_name[("ReplicateKey", HOME)]
    assert replicated["requestParameters"]["replicaRegion"] == AWAY
    assert replicated["responseElements"]["replicaKeyMetadata"]["arn"] == away_arn
    created = by_name[("CreateKey", AWAY)]
    assert created["requestParameters"]["multiRegion"] is True
    assert created["resources"] == [{"accountId": A, "type": "AWS::KMS::Key", "ARN": away_arn}]
    assert by_name[("UpdatePrimaryRegion", HOME)]["requestParameters"]["primaryRegion"] == AWAY
    everything = server.audit_events("--event", "UpdatePrimaryRegion")
    [second] = [e for e in everything if e["awsRegion"] == AWAY and e["requestParameters"]["keyId"] == away_arn]
    assert second["userIdentity"]["invokedBy"] == "kms.amazonaws.com" and second["resources"] == []


def test_imported_material_is_imported_into_each_replica(kms: Any, away: Any) -> None:
    key_id = new_key(kms, MultiRegion=True, Origin="EXTERNAL")["KeyId"]
    material = os.urandom(32)
    import_material(kms, key_id, material)
    ciphertext = kms.encrypt(KeyId=key_id, Plaintext=b"byok")["CiphertextBlob"]
    replica = replicate(kms, key_id)["ReplicaKeyMetadata"]
    assert (replica["KeyState"], replica["Origin"]) == ("Creating", "EXTERNAL")
    assert away.describe_key(KeyId=key_id)["KeyMetadata"]["KeyState"] == "PendingImport"
    assert error(lambda: away.decrypt(CiphertextBlob=ciphertext))[0] == "KMSInvalidStateException"
    with pytest.raises(ClientError) as exc:  # other bytes are not this key's material
        import_material(away, key_id, os.urandom(32))
    assert error_of(exc)[0] == "IncorrectKeyMaterialException"
    import_material(away, key_id, material)
    described = away.describe_key(KeyId=key_id)["KeyMetadata"]
    assert (described["KeyState"], described["ExpirationModel"]) == ("Enabled", "KEY_MATERIAL_DOES_NOT_EXPIRE")
    assert away.decrypt(CiphertextBlob=ciphertext)["Plaintext"] == b"byok"
    # Deleting one key's material leaves the other's.
    away.delete_imported_key_material(KeyId=key_id)
    assert kms.decrypt(CiphertextBlob=ciphertext)["Plaintext"] == b"byok"
    import_material(away, key_id, material)

    # New material: into the primary, then into each replica; then the primary rotates them all.
    with pytest.raises(ClientError) as exc:
        import_material(away, key_id, os.urandom(32), ImportType="NEW_KEY_MATERIAL", **DOES_NOT_EXPIRE)
    assert error_of(exc)[0] == "UnsupportedOperationException"
    new_material = os.urandom(32)
    new_id = import_material(kms, key_id, new_material, ImportType="NEW_KEY_MATERIAL", **DOES_NOT_EXPIRE)[
        "KeyMaterialId"
    ]
    states = {
        r["KeyMaterialId"]: r["KeyMaterialState"]
        for r in kms.list_key_rotations(KeyId=key_id, IncludeKeyMaterial="ALL_KEY_MATERIAL")["Rotations"]
    }
    assert states[new_id] == "PENDING_MULTI_REGION_IMPORT_AND_ROTATION"
    assert error(lambda: kms.rotate_key_on_demand(KeyId=key_id))[0] == "KMSInvalidStateException"
    import_material(
        away, key_id, new_material, ImportType="EXISTING_KEY_MATERIAL", KeyMaterialId=new_id, **DOES_NOT_EXPIRE
    )
    states = {
        r["KeyMaterialId"]: r["KeyMaterialState"]
        for r in kms.list_key_rotations(KeyId=key_id, IncludeKeyMaterial="ALL_KEY_MATERIAL")["Rotations"]
    }
    assert states[new_id] == "PENDING_ROTATION"
    kms.rotate_key_on_demand(KeyId=key_id)
    for client in (kms, away):
        assert client.describe_key(KeyId=key_id)["KeyMetadata"]["CurrentKeyMaterialId"] == new_id
    rotated = away.encrypt(KeyId=key_id, Plaintext=b"new")["CiphertextBlob"]
    assert kms.decrypt(CiphertextBlob=rotated)["Plaintext"] == b"new"
    assert away.decrypt(CiphertextBlob=ciphertext)["Plaintext"] == b"byok"
