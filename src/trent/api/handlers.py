"""Each KMS operation bound to its handler.

A handler receives the request already validated against the botocore model (blobs as bytes) and
returns the response members (blobs as bytes, timestamps as epoch seconds). `HANDLERS` binds each supported
operation of `trent.domain.operations.OPERATIONS` (what AWS's rules say about it) to its handler; the edge
dispatches on the two together, and answers an operation without a handler `UnsupportedOperationException`.
"""

from __future__ import annotations

from trent.api import aliases, encryption, grants, imports, keys, multi_region, rotation, signing, tags
from trent.api.context import Handler

HANDLERS: dict[str, Handler] = {
    "CreateKey": keys.create_key,
    "DescribeKey": keys.describe_key,
    "ListKeys": keys.list_keys,
    "UpdateKeyDescription": keys.update_key_description,
    "EnableKey": keys.enable_key,
    "DisableKey": keys.disable_key,
    "ScheduleKeyDeletion": keys.schedule_key_deletion,
    "CancelKeyDeletion": keys.cancel_key_deletion,
    "GetKeyPolicy": keys.get_key_policy,
    "PutKeyPolicy": keys.put_key_policy,
    "ListKeyPolicies": keys.list_key_policies,
    "CreateAlias": aliases.create_alias,
    "UpdateAlias": aliases.update_alias,
    "DeleteAlias": aliases.delete_alias,
    "ListAliases": aliases.list_aliases,
    "TagResource": tags.tag_resource,
    "UntagResource": tags.untag_resource,
    "ListResourceTags": tags.list_resource_tags,
    "EnableKeyRotation": rotation.enable_key_rotation,
    "DisableKeyRotation": rotation.disable_key_rotation,
    "GetKeyRotationStatus": rotation.get_key_rotation_status,
    "RotateKeyOnDemand": rotation.rotate_key_on_demand,
    "ListKeyRotations": rotation.list_key_rotations,
    "Encrypt": encryption.encrypt,
    "Decrypt": encryption.decrypt,
    "ReEncrypt": encryption.re_encrypt,
    "GenerateDataKey": encryption.generate_data_key,
    "GenerateDataKeyWithoutPlaintext": encryption.generate_data_key_without_plaintext,
    "GenerateDataKeyPair": encryption.generate_data_key_pair,
    "GenerateDataKeyPairWithoutPlaintext": encryption.generate_data_key_pair_without_plaintext,
    "Sign": signing.sign,
    "Verify": signing.verify,
    "GetPublicKey": signing.get_public_key,
    "GenerateMac": signing.generate_mac,
    "VerifyMac": signing.verify_mac,
    "DeriveSharedSecret": signing.derive_shared_secret,
    "GenerateRandom": signing.generate_random,
    "CreateGrant": grants.create_grant,
    "ListGrants": grants.list_grants,
    "ListRetirableGrants": grants.list_retirable_grants,
    "RetireGrant": grants.retire_grant,
    "RevokeGrant": grants.revoke_grant,
    "GetParametersForImport": imports.get_parameters_for_import,
    "ImportKeyMaterial": imports.import_key_material,
    "DeleteImportedKeyMaterial": imports.delete_imported_key_material,
    "ReplicateKey": multi_region.replicate_key,
    "UpdatePrimaryRegion": multi_region.update_primary_region,
}

#: Handlers whose work takes long but releases the GIL (GetParametersForImport makes an RSA key pair: up to half a
#: second for RSA_4096): the edge runs them in a worker thread, so that the event loop serves other requests.
THREADED: frozenset[str] = frozenset({"GetParametersForImport"})
