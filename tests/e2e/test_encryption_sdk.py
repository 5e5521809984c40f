"""A real client: the AWS Encryption SDK for Python, with its KMS master key provider pointed at Trent."""

from __future__ import annotations

import os
from typing import Any

import botocore.session
import pytest

from tests.server import REGION, TrentServer

aws_encryption_sdk = pytest.importorskip("aws_encryption_sdk", reason="aws-encryption-sdk (dev extra) is not installed")


@pytest.fixture
def sdk_environment(server: TrentServer, monkeypatch: pytest.MonkeyPatch) -> None:
    """The environment a user points the SDK at Trent with: endpoint, credentials, region."""
    access_key, secret_key = server.admin_credentials()
    monkeypatch.setenv("AWS_ENDPOINT_URL_KMS", server.endpoint)
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", access_key)
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", secret_key)
    monkeypatch.setenv("AWS_DEFAULT_REGION", REGION)
    monkeypatch.delenv("AWS_PROFILE", raising=False)


@pytest.mark.usefixtures("sdk_environment")
def test_encryption_sdk_round_trip_of_a_multi_megabyte_message(kms: Any) -> None:
    key_arn = kms.create_key(Description="encryption sdk")["KeyMetadata"]["Arn"]

    client = aws_encryption_sdk.EncryptionSDKClient(
        commitment_policy=aws_encryption_sdk.CommitmentPolicy.REQUIRE_ENCRYPT_REQUIRE_DECRYPT
    )
    provider = aws_encryption_sdk.StrictAwsKmsMasterKeyProvider(
        key_ids=[key_arn], botocore_session=botocore.session.Session()
    )
    plaintext = os.urandom(3 * 1024 * 1024 + 17)
    context = {"purpose": "integration-test", "file": "big.bin"}
    ciphertext, header = client.encrypt(source=plaintext, key_provider=provider, encryption_context=context)
    assert plaintext not in ciphertext
    assert header.encryption_context["purpose"] == "integration-test"
    assert [k.key_provider.key_info.decode() for k in header.encrypted_data_keys] == [key_arn]

    decrypted, decrypt_header = client.decrypt(source=ciphertext, key_provider=provider)
    assert decrypted == plaintext
    for name, value in context.items():
        assert decrypt_header.encryption_context[name] == value

    # The data key really is wrapped by Trent: with the key disabled, decryption fails.
    kms.disable_key(KeyId=key_arn)
    fresh_provider = aws_encryption_sdk.StrictAwsKmsMasterKeyProvider(
        key_ids=[key_arn], botocore_session=botocore.session.Session()
    )
    with pytest.raises(aws_encryption_sdk.exceptions.AWSEncryptionSDKClientError):
        client.decrypt(source=ciphertext, key_provider=fresh_provider)
    kms.enable_key(KeyId=key_arn)


@pytest.mark.usefixtures("sdk_environment")
def test_encryption_sdk_decrypts_across_a_reimport_of_the_same_material(kms: Any) -> None:
    from tests.e2e.test_import import import_material

    key_arn = kms.create_key(Origin="EXTERNAL")["KeyMetadata"]["Arn"]
    material = os.urandom(32)
    import_material(kms, key_arn, material)
    client = aws_encryption_sdk.EncryptionSDKClient(
        commitment_policy=aws_encryption_sdk.CommitmentPolicy.REQUIRE_ENCRYPT_REQUIRE_DECRYPT
    )

    def provider() -> Any:
        return aws_encryption_sdk.StrictAwsKmsMasterKeyProvider(
            key_ids=[key_arn], botocore_session=botocore.session.Session()
        )

    plaintext = os.urandom(64 * 1024)
    ciphertext, _ = client.encrypt(source=plaintext, key_provider=provider())
    kms.delete_imported_key_material(KeyId=key_arn)
    with pytest.raises(aws_encryption_sdk.exceptions.AWSEncryptionSDKClientError):
        client.decrypt(source=ciphertext, key_provider=provider())
    import_material(kms, key_arn, material)
    assert client.decrypt(source=ciphertext, key_provider=provider())[0] == plaintext
