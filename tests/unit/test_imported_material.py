"""Imported key material with a controlled clock: material expires at its ValidTo (maintenance deletes it, the key
goes to PendingImport, the audit trail has AWS's service event) and comes back with the same bytes; import
tokens expire after 24 hours. Plus the unwrapping and material checks, alone."""

from __future__ import annotations

import json
import os

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa

from tests.e2e.test_import import wrap
from tests.fake_store import MemoryStore
from tests.unit.services import services_for
from tests.unit.test_maintenance import Clock
from trent.api import encryption, imports
from trent.api import keys as key_api
from trent.api.context import RequestContext, Services
from trent.api.maintenance import run_due_work
from trent.crypto import imports as crypto
from trent.domain.errors import ExpiredImportTokenException, InvalidImportTokenException, KMSInvalidStateException
from trent.domain.identities import Caller
from trent.storage.store import Store

ACCOUNT = "000000000000"
CTX = RequestContext(caller=Caller.account_root(ACCOUNT, "AKIA"), region="us-east-1", request_id="r")


@pytest.fixture
def services(memory_store: Store) -> tuple[Services, Clock]:
    with memory_store.transaction() as tx:
        tx.identities.add_account(ACCOUNT, 0.0)
    clock = Clock(1_800_000_000.0)
    return services_for(memory_store, clock), clock


def parameters(services: Services, key_id: str, algorithm: str = "RSAES_OAEP_SHA_256") -> dict[str, object]:
    return imports.get_parameters_for_import(
        services, CTX, {"KeyId": key_id, "WrappingAlgorithm": algorithm, "WrappingKeySpec": "RSA_2048"}
    )


def do_import(services: Services, key_id: str, material: bytes, **expiry: object) -> None:
    given = parameters(services, key_id)
    imports.import_key_material(
        services,
        CTX,
        {
            "KeyId": key_id,
            "ImportToken": given["ImportToken"],
            "EncryptedKeyMaterial": wrap(given, "RSAES_OAEP_SHA_256", material),
            **(expiry or {"ExpirationModel": "KEY_MATERIAL_DOES_NOT_EXPIRE"}),
        },
    )


def state(services: Services, key_id: str) -> str:
    return str(key_api.describe_key(services, CTX, {"KeyId": key_id})["KeyMetadata"]["KeyState"])


def test_material_expires_at_its_valid_to_and_returns_with_the_same_bytes(services: tuple[Services, Clock]) -> None:
    svc, clock = services
    key = key_api.create_key(svc, CTX, {"Origin": "EXTERNAL"})["KeyMetadata"]
    material = os.urandom(32)
    do_import(svc, key["KeyId"], material, ExpirationModel="KEY_MATERIAL_EXPIRES", ValidTo=clock.now + 600)
    blob = encryption.encrypt(svc, CTX, {"KeyId": key["KeyId"], "Plaintext": b"x"})["CiphertextBlob"]
    clock.now += 599
    assert run_due_work(svc)["expired_key_materials"] == 0
    assert state(svc, key["KeyId"]) == "Enabled"
    clock.now += 1
    assert run_due_work(svc)["expired_key_materials"] == 1
    assert run_due_work(svc)["expired_key_materials"] == 0  # nothing left: a second node finds nothing to do
    assert state(svc, key["KeyId"]) == "PendingImport"
    with pytest.raises(KMSInvalidStateException, match="is pending import"):
        encryption.decrypt(svc, CTX, {"CiphertextBlob": blob})
    with svc.store.transaction(write=False) as tx:
        (event,) = [json.loads(r) for _, r in tx.audit.events(event_name="DeleteExpiredKeyMaterial")]
    assert event["eventType"] == "AwsServiceEvent" and event["userIdentity"]["invokedBy"] == "AWS Internal"
    assert (
        event["serviceEventDetails"]["keyId"] == key["Arn"] and len(event["serviceEventDetails"]["keyMaterialId"]) == 64
    )
    do_import(svc, key["KeyId"], material)
    assert state(svc, key["KeyId"]) == "Enabled"
    assert encryption.decrypt(svc, CTX, {"CiphertextBlob": blob})["Plaintext"] == b"x"


def test_material_past_its_valid_to_is_refused_before_maintenance_deletes_it(
    services: tuple[Services, Clock],
) -> None:
    """Found by an attack from outside: expired material kept working until the next maintenance pass (30 s)."""
    svc, clock = services
    key = key_api.create_key(svc, CTX, {"Origin": "EXTERNAL"})["KeyMetadata"]
    do_import(svc, key["KeyId"], os.urandom(32), ExpirationModel="KEY_MATERIAL_EXPIRES", ValidTo=clock.now + 60)
    blob = encryption.encrypt(svc, CTX, {"KeyId": key["KeyId"], "Plaintext": b"x"})["CiphertextBlob"]  # cached
    clock.now += 60  # at ValidTo; no maintenance pass yet
    for call in (
        lambda: encryption.encrypt(svc, CTX, {"KeyId": key["KeyId"], "Plaintext": b"x"}),
        lambda: encryption.decrypt(svc, CTX, {"CiphertextBlob": blob}),
    ):
        with pytest.raises(KMSInvalidStateException, match="is pending import"):
            call()
    described = key_api.describe_key(svc, CTX, {"KeyId": key["KeyId"]})["KeyMetadata"]
    assert (described["KeyState"], described["Enabled"]) == ("PendingImport", False)
    assert "ExpirationModel" not in described


def test_an_import_token_expires_after_a_day_and_its_wrapping_key_is_then_forgotten(
    services: tuple[Services, Clock],
) -> None:
    svc, clock = services
    key_id = key_api.create_key(svc, CTX, {"Origin": "EXTERNAL"})["KeyMetadata"]["KeyId"]
    given = parameters(svc, key_id)
    request = {
        "KeyId": key_id,
        "ImportToken": given["ImportToken"],
        "EncryptedKeyMaterial": wrap(given, "RSAES_OAEP_SHA_256", os.urandom(32)),
        "ExpirationModel": "KEY_MATERIAL_DOES_NOT_EXPIRE",
    }
    clock.now += 24 * 3600
    with pytest.raises(ExpiredImportTokenException):
        imports.import_key_material(svc, CTX, request)
    assert run_due_work(svc)["purged_wrapping_keys"] == 0  # not before it is past its time
    clock.now += 1
    assert run_due_work(svc)["purged_wrapping_keys"] == 1
    with pytest.raises(ExpiredImportTokenException):
        imports.import_key_material(svc, CTX, request)
    assert state(svc, key_id) == "PendingImport"


def test_a_node_that_has_not_yet_seen_a_deletion_says_pending_import_not_internal_error(
    services: tuple[Services, Clock],
) -> None:
    svc, _ = services
    key = key_api.create_key(svc, CTX, {"Origin": "EXTERNAL"})["KeyMetadata"]
    do_import(svc, key["KeyId"], os.urandom(32))
    with svc.store.transaction(write=False) as tx:
        stale = tx.keys.get(ACCOUNT, "us-east-1", key["KeyId"])  # as another node's cache still holds it: Enabled
    assert stale is not None and stale.state.value == "Enabled"
    imports.delete_imported_key_material(svc, CTX, {"KeyId": key["KeyId"]})
    fresh_ring = type(svc.keyring)(svc.store)  # a node that never loaded the material
    with pytest.raises(KMSInvalidStateException, match="is pending import"):
        fresh_ring.current(stale)


def test_a_key_keeps_its_newest_wrapping_keys_only(
    services: tuple[Services, Clock], monkeypatch: pytest.MonkeyPatch
) -> None:
    """Asking for import parameters again and again cannot fill the disk: the oldest beyond the bound go, and
    their tokens say so; the newest keep working."""
    monkeypatch.setattr(imports, "MAX_PARAMETERS_PER_KEY", 3)  # 100 in use; 3 keeps the test quick
    svc, clock = services
    key_id = key_api.create_key(svc, CTX, {"Origin": "EXTERNAL"})["KeyMetadata"]["KeyId"]
    first = parameters(svc, key_id)
    for _ in range(imports.MAX_PARAMETERS_PER_KEY):
        clock.now += 1
        last = parameters(svc, key_id)
    assert isinstance(svc.store, MemoryStore)  # the unit tests' fake: its table is a dict
    assert len(svc.store.committed.import_parameters) == imports.MAX_PARAMETERS_PER_KEY
    material = os.urandom(32)
    for given, outcome in ((first, InvalidImportTokenException), (last, None)):
        request = {
            "KeyId": key_id,
            "ImportToken": given["ImportToken"],
            "EncryptedKeyMaterial": wrap(given, "RSAES_OAEP_SHA_256", material),
            "ExpirationModel": "KEY_MATERIAL_DOES_NOT_EXPIRE",
        }
        if outcome is None:
            imports.import_key_material(svc, CTX, request)
        else:
            with pytest.raises(outcome, match="superseded"):
                imports.import_key_material(svc, CTX, request)
    assert state(svc, key_id) == "Enabled"


# --- the crypto, alone ---------------------------------------------------------------------------------------------
@pytest.mark.parametrize("algorithm", crypto.WRAPPING_ALGORITHMS)
def test_every_wrapping_algorithm_unwraps_what_a_client_wraps(algorithm: str) -> None:
    private_der, public_der = crypto.new_wrapping_key("RSA_2048")
    material = os.urandom(32)
    assert crypto.unwrap(private_der, algorithm, wrap({"PublicKey": public_der}, algorithm, material)) == material
    other = "RSAES_OAEP_SHA_1" if algorithm != "RSAES_OAEP_SHA_1" else "RSAES_OAEP_SHA_256"
    with pytest.raises(crypto.UnwrapFailed):  # unwrapped with another algorithm than it was wrapped with
        crypto.unwrap(private_der, other, wrap({"PublicKey": public_der}, algorithm, material))


def test_material_must_be_of_the_keys_spec() -> None:
    assert crypto.material_for_spec("SYMMETRIC_DEFAULT", b"k" * 32) == b"k" * 32
    for spec, size in (("SYMMETRIC_DEFAULT", 16), ("HMAC_224", 27), ("HMAC_512", 129), ("HMAC_384", 47)):
        with pytest.raises(crypto.WrongMaterial):
            crypto.material_for_spec(spec, b"k" * size)
    rsa_der = rsa.generate_private_key(public_exponent=65537, key_size=2048).private_bytes(
        serialization.Encoding.DER, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )
    assert crypto.material_for_spec("RSA_2048", rsa_der) == rsa_der
    for spec in ("RSA_3072", "ECC_NIST_P256"):
        with pytest.raises(crypto.WrongMaterial):
            crypto.material_for_spec(spec, rsa_der)
    traditional = ec.generate_private_key(ec.SECP256R1()).private_bytes(
        serialization.Encoding.DER, serialization.PrivateFormat.TraditionalOpenSSL, serialization.NoEncryption()
    )
    normalized = crypto.material_for_spec("ECC_NIST_P256", traditional)  # stored as PKCS#8 whatever came in
    assert serialization.load_der_private_key(normalized, None).private_numbers() == (  # type: ignore[union-attr]
        serialization.load_der_private_key(traditional, None).private_numbers()  # type: ignore[union-attr]
    )
    with pytest.raises(crypto.WrongMaterial):
        crypto.material_for_spec("ECC_NIST_P256", b"not a key")


def test_a_token_verifies_only_for_its_key_and_unaltered() -> None:
    tokens = crypto.ImportTokens(os.urandom(32))
    claims, token = tokens.mint("arn:aws:kms:us-east-1:000000000000:key/a", "RSAES_OAEP_SHA_1", "RSA_3072", 1.5e9)
    assert tokens.verify("arn:aws:kms:us-east-1:000000000000:key/a", token) == claims
    with pytest.raises(crypto.InvalidImportToken):
        tokens.verify("arn:aws:kms:us-east-1:000000000000:key/b", token)
    for index in range(len(token)):
        altered = bytearray(token)
        altered[index] ^= 1
        with pytest.raises(crypto.InvalidImportToken):
            tokens.verify("arn:aws:kms:us-east-1:000000000000:key/a", bytes(altered))
    with pytest.raises(crypto.InvalidImportToken):
        crypto.ImportTokens(os.urandom(32)).verify("arn:aws:kms:us-east-1:000000000000:key/a", token)
