"""What of a request or response reaches an audit event: no blobs, no tokens, CloudTrail's member names."""

from __future__ import annotations

from trent.api.audit import _clean, _response_elements


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
    response = {"CiphertextBlob": b"x", "KeyId": "arn:aws:kms:us-east-1:111122223333:key/k"}
    assert _response_elements("Encrypt", response) is None
    assert _response_elements("DescribeKey", {"KeyMetadata": {"KeyId": "k"}}) is None
    assert _response_elements("CreateGrant", {"GrantId": "g", "GrantToken": "t", "KeyId": "arn"}) == {
        "grantId": "g",
        "keyId": "arn",
    }
