"""A root key in an HSM (crypto/hsm.py), against SoftHSM2: generated in the token and never extractable, wraps in
the file key's format, and every way of getting it wrong is a clear RootKeyError, never a fallback."""

from __future__ import annotations

import pytest

from tests.conftest import SOFTHSM_LIBRARY, SoftHsmToken
from trent.crypto.hsm import HsmError, HsmRootKey, Pkcs11Uri
from trent.crypto.rootkey import RootKeyError, RootKeyVersions, generate_root_key


def test_the_key_is_made_in_the_token_and_never_leaves_it(softhsm: SoftHsmToken) -> None:
    key = HsmRootKey(softhsm.uri, create=True)
    import pkcs11

    assert key._key[pkcs11.Attribute.EXTRACTABLE] is False and key._key[pkcs11.Attribute.SENSITIVE] is True
    with pytest.raises(pkcs11.AttributeSensitive):
        key._key[pkcs11.Attribute.VALUE]
    blob = key.wrap(b"data key", b"aad")
    assert blob[:1] == b"\x01" and len(blob) == 1 + 12 + 8 + 16  # the file key's format
    assert key.unwrap(blob, b"aad") == b"data key"
    for tampered in (blob[:-1] + bytes([blob[-1] ^ 1]), blob[:5] + bytes([blob[5] ^ 1]) + blob[6:]):
        with pytest.raises(RootKeyError, match="does not authenticate"):
            key.unwrap(tampered, b"aad")
    with pytest.raises(RootKeyError, match="does not authenticate"):
        key.unwrap(blob, b"other aad")
    with pytest.raises(RootKeyError):
        key.derive(b"markers")  # nothing is derived from a key in an HSM: the store keeps its derived keys
    again = HsmRootKey(softhsm.uri)  # another process finds the same key
    assert again.unwrap(blob, b"aad") == b"data key"
    versions = RootKeyVersions(again)  # and unwraps the data keys of the root key's versions with it
    data_key = generate_root_key()
    versions.learn(1, key.wrap(data_key, b"root-key-version:1"))
    assert versions.unwrap(versions.wrap(1, b"secret", b"row"), b"row") == b"secret"


def test_every_way_of_getting_it_wrong_is_a_clear_error(softhsm: SoftHsmToken, monkeypatch: pytest.MonkeyPatch) -> None:
    HsmRootKey(softhsm.uri, create=True)
    cases = {
        softhsm.uri.replace("object=trent-root-key", "object=absent"): "holds no key labelled 'absent'",
        softhsm.uri.replace(softhsm.uri.split(";")[0], "pkcs11:token=absent"): "no token labelled 'absent'",
        softhsm.uri.replace(SOFTHSM_LIBRARY, "/nonexistent/libpkcs11.so"): "cannot be loaded",
        softhsm.uri.split("&pin-source")[0] + "&pin-value=4321": "may not be written in the pkcs11: URI",
        softhsm.uri.split("?")[0]: "needs module-path",
    }
    for uri, message in cases.items():
        with pytest.raises(HsmError, match=message):
            HsmRootKey(uri)
    softhsm.pin_file.write_text("0000\n")
    with pytest.raises(HsmError, match="refused the PIN"):
        HsmRootKey(softhsm.uri)
    softhsm.pin_file.chmod(0o644)
    with pytest.raises(HsmError, match="readable by others"):
        HsmRootKey(softhsm.uri)
    without_file = softhsm.uri.split("&pin-source")[0]
    monkeypatch.delenv("TRENT_PKCS11_PIN", raising=False)
    with pytest.raises(HsmError, match="no PIN for the HSM"):
        HsmRootKey(without_file)
    monkeypatch.setenv("TRENT_PKCS11_PIN", "4321")
    assert HsmRootKey(without_file).unwrap(HsmRootKey(without_file).wrap(b"x", b"a"), b"a") == b"x"


def test_the_uri_is_read_as_rfc_7512_writes_it() -> None:
    uri = Pkcs11Uri.parse("pkcs11:token=My%20Token;object=root?module-path=/lib/p11.so&pin-source=file:/etc/pin")
    assert (uri.token, uri.object, uri.module_path, uri.pin_source) == (
        "My Token",
        "root",
        "/lib/p11.so",
        "file:/etc/pin",
    )
    for bad in ("pkcs12:token=a", "pkcs11:token", "pkcs11:object=k?module-path=/x"):
        with pytest.raises(HsmError):
            Pkcs11Uri.parse(bad)
