"""The operations table (`trent.domain.operations`) against the sources it must agree with: botocore's model,
the grant operations of the grants document, the handlers, and the independent authorization model."""

from __future__ import annotations

from botocore.session import get_session

from tests.authz_model import model
from trent.api.handlers import HANDLERS
from trent.domain.grants import GRANT_OPERATIONS
from trent.domain.operations import OPERATIONS, Authority, grant_operation, iam_only, operation_of, own_account_only


def test_one_entry_per_operation_of_the_model() -> None:
    assert sorted(OPERATIONS) == sorted(get_session().get_service_model("kms").operation_names)


def test_every_handler_answers_an_operation_of_the_table() -> None:
    assert set(HANDLERS) <= set(OPERATIONS)


def test_the_grant_operations_are_exactly_those_of_the_grants_document() -> None:
    in_table = {name for op in OPERATIONS.values() for name in op.grant_operations}
    assert in_table == set(GRANT_OPERATIONS)
    assert grant_operation("kms:ReEncryptFrom") == "ReEncryptFrom"
    assert grant_operation("kms:ReEncrypt") is None  # the operation's actions are what grants name
    assert grant_operation("kms:RevokeGrant") is None
    assert grant_operation("kms:decrypt") is None  # grant operations are compared exactly


def test_authority_agrees_with_the_independent_model_for_every_served_operation() -> None:
    for name in HANDLERS:
        for action in OPERATIONS[name].actions:
            assert own_account_only(action) == (action in model.OWN_ACCOUNT_ACTIONS), action
            operation = action.removeprefix("kms:")
            if operation in model.GRANT_OPERATIONS:
                assert grant_operation(action) == operation, action
            else:
                assert grant_operation(action) is None, action


def test_iam_actions_are_compared_without_case() -> None:
    assert iam_only("kms:CreateKey") and iam_only("KMS:createkey")
    assert not iam_only("kms:Encrypt") and not iam_only("kms:NoSuchAction")
    assert operation_of("kms:reencryptto") is OPERATIONS["ReEncrypt"]


def test_no_operation_without_a_key_is_grantable_and_key_management_never_is() -> None:
    for op in OPERATIONS.values():
        if op.authority is not Authority.KEY:
            assert op.grant_operations == (), op.name


def test_what_changes_state_is_what_the_audit_trail_writes_in_the_change_transaction() -> None:
    """CloudTrail's readOnly: every operation that can change a key, an alias, a tag or a grant is a write."""
    writes = {name for name, op in OPERATIONS.items() if not op.read_only and name in HANDLERS}
    assert writes == {
        "CreateKey",
        "UpdateKeyDescription",
        "EnableKey",
        "DisableKey",
        "ScheduleKeyDeletion",
        "CancelKeyDeletion",
        "PutKeyPolicy",
        "CreateAlias",
        "UpdateAlias",
        "DeleteAlias",
        "TagResource",
        "UntagResource",
        "EnableKeyRotation",
        "DisableKeyRotation",
        "RotateKeyOnDemand",
        "CreateGrant",
        "RetireGrant",
        "RevokeGrant",
        "ImportKeyMaterial",
        "DeleteImportedKeyMaterial",
        "ReplicateKey",
        "UpdatePrimaryRegion",
    }
