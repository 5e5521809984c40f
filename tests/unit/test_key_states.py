"""The key-state table (`trent.domain.keys.KEY_STATES`) against AWS's, transcribed here independently from the
KMS developer guide's "Key states of KMS keys" (and the import and multi-Region fact sheet, §18)."""

from __future__ import annotations

import pytest

from trent.domain.errors import DisabledException, KMSInvalidStateException
from trent.domain.keys import Key, KeyState
from trent.domain.keyspec import KeyUsage

OK, DIS, INV = "ok", "disabled", "invalid-state"
STATES = ("Enabled", "Disabled", "PendingDeletion", "PendingReplicaDeletion", "PendingImport", "Creating", "Updating")

# Operation: what it answers in each state of STATES, in order.
EXPECTED: dict[str, tuple[str, ...]] = {
    "Encrypt": (OK, DIS, INV, INV, INV, INV, OK),
    "Decrypt": (OK, DIS, INV, INV, INV, INV, OK),
    "Sign": (OK, DIS, INV, INV, INV, INV, OK),
    "GenerateMac": (OK, DIS, INV, INV, INV, INV, OK),
    "CreateGrant": (OK, DIS, INV, INV, INV, INV, OK),
    "RotateKeyOnDemand": (OK, DIS, INV, INV, INV, INV, OK),
    "ReplicateKey": (OK, DIS, INV, INV, INV, INV, INV),
    "UpdatePrimaryRegion": (OK, DIS, INV, INV, INV, INV, OK),
    "ScheduleKeyDeletion": (OK, OK, INV, INV, OK, OK, INV),
    "CancelKeyDeletion": (INV, INV, OK, OK, INV, INV, INV),
    "EnableKey": (OK, OK, INV, INV, INV, INV, INV),
    "DisableKey": (OK, OK, INV, INV, INV, INV, INV),
    "DescribeKey": (OK, OK, OK, OK, OK, OK, OK),
    "PutKeyPolicy": (OK, OK, OK, OK, OK, OK, OK),
    "TagResource": (OK, OK, INV, INV, OK, OK, OK),
    "UntagResource": (OK, OK, INV, INV, OK, OK, OK),
    "UpdateKeyDescription": (OK, OK, INV, INV, OK, OK, OK),
    "CreateAlias": (OK, OK, INV, INV, OK, OK, OK),
    # Imported material (for EXTERNAL keys; the origin is checked before the state).
    "GetParametersForImport": (OK, OK, INV, INV, OK, INV, INV),
    "ImportKeyMaterial": (OK, OK, INV, INV, OK, INV, OK),
    "DeleteImportedKeyMaterial": (OK, OK, OK, OK, OK, INV, INV),
}


def key_in(state: str) -> Key:
    return Key(
        key_id="1234abcd-12ab-34cd-56ef-1234567890ab",
        account="111122223333",
        region="us-east-1",
        spec_name="SYMMETRIC_DEFAULT",
        usage=KeyUsage.ENCRYPT_DECRYPT,
        state=KeyState(state),
        description="",
        creation_date=0.0,
        origin="AWS_KMS",
        policy="{}",
        current_version=1,
    )


@pytest.mark.parametrize("operation", sorted(EXPECTED))
def test_each_operation_answers_each_state_as_aws(operation: str) -> None:
    for state, expected in zip(STATES, EXPECTED[operation], strict=True):
        key = key_in(state)
        try:
            key.require_state_for(operation)
            outcome = OK
        except DisabledException as exc:
            assert exc.message == f"{key.arn} is disabled."
            outcome = DIS
        except KMSInvalidStateException as exc:
            phrase = "not pending deletion" if operation == "CancelKeyDeletion" else _phrase(state)
            assert exc.message == f"{key.arn} is {phrase}."
            outcome = INV
        assert outcome == expected, (operation, state)


def _phrase(state: str) -> str:
    return {
        "Enabled": "enabled",
        "PendingDeletion": "pending deletion",
        "PendingReplicaDeletion": "pending replica deletion",
        "PendingImport": "pending import",
        "Creating": "creating",
        "Updating": "updating",
    }[state]
