"""What of a request or response reaches an audit event: no blobs, no tokens, CloudTrail's member names."""

from __future__ import annotations

from typing import Any

from trent.api.audit import _clean
from trent.api.audit import _response_elements as response_elements


def test_blobs_tokens_and_absent_members_are_left_out() -> None:
    request = {
        "KeyId": "alias/app",
        "Plaintext": b"secret",
        "GrantTokens": ["token"],
        "Description": None,
        "DryRun": False,
        "Recipient": {"AttestationDocument": b"doc", "KeyEncryptionAlgorithm": "RSAES_OAEP_SHA_256"},
        "Tags": [{"TagKey": "Team", "TagValue": "blue"}],
        "NumberOfBytes": 32,
    }
    assert _clean(request) == {
        "keyId": "alias/app",
        "dryRun": False,
        "recipient": {"keyEncryptionAlgorithm": "RSAES_OAEP_SHA_256"},
        "tags": [{"tagKey": "Team", "tagValue": "blue"}],
        "numberOfBytes": 32,
    }


def test_encryption_context_keys_are_the_callers_own_words() -> None:
    request = {
        "EncryptionContext": {"Department": "IT", "project": "x"},
        "Constraints": {"EncryptionContextSubset": {"Department": "IT"}},
        "SourceEncryptionContext": {"A": "1"},
        "DestinationEncryptionContext": {"B": "2"},
    }
    assert _clean(request) == {
        "encryptionContext": {"Department": "IT", "project": "x"},
        "constraints": {"encryptionContextSubset": {"Department": "IT"}},
        "sourceEncryptionContext": {"A": "1"},
        "destinationEncryptionContext": {"B": "2"},
    }


def test_read_only_calls_have_no_response_elements() -> None:
    from trent.api.audit import AuditDraft
    from trent.domain.operations import OPERATIONS

    def _response_elements(name: str, response: dict[str, Any]) -> Any:
        return response_elements(AuditDraft(name, read_only=OPERATIONS[name].read_only), response)

    response = {"CiphertextBlob": b"x", "KeyId": "arn:aws:kms:us-east-1:111122223333:key/k"}
    assert _response_elements("Encrypt", response) is None
    assert _response_elements("DescribeKey", {"KeyMetadata": {"KeyId": "k"}}) is None
    assert _response_elements("CreateGrant", {"GrantId": "g", "GrantToken": "t", "KeyId": "arn"}) == {
        "grantId": "g",
        "keyId": "arn",
    }


def test_events_are_bounded_whatever_the_caller_sends() -> None:
    from trent.api.audit import MAX_FIELD, AuditDraft, AuditLog

    log = AuditLog(store=None, enabled=False)  # type: ignore[arg-type]
    draft = AuditDraft("CreateKey")
    draft.request = {"Policy": "p" * 40_000, "Tags": [{"TagKey": str(i), "TagValue": "v"} for i in range(500)]}
    row = log.row(
        draft,
        caller=None,
        access_key_id="AKIA",
        region="us-east-1",
        request_id="r",
        source_ip="127.0.0.1",
        user_agent="u" * 16 * 1024 * 1024,
        error_code="AccessDeniedException",
        error_message="m" * 1_000_000,
    )
    assert len(row["record"]) < MAX_FIELD + 8 * 1024
    import json

    event = json.loads(row["record"])
    assert event["omitted"] is True
    assert len(event["userAgent"]) == 1024 and len(event["errorMessage"]) == 2048
    assert len(event["requestParameters"]["policy"]) == 1024 and len(event["requestParameters"]["tags"]) == 50


def test_small_events_are_untouched() -> None:
    from trent.api.audit import AuditDraft, AuditLog

    draft = AuditDraft("Encrypt")
    draft.request = {"KeyId": "alias/x", "EncryptionContext": {"Dept": "IT"}}
    row = AuditLog(store=None, enabled=False).row(  # type: ignore[arg-type]
        draft, caller=None, access_key_id=None, region="us-east-1", request_id="r", source_ip="", user_agent="boto3"
    )
    import json

    event = json.loads(row["record"])
    assert "omitted" not in event
    assert event["requestParameters"] == {"keyId": "alias/x", "encryptionContext": {"Dept": "IT"}}
