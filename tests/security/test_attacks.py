"""Attacks on a live Trent: each one must be refused, and must change nothing.

Grant tokens (forged, altered bit by bit, re-encoded, truncated, replayed on other keys and by other principals),
SigV4 (wrong secret, wrong service, a region that does not own the key, stale and future dates, altered body and
signed headers), privilege escalation through grants (widening by delegation, a retiring principal revoking),
cross-account access, the confused deputy (``SourceArn``), timing side channels, and secrets leaking into the
store, the log, the audit trail, error messages or ``/metrics``.

Every refused attempt is counted; the module prints ``ATTACKS SUMMARY: N attacks refused`` at the end.
"""

from __future__ import annotations

import ast
import base64
import datetime as dt
import inspect
import json
import os
import statistics
import textwrap
import time
import urllib.request
import uuid
from collections import Counter
from collections.abc import Callable, Collection, Iterator, Mapping
from dataclasses import dataclass
from functools import partial
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from botocore.exceptions import ClientError
from sqlalchemy.pool import NullPool

import trent.api.identity
import trent.crypto.mac
import trent.crypto.tokens
import trent.edge.sigv4
from tests.e2e.test_authorization import admin_statement, key_policy, new_user
from tests.e2e.test_persistence_cli import _raw_materials
from tests.reliability.test_hostile_input import (
    Reply,
    exchange,
    kms_headers,
    report_fuzz_summary,
    report_line,
    sign,
)
from tests.server import REGION, TrentServer
from trent.crypto.tokens import GrantTokens, InvalidToken
from trent.domain.errors import InvalidSignatureException
from trent.edge.sigv4 import SigV4Verifier, parse_authorization

ACCOUNT = "000000000000"
ADMIN_ARN = f"arn:aws:iam::{ACCOUNT}:user/admin"
SOURCE_ARN = f"arn:aws:sqs:{REGION}:{ACCOUNT}:attack-queue"

# --- bookkeeping --------------------------------------------------------------------------------------------------
REFUSED: Counter[str] = Counter()


@pytest.fixture(scope="session", autouse=True)
def attacks_summary(request: pytest.FixtureRequest) -> Iterator[None]:
    yield
    report_fuzz_summary(request.config)  # when both modules run, this summary is the last line
    if REFUSED:
        detail = ", ".join(f"{category} {count}" for category, count in sorted(REFUSED.items()))
        report_line(request.config, f"ATTACKS DETAIL: {detail}")
        report_line(request.config, f"ATTACKS SUMMARY: {sum(REFUSED.values())} attacks refused")


def error_code(exc: pytest.ExceptionInfo[ClientError]) -> tuple[str, str]:
    error = exc.value.response["Error"]
    return str(error.get("Code")), str(error.get("Message", ""))


def refused(category: str, call: Callable[[], Any], codes: Collection[str], *, attack: bool = True) -> str:
    """Assert that a boto3 call fails with one of ``codes``; count it as an attack; return the message."""
    with pytest.raises(ClientError) as exc:
        call()
    code, message = error_code(exc)
    assert code in codes, f"{category}: expected one of {sorted(codes)}, got {code}: {message}"
    if attack:
        REFUSED[category] += 1
    return message


def refused_reply(category: str, reply: Reply, codes: Collection[str]) -> str:
    """Assert that a raw reply is an error with one of ``codes``; count it; return the message."""
    assert reply.status == 400, f"{category}: HTTP {reply.status} {reply.body[:300]!r}"
    document = reply.document()
    assert document.get("__type") in codes, f"{category}: expected one of {sorted(codes)}, got {document}"
    REFUSED[category] += 1
    return str(document.get("message", ""))


def probe(call: Callable[[], Any], codes: Collection[str]) -> str:
    """A refused request that is no attack (an error path probed for leaks): its message."""
    return refused("probe", call, codes, attack=False)


DENIED = {"AccessDeniedException"}
BAD_TOKEN = {"InvalidGrantTokenException"}
BAD_SIGNATURE = {"InvalidSignatureException"}


# --- actors -------------------------------------------------------------------------------------------------------
@dataclass
class Actor:
    arn: str
    access_key: str
    secret_key: str
    kms: Any


@dataclass
class Cast:
    server: TrentServer
    admin: Any
    grantee: Actor
    retirer: Actor
    stranger: Actor
    other_root: Actor
    other_account: str


def _actor(server: TrentServer, tmp: Path) -> Actor:
    user, client = new_user(server, tmp)
    return Actor(user["Arn"], user["AccessKeyId"], user["SecretAccessKey"], client)


@pytest.fixture(scope="module")
def cast(server: TrentServer, tmp_path_factory: pytest.TempPathFactory) -> Cast:
    tmp = tmp_path_factory.mktemp("attacks")
    other_account = f"7{uuid.uuid4().int % 10**11:011d}"
    server.admin("account", "create", other_account)
    root = server.admin("access-key", "create", f"arn:aws:iam::{other_account}:root")
    other_root = Actor(
        f"arn:aws:iam::{other_account}:root",
        root["AccessKeyId"],
        root["SecretAccessKey"],
        server.client("kms", access_key=root["AccessKeyId"], secret_key=root["SecretAccessKey"]),
    )
    return Cast(
        server=server,
        admin=server.client("kms"),
        grantee=_actor(server, tmp),
        retirer=_actor(server, tmp),
        stranger=_actor(server, tmp),
        other_root=other_root,
        other_account=other_account,
    )


def admin_key(cast: Cast, **kwargs: Any) -> dict[str, Any]:
    """A key whose policy allows only the admin: everybody else needs a grant."""
    metadata: dict[str, Any] = cast.admin.create_key(Policy=key_policy(admin_statement()), **kwargs)["KeyMetadata"]
    return metadata


def decode_token(token: str) -> bytes:
    return base64.urlsafe_b64decode(token + "=" * (-len(token) % 4))


def encode_token(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()


def grant_count(cast: Cast, key_id: str) -> int:
    return len(cast.admin.list_grants(KeyId=key_id)["Grants"])


# --- 1. grant tokens ----------------------------------------------------------------------------------------------
@dataclass
class TokenWorld:
    key: dict[str, Any]
    other_key: dict[str, Any]
    grant: dict[str, Any]


@pytest.fixture(scope="module")
def tokens(cast: Cast) -> TokenWorld:
    key, other_key = admin_key(cast), admin_key(cast)
    grant = cast.admin.create_grant(KeyId=key["KeyId"], GranteePrincipal=cast.grantee.arn, Operations=["Encrypt"])
    return TokenWorld(key, other_key, grant)


def use_token(cast: Cast, world: TokenWorld, token: str) -> Callable[[], Any]:
    return lambda: cast.grantee.kms.encrypt(KeyId=world.key["Arn"], Plaintext=b"x", GrantTokens=[token])


def test_forged_tokens_are_refused(cast: Cast, tokens: TokenWorld) -> None:
    grant_id, key_id = tokens.grant["GrantId"], tokens.key["KeyId"]
    forged = [encode_token(b"\x01" + os.urandom(96)) for _ in range(16)]
    # The right structure, the real grant and key IDs, but a tag under another secret: another server's token.
    forged += [GrantTokens(os.urandom(32)).mint(grant_id, key_id) for _ in range(4)]
    # Made-up shapes.
    forged += [
        "A" * len(tokens.grant["GrantToken"]),
        grant_id,
        key_id,
        str(uuid.uuid4()),
        "eyJhbGciOiJub25lIn0.eyJncmFudCI6IioifQ.",
        encode_token(b"\x01" + bytes.fromhex(grant_id) + uuid.UUID(key_id).bytes + bytes(16) + bytes(32)),
        encode_token(b"\x02" + decode_token(tokens.grant["GrantToken"])[1:]),
    ]
    for token in forged:
        refused("forged grant token", use_token(cast, tokens, token), BAD_TOKEN)
        refused("forged grant token (RetireGrant)", partial(cast.admin.retire_grant, GrantToken=token), BAD_TOKEN)
    # The real token still works: the refusals were about the tokens.
    assert use_token(cast, tokens, tokens.grant["GrantToken"])()["KeyId"] == tokens.key["Arn"]


def test_every_bit_flip_of_a_token_is_refused(cast: Cast, tokens: TokenWorld) -> None:
    """Every single-bit change of the decoded token (all 776 bits: version, grant ID, key ID, nonce and tag)."""
    raw = decode_token(tokens.grant["GrantToken"])
    assert len(raw) == 97
    for bit in range(len(raw) * 8):
        altered = bytearray(raw)
        altered[bit // 8] ^= 0x80 >> (bit % 8)
        refused("bit-flipped grant token", use_token(cast, tokens, encode_token(bytes(altered))), BAD_TOKEN)
    assert use_token(cast, tokens, tokens.grant["GrantToken"])()["KeyId"] == tokens.key["Arn"]


def test_re_encoded_tokens_are_refused(cast: Cast, tokens: TokenWorld) -> None:
    """Spellings that decode to the very same bytes are still refused: a token has exactly one form."""
    token = tokens.grant["GrantToken"]
    # The last character carries 2 bits of the token and 4 bits base64 throws away: set one of those.
    alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"
    last = alphabet.index(token[-1])
    variants = [
        token + "=",
        token + "==",
        token[:-1] + alphabet[last ^ 0x01],  # a discarded trailing bit
        token[:-1] + alphabet[last ^ 0x08],
        token[:40] + "\n" + token[40:],
        token[:40] + " " + token[40:],
        token[:40] + "!" + token[40:],
        " " + token,
        token + " ",
    ]
    standard = token.replace("-", "+").replace("_", "/")
    if standard != token:
        variants.append(standard)  # the standard alphabet decodes to the same bytes
    for variant in variants:
        refused("re-encoded grant token", use_token(cast, tokens, variant), BAD_TOKEN)


def test_truncated_and_extended_tokens_are_refused(cast: Cast, tokens: TokenWorld) -> None:
    token = tokens.grant["GrantToken"]
    lengths = sorted({1, 2, 3, 4, 8, 22, 43, 44, 64, 65, 86, 100, 128, len(token) - 2, len(token) - 1})
    variants = [token[:n] for n in lengths] + [token[n:] for n in (1, 2, 4, 64)]
    variants += [token + "A", token + "AA", token + "AAAA", token + token, token[:64] + token[65:]]
    for variant in variants:
        refused("truncated or extended grant token", use_token(cast, tokens, variant), BAD_TOKEN)


def test_tokens_replayed_on_other_keys_or_by_other_principals_give_nothing(cast: Cast, tokens: TokenWorld) -> None:
    token = tokens.grant["GrantToken"]
    other = tokens.other_key
    refused(
        "token replayed on another key",
        lambda: cast.grantee.kms.encrypt(KeyId=other["Arn"], Plaintext=b"x", GrantTokens=[token]),
        DENIED,
    )
    refused(
        "token replayed by another principal",
        lambda: cast.stranger.kms.encrypt(KeyId=tokens.key["Arn"], Plaintext=b"x", GrantTokens=[token]),
        DENIED,
    )
    refused(
        "token replayed by another account",
        lambda: cast.other_root.kms.encrypt(KeyId=tokens.key["Arn"], Plaintext=b"x", GrantTokens=[token]),
        DENIED,
    )
    refused(
        "token replayed for another operation",
        lambda: cast.grantee.kms.generate_data_key(KeyId=tokens.key["Arn"], KeySpec="AES_256", GrantTokens=[token]),
        DENIED,
    )
    refused("token retired by a stranger", lambda: cast.stranger.kms.retire_grant(GrantToken=token), DENIED)
    # A retired grant's token is worthless at once.
    doomed = cast.admin.create_grant(KeyId=other["KeyId"], GranteePrincipal=cast.grantee.arn, Operations=["Encrypt"])
    cast.admin.retire_grant(GrantToken=doomed["GrantToken"])
    refused(
        "token of a retired grant",
        lambda: cast.grantee.kms.encrypt(KeyId=other["Arn"], Plaintext=b"x", GrantTokens=[doomed["GrantToken"]]),
        DENIED,
    )


def test_altered_ciphertexts_macs_and_signatures_are_refused(cast: Cast) -> None:
    """Every bit flip and every truncation of a ciphertext; altered MACs and signatures."""
    key = admin_key(cast)
    admin = cast.admin
    blob = admin.encrypt(KeyId=key["KeyId"], Plaintext=b"integrity", EncryptionContext={"k": "v"})["CiphertextBlob"]
    corrupt = {"InvalidCiphertextException", "IncorrectKeyException", "NotFoundException", "AccessDeniedException"}
    for bit in range(len(blob) * 8):
        altered = bytearray(blob)
        altered[bit // 8] ^= 0x80 >> (bit % 8)
        refused(
            "bit-flipped ciphertext",
            partial(admin.decrypt, CiphertextBlob=bytes(altered), EncryptionContext={"k": "v"}),
            corrupt,
        )
    for length in range(1, len(blob)):
        refused(
            "truncated ciphertext",
            partial(admin.decrypt, CiphertextBlob=blob[:length], EncryptionContext={"k": "v"}),
            corrupt,
        )
    refused("ciphertext with a byte more", lambda: admin.decrypt(CiphertextBlob=blob + b"\x00"), corrupt)
    refused("ciphertext under another context", lambda: admin.decrypt(CiphertextBlob=blob), corrupt)
    hmac_key = admin_key(cast, KeySpec="HMAC_256", KeyUsage="GENERATE_VERIFY_MAC")["KeyId"]
    mac = admin.generate_mac(KeyId=hmac_key, Message=b"m", MacAlgorithm="HMAC_SHA_256")["Mac"]
    for index in (0, len(mac) // 2, len(mac) - 1):
        altered_mac = mac[:index] + bytes([mac[index] ^ 1]) + mac[index + 1 :]
        refused(
            "altered MAC",
            partial(admin.verify_mac, KeyId=hmac_key, Message=b"m", Mac=altered_mac, MacAlgorithm="HMAC_SHA_256"),
            {"KMSInvalidMacException"},
        )
    refused(
        "MAC of another message",
        lambda: admin.verify_mac(KeyId=hmac_key, Message=b"n", Mac=mac, MacAlgorithm="HMAC_SHA_256"),
        {"KMSInvalidMacException"},
    )
    signing = admin_key(cast, KeySpec="ECC_NIST_P256", KeyUsage="SIGN_VERIFY")["KeyId"]
    signature = admin.sign(KeyId=signing, Message=b"m", SigningAlgorithm="ECDSA_SHA_256")["Signature"]
    for index in (len(signature) // 2, len(signature) - 1):
        altered_signature = signature[:index] + bytes([signature[index] ^ 1]) + signature[index + 1 :]
        refused(
            "altered signature",
            partial(
                admin.verify, KeyId=signing, Message=b"m", Signature=altered_signature, SigningAlgorithm="ECDSA_SHA_256"
            ),
            {"KMSInvalidSignatureException"},
        )


def _lenient_b64(text: str) -> bytes | None:
    try:
        return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))
    except ValueError:
        return None


def test_altered_pagination_markers_are_refused(cast: Cast) -> None:
    """Markers are opaque and authenticated: a changed character or a truncation is an InvalidMarkerException.

    (Unlike grant tokens, a marker is not held to one spelling: junk after its base64 padding is ignored. The page
    it names is unchanged, so this is no attack and is left out.)
    """
    admin = cast.admin
    key = admin_key(cast)
    admin_key(cast)  # two keys at least: a first page of one has a marker
    for _ in range(2):
        admin.create_grant(KeyId=key["KeyId"], GranteePrincipal=ADMIN_ARN, Operations=["Encrypt"])
    markers: list[tuple[str, str, Callable[[str], Any]]] = [
        ("ListKeys", admin.list_keys(Limit=1)["NextMarker"], lambda marker: admin.list_keys(Limit=1, Marker=marker)),
        (
            "ListGrants",
            admin.list_grants(KeyId=key["KeyId"], Limit=1)["NextMarker"],
            lambda marker: admin.list_grants(KeyId=key["KeyId"], Limit=1, Marker=marker),
        ),
    ]
    for name, marker, call in markers:
        variants = {
            marker[:index] + ("A" if marker[index] != "A" else "B") + marker[index + 1 :]
            for index in range(0, len(marker), 3)
        }
        variants |= {marker[:length] for length in range(1, len(marker), 4)}
        variants |= {marker + "A", "A" * len(marker)}
        # Spellings that decode to the very same bytes (junk after the padding) name the same page: not attacks.
        variants = {variant for variant in variants if _lenient_b64(variant) != _lenient_b64(marker)}
        for variant in sorted(variants):
            refused(
                f"altered {name} marker",
                partial(call, variant),
                {"InvalidMarkerException"},
            )


# --- 2. signatures ------------------------------------------------------------------------------------------------
@dataclass
class SignatureWorld:
    server: TrentServer
    key: dict[str, Any]
    access_key: str
    secret_key: str

    def tag_request(self, value: str, key_id: str | None = None) -> bytes:
        return json.dumps(
            {"KeyId": key_id or self.key["Arn"], "Tags": [{"TagKey": "attack", "TagValue": value}]}
        ).encode()

    def send(
        self,
        body: bytes,
        *,
        operation: str = "TagResource",
        headers: Mapping[str, str] | None = None,
        tamper: Callable[[dict[str, str]], None] | None = None,
        send_body: bytes | None = None,
        host: str | None = None,
        **signing: Any,
    ) -> Reply:
        fields = sign(
            self.server.port,
            body,
            {**kms_headers(operation), **(headers or {})},
            access_key=signing.pop("access_key", self.access_key),
            secret_key=signing.pop("secret_key", self.secret_key),
            **signing,
        )
        if tamper is not None:
            tamper(fields)
        return exchange(self.server.port, fields, body if send_body is None else send_body, host=host)

    def tags(self) -> list[dict[str, str]]:
        kms = self.server.client("kms")
        tags: list[dict[str, str]] = kms.list_resource_tags(KeyId=self.key["KeyId"])["Tags"]
        return tags


@pytest.fixture(scope="module")
def signatures(cast: Cast) -> SignatureWorld:
    access_key, secret_key = cast.server.admin_credentials()
    return SignatureWorld(cast.server, admin_key(cast), access_key, secret_key)


def _replace_header(name: str, value: str) -> Callable[[dict[str, str]], None]:
    def tamper(fields: dict[str, str]) -> None:
        for existing in [key for key in fields if key.lower() == name.lower()]:
            del fields[existing]
        fields[name] = value

    return tamper


def _shift_date(seconds: int) -> Callable[[dict[str, str]], None]:
    """Move the signed X-Amz-Date by `seconds`: always a real change, whatever second the request was signed in."""

    def tamper(fields: dict[str, str]) -> None:
        name = next(key for key in fields if key.lower() == "x-amz-date")
        signed = dt.datetime.strptime(fields[name], "%Y%m%dT%H%M%SZ")
        fields[name] = (signed + dt.timedelta(seconds=seconds)).strftime("%Y%m%dT%H%M%SZ")

    return tamper


def _rewrite_authorization(rewrite: Callable[[str], str]) -> Callable[[dict[str, str]], None]:
    def tamper(fields: dict[str, str]) -> None:
        fields["Authorization"] = rewrite(fields["Authorization"])

    return tamper


def test_signature_attacks_are_refused(cast: Cast, signatures: SignatureWorld) -> None:
    world = signatures
    body = world.tag_request("owned")
    now = dt.datetime.now(dt.UTC).replace(tzinfo=None)
    secret = world.secret_key
    wrong_secret = secret[:-1] + ("A" if secret[-1] != "A" else "B")
    cases: list[tuple[str, Reply, set[str]]] = [
        ("wrong secret", world.send(body, secret_key=wrong_secret), BAD_SIGNATURE),
        ("another principal's secret", world.send(body, secret_key=cast.stranger.secret_key), BAD_SIGNATURE),
        ("empty secret", world.send(body, secret_key=""), BAD_SIGNATURE),
        ("unknown access key", world.send(body, access_key="AKIA" + "Z" * 16), {"UnrecognizedClientException"}),
        ("session token on long-term keys", world.send(body, token="forged"), {"UnrecognizedClientException"}),
    ]
    for service in ("s3", "sts", "iam", "KMS", "kms2"):
        cases.append((f"signed for {service}", world.send(body, service=service), BAD_SIGNATURE))
    for label, delta in [
        ("stale by 6 minutes", -dt.timedelta(minutes=6)),
        ("stale by a day", -dt.timedelta(days=1)),
        ("stale by a year", -dt.timedelta(days=365)),
        ("future by 6 minutes", dt.timedelta(minutes=6)),
        ("future by a day", dt.timedelta(days=1)),
    ]:
        cases.append((label, world.send(body, when=now + delta), BAD_SIGNATURE))
    # The body, altered after signing.
    flipped = bytearray(body)
    flipped[body.index(b"owned")] ^= 0x01
    for label, other in [
        ("altered body: one bit", bytes(flipped)),
        ("altered body: trailing space", body + b" "),
        ("altered body: another value", world.tag_request("pwned")),
        ("altered body: another key", world.tag_request("owned", key_id=str(uuid.uuid4()))),
        ("altered body: empty", b""),
    ]:
        cases.append((label, world.send(body, send_body=other), BAD_SIGNATURE))
    # Signed headers, altered after signing.
    for label, tamper in [
        ("altered X-Amz-Target", _replace_header("X-Amz-Target", "TrentService.UntagResource")),
        ("altered Content-Type", _replace_header("Content-Type", "application/x-amz-json-1.0")),
        ("altered X-Amz-Date", _shift_date(1)),
        ("X-Amz-Date of another day", _replace_header("X-Amz-Date", "20200101T000000Z")),
        ("added security token", _replace_header("X-Amz-Security-Token", "x")),
        ("unsigned payload", _replace_header("X-Amz-Content-Sha256", "UNSIGNED-PAYLOAD")),
        ("target dropped from SignedHeaders", _rewrite_authorization(lambda a: a.replace(";x-amz-target", ""))),
        ("host dropped from SignedHeaders", _rewrite_authorization(lambda a: a.replace("host;", ""))),
        ("signature's last digit changed", _rewrite_authorization(lambda a: a[:-1] + ("0" if a[-1] != "0" else "1"))),
        ("signature truncated", _rewrite_authorization(lambda a: a[:-2])),
        ("signature empty", _rewrite_authorization(lambda a: a[: a.index("Signature=") + len("Signature=")])),
        ("scope region changed", _rewrite_authorization(lambda a: a.replace(f"/{REGION}/", "/us-west-2/"))),
        ("scope service changed", _rewrite_authorization(lambda a: a.replace("/kms/", "/sts/"))),
    ]:
        codes = BAD_SIGNATURE | {"IncompleteSignatureException", "UnrecognizedClientException"}
        cases.append((label, world.send(body, tamper=tamper), codes))
    cases.append(("altered Host", world.send(body, host="localhost:1"), BAD_SIGNATURE))
    for label, reply, codes in cases:
        refused_reply(f"signature: {label}", reply, codes)
    assert world.tags() == [], "a refused request tagged the key"


def test_a_region_that_does_not_own_the_key_cannot_touch_it(cast: Cast, signatures: SignatureWorld) -> None:
    """Signed correctly, but for another region than the key ARN's: the key is not there."""
    world = signatures
    west = cast.server.client("kms", region="us-west-2")
    arn = world.key["Arn"]
    blob = cast.admin.encrypt(KeyId=arn, Plaintext=b"east")["CiphertextBlob"]
    where = {
        "NotFoundException",
        "InvalidArnException",
        "AccessDeniedException",
        "IncorrectKeyException",
        "InvalidCiphertextException",
    }
    for label, call in [
        ("DescribeKey", lambda: west.describe_key(KeyId=arn)),
        ("Encrypt", lambda: west.encrypt(KeyId=arn, Plaintext=b"x")),
        ("Decrypt", lambda: west.decrypt(CiphertextBlob=blob, KeyId=arn)),
        ("Decrypt without KeyId", lambda: west.decrypt(CiphertextBlob=blob)),
        ("TagResource", lambda: west.tag_resource(KeyId=arn, Tags=[{"TagKey": "attack", "TagValue": "west"}])),
        ("DisableKey", lambda: west.disable_key(KeyId=arn)),
        ("ScheduleKeyDeletion", lambda: west.schedule_key_deletion(KeyId=arn, PendingWindowInDays=7)),
        ("CreateGrant", lambda: west.create_grant(KeyId=arn, GranteePrincipal=ADMIN_ARN, Operations=["Encrypt"])),
        ("PutKeyPolicy", lambda: west.put_key_policy(KeyId=arn, Policy=key_policy(admin_statement()))),
        ("CreateAlias", lambda: west.create_alias(AliasName=f"alias/west-{uuid.uuid4().hex[:6]}", TargetKeyId=arn)),
    ]:
        refused(f"cross-region {label}", call, where)
    metadata = cast.admin.describe_key(KeyId=arn)["KeyMetadata"]
    assert metadata["KeyState"] == "Enabled"
    assert world.tags() == []
    assert cast.admin.list_grants(KeyId=arn)["Grants"] == []


def test_identical_replay_is_accepted_but_a_changed_body_is_refused(signatures: SignatureWorld) -> None:
    """Trent's stance on replay, the same as AWS's: there is no nonce cache.

    A byte-identical signed request sent again within the signature's validity window (5 minutes either side of
    the server clock) is accepted and executed again, exactly as AWS KMS does. What bounds the exposure is the
    window itself, TLS in front of Trent (an attacker cannot see a request to replay it), and the fact that KMS
    requests are either idempotent or harmless to repeat. Anything changed in a replayed request, the body in
    particular, breaks the signature and is refused.
    """
    world = signatures
    body = world.tag_request("replayed")
    fields = sign(
        world.server.port, body, kms_headers("TagResource"), access_key=world.access_key, secret_key=world.secret_key
    )
    first = exchange(world.server.port, fields, body)
    again = exchange(world.server.port, fields, body)
    assert (first.status, again.status) == (200, 200), (first.body, again.body)
    for altered in (world.tag_request("replayed-but-changed"), body.replace(b"attack", b"Attack"), body + b"\n"):
        refused_reply("replay with a changed body", exchange(world.server.port, fields, altered), BAD_SIGNATURE)
    assert world.tags() == [{"TagKey": "attack", "TagValue": "replayed"}]
    world.server.client("kms").untag_resource(KeyId=world.key["KeyId"], TagKeys=["attack"])


# --- 3. grants: delegation, retiring and revoking -----------------------------------------------------------------
def test_a_grantee_cannot_widen_its_grant_by_delegation(cast: Cast) -> None:
    key = admin_key(cast)
    arn = key["Arn"]
    grantee, stranger = cast.grantee, cast.stranger
    subset = cast.admin.create_grant(
        KeyId=key["KeyId"],
        GranteePrincipal=grantee.arn,
        Operations=["Encrypt", "Decrypt", "CreateGrant"],
        Constraints={"EncryptionContextSubset": {"dept": "it"}},
    )
    before = grant_count(cast, key["KeyId"])

    def delegate(operations: list[str], constraints: dict[str, Any] | None = None, to: str = "") -> Callable[[], Any]:
        def call() -> Any:
            kwargs: dict[str, Any] = {"GrantTokens": [subset["GrantToken"]]}
            if constraints is not None:
                kwargs["Constraints"] = constraints
            return grantee.kms.create_grant(
                KeyId=arn, GranteePrincipal=to or stranger.arn, Operations=operations, **kwargs
            )

        return call

    widenings: list[tuple[str, Callable[[], Any]]] = [
        ("more operations", delegate(["Encrypt", "ReEncryptFrom"], {"EncryptionContextSubset": {"dept": "it"}})),
        ("an operation it lacks", delegate(["GenerateDataKey"], {"EncryptionContextSubset": {"dept": "it"}})),
        ("RetireGrant it lacks", delegate(["Encrypt", "RetireGrant"], {"EncryptionContextSubset": {"dept": "it"}})),
        ("DescribeKey it lacks", delegate(["Encrypt", "DescribeKey"], {"EncryptionContextSubset": {"dept": "it"}})),
        ("no constraints", delegate(["Encrypt"])),
        ("an empty subset", delegate(["Encrypt"], {"EncryptionContextSubset": {}})),
        ("another pair only", delegate(["Encrypt"], {"EncryptionContextSubset": {"team": "ops"}})),
        ("the value's case changed", delegate(["Encrypt"], {"EncryptionContextSubset": {"dept": "IT"}})),
        ("an equals without the pair", delegate(["Encrypt"], {"EncryptionContextEquals": {"team": "ops"}})),
        ("to itself, wider", delegate(["Encrypt", "Decrypt", "GenerateDataKey"], None, to=grantee.arn)),
    ]
    equals = cast.admin.create_grant(
        KeyId=key["KeyId"],
        GranteePrincipal=cast.retirer.arn,  # a grantee of its own: grants add up
        Operations=["Decrypt", "CreateGrant"],
        Constraints={"EncryptionContextEquals": {"dept": "it"}},
    )

    def from_equals(constraints: dict[str, Any] | None) -> Callable[[], Any]:
        kwargs: dict[str, Any] = {"Constraints": constraints} if constraints is not None else {}
        return lambda: cast.retirer.kms.create_grant(
            KeyId=arn,
            GranteePrincipal=stranger.arn,
            Operations=["Decrypt"],
            GrantTokens=[equals["GrantToken"]],
            **kwargs,
        )

    widenings += [
        ("equals to subset", from_equals({"EncryptionContextSubset": {"dept": "it"}})),
        ("equals with a pair more", from_equals({"EncryptionContextEquals": {"dept": "it", "x": "y"}})),
        ("equals dropped", from_equals(None)),
    ]
    before += 1
    for label, call in widenings:
        refused(f"delegation widening: {label}", call, DENIED)
    # A narrower child is allowed; its grantee cannot widen it back either.
    child = grantee.kms.create_grant(
        KeyId=arn,
        GranteePrincipal=stranger.arn,
        Operations=["Encrypt", "CreateGrant"],
        Constraints={"EncryptionContextSubset": {"dept": "it", "team": "ops"}},
        GrantTokens=[subset["GrantToken"]],
    )
    before += 1
    refused(
        "delegation widening: a child widening back",
        lambda: stranger.kms.create_grant(
            KeyId=arn,
            GranteePrincipal=grantee.arn,
            Operations=["Encrypt", "Decrypt"],
            Constraints={"EncryptionContextSubset": {"dept": "it"}},
            GrantTokens=[child["GrantToken"]],
        ),
        DENIED,
    )
    refused(
        "grantee revoking its own grant",
        lambda: grantee.kms.revoke_grant(KeyId=arn, GrantId=subset["GrantId"]),
        DENIED,
    )
    refused("grantee scheduling deletion", lambda: grantee.kms.schedule_key_deletion(KeyId=arn), DENIED)
    refused(
        "grantee rewriting the key policy",
        lambda: grantee.kms.put_key_policy(KeyId=arn, Policy=key_policy(admin_statement())),
        DENIED,
    )
    assert grant_count(cast, key["KeyId"]) == before


def test_a_retiring_principal_cannot_revoke(cast: Cast) -> None:
    key = admin_key(cast)
    grant = cast.admin.create_grant(
        KeyId=key["KeyId"],
        GranteePrincipal=cast.grantee.arn,
        RetiringPrincipal=cast.retirer.arn,
        Operations=["Encrypt"],
    )
    arn = key["Arn"]
    refused(
        "retiring principal revoking",
        lambda: cast.retirer.kms.revoke_grant(KeyId=arn, GrantId=grant["GrantId"]),
        DENIED,
    )
    refused(
        "retiring principal revoking (dry run)",
        lambda: cast.retirer.kms.revoke_grant(KeyId=arn, GrantId=grant["GrantId"], DryRun=True),
        DENIED,
    )
    refused("grantee revoking", lambda: cast.grantee.kms.revoke_grant(KeyId=arn, GrantId=grant["GrantId"]), DENIED)
    refused("stranger retiring", lambda: cast.stranger.kms.retire_grant(KeyId=arn, GrantId=grant["GrantId"]), DENIED)
    refused(
        "grantee retiring without RetireGrant",
        lambda: cast.grantee.kms.retire_grant(KeyId=arn, GrantId=grant["GrantId"]),
        DENIED,
    )
    assert [g["GrantId"] for g in cast.admin.list_grants(KeyId=arn)["Grants"]] == [grant["GrantId"]]
    cast.retirer.kms.retire_grant(KeyId=arn, GrantId=grant["GrantId"])  # what it may do
    assert cast.admin.list_grants(KeyId=arn)["Grants"] == []


# --- 4. cross-account ---------------------------------------------------------------------------------------------
def test_cross_account_access_is_refused(cast: Cast) -> None:
    other = cast.other_root.kms
    foreign = other.create_key(Description="theirs")["KeyMetadata"]
    other.tag_resource(KeyId=foreign["KeyId"], Tags=[{"TagKey": "owner", "TagValue": "them"}])
    blob = other.encrypt(KeyId=foreign["KeyId"], Plaintext=b"their secret")["CiphertextBlob"]
    policy_before = other.get_key_policy(KeyId=foreign["KeyId"], PolicyName="default")["Policy"]
    admin = cast.admin
    for label, key_id in (("bare key ID", foreign["KeyId"]), ("key ARN", foreign["Arn"])):
        codes = {"NotFoundException"} if label == "bare key ID" else DENIED
        for operation, call in [
            ("DescribeKey", lambda k=key_id: admin.describe_key(KeyId=k)),
            ("Encrypt", lambda k=key_id: admin.encrypt(KeyId=k, Plaintext=b"x")),
            ("GenerateDataKey", lambda k=key_id: admin.generate_data_key(KeyId=k, KeySpec="AES_256")),
            ("DisableKey", lambda k=key_id: admin.disable_key(KeyId=k)),
            ("ScheduleKeyDeletion", lambda k=key_id: admin.schedule_key_deletion(KeyId=k)),
            ("PutKeyPolicy", lambda k=key_id: admin.put_key_policy(KeyId=k, Policy=key_policy(admin_statement()))),
            ("GetKeyPolicy", lambda k=key_id: admin.get_key_policy(KeyId=k)),
            ("TagResource", lambda k=key_id: admin.tag_resource(KeyId=k, Tags=[{"TagKey": "a", "TagValue": "b"}])),
            ("ListGrants", lambda k=key_id: admin.list_grants(KeyId=k)),
            (
                "CreateGrant",
                lambda k=key_id: admin.create_grant(KeyId=k, GranteePrincipal=ADMIN_ARN, Operations=["Decrypt"]),
            ),
        ]:
            refused(f"cross-account {operation} by {label}", call, codes)
    refused("cross-account Decrypt", lambda: admin.decrypt(CiphertextBlob=blob), DENIED)
    refused(
        "cross-account Decrypt naming the key", lambda: admin.decrypt(CiphertextBlob=blob, KeyId=foreign["Arn"]), DENIED
    )
    refused(
        "cross-account ReEncrypt",
        lambda: admin.re_encrypt(CiphertextBlob=blob, DestinationKeyId=admin_key(cast)["KeyId"]),
        DENIED,
    )
    refused(
        "alias onto another account's key",
        lambda: admin.create_alias(AliasName=f"alias/steal-{uuid.uuid4().hex[:6]}", TargetKeyId=foreign["Arn"]),
        {"NotFoundException", "AccessDeniedException", "ValidationException", "InvalidArnException"},
    )
    # Their key, untouched.
    metadata = other.describe_key(KeyId=foreign["KeyId"])["KeyMetadata"]
    assert metadata["KeyState"] == "Enabled" and metadata["Enabled"]
    assert other.get_key_policy(KeyId=foreign["KeyId"], PolicyName="default")["Policy"] == policy_before
    assert other.list_resource_tags(KeyId=foreign["KeyId"])["Tags"] == [{"TagKey": "owner", "TagValue": "them"}]
    assert other.list_grants(KeyId=foreign["KeyId"])["Grants"] == []
    assert other.decrypt(CiphertextBlob=blob)["Plaintext"] == b"their secret"


# --- 5. the confused deputy ---------------------------------------------------------------------------------------
def test_a_source_arn_grant_never_serves_a_direct_caller(cast: Cast) -> None:
    key = admin_key(cast)
    arn = key["Arn"]
    grantee = cast.grantee
    grant = cast.admin.create_grant(
        KeyId=key["KeyId"],
        GranteePrincipal=grantee.arn,
        Operations=["Encrypt", "Decrypt", "GenerateDataKey", "DescribeKey", "ReEncryptFrom", "ReEncryptTo"],
        Constraints={"SourceArn": SOURCE_ARN},
    )
    blob = cast.admin.encrypt(KeyId=arn, Plaintext=b"deputy")["CiphertextBlob"]
    token = grant["GrantToken"]
    for label, call in [
        ("Encrypt", lambda: grantee.kms.encrypt(KeyId=arn, Plaintext=b"x")),
        ("Encrypt with the token", lambda: grantee.kms.encrypt(KeyId=arn, Plaintext=b"x", GrantTokens=[token])),
        ("Decrypt", lambda: grantee.kms.decrypt(CiphertextBlob=blob, GrantTokens=[token])),
        ("GenerateDataKey", lambda: grantee.kms.generate_data_key(KeyId=arn, KeySpec="AES_256", GrantTokens=[token])),
        ("DescribeKey", lambda: grantee.kms.describe_key(KeyId=arn, GrantTokens=[token])),
        ("ReEncrypt", lambda: grantee.kms.re_encrypt(CiphertextBlob=blob, DestinationKeyId=arn, GrantTokens=[token])),
    ]:
        refused(f"confused deputy: {label}", call, DENIED)
    creator = cast.admin.create_grant(
        KeyId=key["KeyId"],
        GranteePrincipal=grantee.arn,
        Operations=["Encrypt", "CreateGrant"],
        Constraints={"SourceArn": SOURCE_ARN},
    )
    refused(
        "confused deputy: CreateGrant dropping SourceArn",
        lambda: grantee.kms.create_grant(
            KeyId=arn, GranteePrincipal=cast.stranger.arn, Operations=["Encrypt"], GrantTokens=[creator["GrantToken"]]
        ),
        DENIED,
    )
    # A grant to a service principal is no grant to anybody calling directly.
    service = cast.admin.create_grant(
        KeyId=key["KeyId"],
        GranteeServicePrincipal="sqs.amazonaws.com",
        RetiringPrincipal=ADMIN_ARN,
        Operations=["Encrypt", "Decrypt"],
        Constraints={"SourceArn": SOURCE_ARN},
    )
    for actor in (grantee, cast.stranger):
        refused(
            "confused deputy: a service principal's grant used directly",
            partial(actor.kms.encrypt, KeyId=arn, Plaintext=b"x", GrantTokens=[service["GrantToken"]]),
            DENIED,
        )


def test_a_source_arn_grant_does_not_let_a_direct_caller_create_grants(cast: Cast) -> None:
    key = admin_key(cast)
    grantee = cast.grantee
    grant = cast.admin.create_grant(
        KeyId=key["KeyId"],
        GranteePrincipal=grantee.arn,
        Operations=["Encrypt", "CreateGrant"],
        Constraints={"SourceArn": SOURCE_ARN},
    )
    before = grant_count(cast, key["KeyId"])
    # The child keeps the SourceArn, but the caller is no AWS service acting for that resource: refused in AWS.
    refused(
        "confused deputy: CreateGrant keeping SourceArn",
        lambda: grantee.kms.create_grant(
            KeyId=key["Arn"],
            GranteeServicePrincipal="sqs.amazonaws.com",
            RetiringPrincipal=grantee.arn,
            Operations=["Encrypt"],
            Constraints={"SourceArn": SOURCE_ARN},
            GrantTokens=[grant["GrantToken"]],
        ),
        DENIED,
    )
    assert grant_count(cast, key["KeyId"]) == before


# --- 6. timing side channels --------------------------------------------------------------------------------------
def _comparisons_in(function: Callable[..., Any]) -> tuple[list[str], list[str]]:
    """(calls of hmac.compare_digest, == / != comparisons) in a function's source."""
    tree = ast.parse(textwrap.dedent(inspect.getsource(function)))
    digests, equalities = [], []
    for node in ast.walk(tree):
        if isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute) and node.func.attr == "compare_digest":
            digests.append(ast.unparse(node))
        if isinstance(node, ast.Compare) and any(isinstance(op, ast.Eq | ast.NotEq) for op in node.ops):
            equalities.append(ast.unparse(node))
    return digests, equalities


def test_secret_comparisons_are_constant_time() -> None:
    """Tags, signatures, session tokens and MACs are compared with hmac.compare_digest, never with ==."""
    secret_names = ("tag", "expected", "provided", "signature", "digest", "mac", "token_hash", "session_token_hash")
    for function in (
        trent.crypto.tokens.GrantTokens._verify,  # verify() remembers what this checked, by the whole token
        trent.edge.sigv4.SigV4Verifier.verify,
        trent.api.identity.Credential.check_session_token,
    ):
        digests, equalities = _comparisons_in(function)
        assert digests, f"{function.__qualname__} does not use hmac.compare_digest"
        for comparison in equalities:
            assert not any(name in comparison.split() or f"({name}" in comparison for name in secret_names), (
                f"{function.__qualname__} compares a secret with ==: {comparison}"
            )
    assert "hmac.compare_digest" in inspect.getsource(trent.crypto.tokens)
    assert "hmac.compare_digest" in inspect.getsource(trent.edge.sigv4)
    assert "hmac.compare_digest" in inspect.getsource(trent.crypto.mac)


def _median_ratio(first: Callable[[], None], second: Callable[[], None], batches: int, size: int) -> float:
    """The ratio of the median batch times of two calls, interleaved to share the machine's noise."""
    times: dict[int, list[float]] = {0: [], 1: []}
    for _ in range(batches):
        for index, call in enumerate((first, second)):
            started = time.perf_counter()
            for _ in range(size):
                call()
            times[index].append(time.perf_counter() - started)
    return statistics.median(times[0]) / statistics.median(times[1])


@pytest.mark.serial  # measures time: run alone (make test runs these after the others)
def test_no_timing_difference_between_early_and_late_mismatches(
    cast: Cast, tokens: TokenWorld, request: pytest.FixtureRequest
) -> None:
    """A rough statistical check, deliberately generous so that it cannot be flaky.

    In process: verifying a token (or a signature) that differs in its first byte must not be measurably faster
    than one that differs in its last; the ratio of medians must stay within a factor of 2 (a byte-by-byte
    comparison would not show at this scale either, which is why the source check above is the real guard).
    Over HTTP the medians are only reported: the network's noise dwarfs any comparison.
    """
    minter = GrantTokens(os.urandom(32))
    raw = decode_token(minter.mint(os.urandom(32).hex(), str(uuid.uuid4())))
    early, late = bytearray(raw), bytearray(raw)
    early[65] ^= 0x01  # first tag byte
    late[-1] ^= 0x01  # last tag byte
    early_token, late_token = encode_token(bytes(early)), encode_token(bytes(late))

    def verifier(token: str) -> Callable[[], None]:
        def call() -> None:
            try:
                minter.verify(token)
            except InvalidToken:
                return
            raise AssertionError("an altered token verified")

        return call

    token_ratio = _median_ratio(verifier(early_token), verifier(late_token), batches=15, size=400)
    assert 0.5 < token_ratio < 2.0, f"token verification: early/late mismatch time ratio {token_ratio:.2f}"

    # SigV4: a real botocore signature, altered in its first or its last hex digit.
    body = b"{}"
    access_key, secret_key = "AKIATIMINGTIMING0000", "s" * 40
    fields = sign(1, body, kms_headers("ListKeys"), access_key=access_key, secret_key=secret_key)
    headers = {name.lower(): value for name, value in fields.items()} | {"host": "127.0.0.1:1"}
    verifier_v4 = SigV4Verifier()
    auth = parse_authorization(headers)
    verifier_v4.verify(
        auth, secret_access_key=secret_key, method="POST", path="/", query_string="", headers=headers, body=body
    )

    def altered_signature(index: int) -> Callable[[], None]:
        signature = auth.signature
        digit = "0" if signature[index] != "0" else "1"
        changed = signature[:index] + digit + signature[index + 1 :] if index >= 0 else signature[:-1] + digit
        forged = parse_authorization(headers | {"authorization": headers["authorization"].replace(signature, changed)})

        def call() -> None:
            try:
                verifier_v4.verify(
                    forged,
                    secret_access_key=secret_key,
                    method="POST",
                    path="/",
                    query_string="",
                    headers=headers,
                    body=body,
                )
            except InvalidSignatureException:
                return
            raise AssertionError("an altered signature verified")

        return call

    signature_ratio = _median_ratio(altered_signature(0), altered_signature(-1), batches=15, size=200)
    assert 0.5 < signature_ratio < 2.0, f"SigV4 verification: early/late mismatch time ratio {signature_ratio:.2f}"

    # Over HTTP: reported, not asserted.
    real = decode_token(tokens.grant["GrantToken"])
    live: dict[str, list[float]] = {"early": [], "late": []}
    for _ in range(40):
        for label, position in (("early", 65), ("late", len(real) - 1)):
            altered = bytearray(real)
            altered[position] ^= 0x01
            started = time.perf_counter()
            refused("timing probe (altered tag)", use_token(cast, tokens, encode_token(bytes(altered))), BAD_TOKEN)
            live[label].append(time.perf_counter() - started)
    early_ms, late_ms = (statistics.median(live[label]) * 1000 for label in ("early", "late"))
    report_line(
        request.config,
        f"TIMING: in-process early/late ratio tokens {token_ratio:.3f}, SigV4 {signature_ratio:.3f}; "
        f"over HTTP median early {early_ms:.2f} ms, late {late_ms:.2f} ms",
    )


# --- 7. secrets at rest and in the side channels ------------------------------------------------------------------
def _spellings(secret: bytes) -> list[bytes]:
    """The forms a secret could leak in: raw, base64 (both alphabets), hex."""
    forms = [secret, base64.b64encode(secret), base64.urlsafe_b64encode(secret).rstrip(b"="), secret.hex().encode()]
    forms.append(base64.b64encode(secret).rstrip(b"="))
    return [form for form in forms if len(form) >= 16]


def _store_contents(server: TrentServer) -> bytes:
    """Everything the store holds: the SQLite files byte for byte, or every row of every PostgreSQL table."""
    if server.store_url is None:
        parts = [path.read_bytes() for path in server.data_dir.iterdir() if path.name.startswith("trent.db")]
        assert parts
        return b"\n".join(parts)
    from trent.storage import tables

    engine = sa.create_engine(server.database_url, poolclass=NullPool)
    chunks: list[bytes] = []
    try:
        with engine.connect() as conn:
            for table in tables.metadata.sorted_tables:
                for row in conn.execute(sa.select(table)):
                    for value in row:
                        if isinstance(value, bytes | bytearray | memoryview):
                            chunks.append(bytes(value))
                        elif value is not None:
                            chunks.append(str(value).encode())
    finally:
        engine.dispose()
    return b"\n".join(chunks)


def _audit(server: TrentServer) -> bytes:
    return server.audit_output().encode()


def _metrics(server: TrentServer) -> bytes:
    with urllib.request.urlopen(server.endpoint + "/metrics", timeout=10) as response:
        data: bytes = response.read()
        return data


def _find_leaks(secrets: Mapping[str, bytes], places: Mapping[str, bytes]) -> list[str]:
    leaks = []
    for secret_name, secret in secrets.items():
        for form in _spellings(secret):
            for place_name, content in places.items():
                if form in content:
                    leaks.append(f"{secret_name} ({form[:12]!r}...) in {place_name}")
    return leaks


def test_key_material_and_secrets_never_leak(cast: Cast, server: TrentServer) -> None:
    admin = cast.admin
    marker = uuid.uuid4().hex.encode()
    plaintext = b"plaintext-" + marker
    symmetric = admin_key(cast)
    hmac_key = admin_key(cast, KeySpec="HMAC_256", KeyUsage="GENERATE_VERIFY_MAC")
    rsa = admin_key(cast, KeySpec="RSA_2048", KeyUsage="ENCRYPT_DECRYPT")
    ecc = admin_key(cast, KeySpec="ECC_NIST_P256", KeyUsage="SIGN_VERIFY")
    admin.rotate_key_on_demand(KeyId=symmetric["KeyId"])
    context = {"purpose": "leak-test"}
    blob = admin.encrypt(KeyId=symmetric["KeyId"], Plaintext=plaintext, EncryptionContext=context)["CiphertextBlob"]
    assert admin.decrypt(CiphertextBlob=blob, EncryptionContext=context)["Plaintext"] == plaintext
    data_key = admin.generate_data_key(KeyId=symmetric["KeyId"], KeySpec="AES_256", EncryptionContext=context)
    assert (
        admin.decrypt(CiphertextBlob=data_key["CiphertextBlob"], EncryptionContext=context)["Plaintext"]
        == (data_key["Plaintext"])
    )
    pair = admin.generate_data_key_pair(KeyId=symmetric["KeyId"], KeyPairSpec="ECC_NIST_P256")
    rsa_plaintext = b"rsa-" + marker
    rsa_blob = admin.encrypt(KeyId=rsa["KeyId"], Plaintext=rsa_plaintext, EncryptionAlgorithm="RSAES_OAEP_SHA_256")[
        "CiphertextBlob"
    ]
    admin.decrypt(CiphertextBlob=rsa_blob, KeyId=rsa["KeyId"], EncryptionAlgorithm="RSAES_OAEP_SHA_256")
    mac_message = b"mac-message-" + marker
    admin.generate_mac(KeyId=hmac_key["KeyId"], Message=mac_message, MacAlgorithm="HMAC_SHA_256")
    sign_message = b"sign-message-" + marker
    admin.sign(KeyId=ecc["KeyId"], Message=sign_message, SigningAlgorithm="ECDSA_SHA_256")
    random = admin.generate_random(NumberOfBytes=32)["Plaintext"]
    grant = admin.create_grant(
        KeyId=symmetric["KeyId"], GranteePrincipal=cast.grantee.arn, Operations=["Decrypt", "Encrypt", "RetireGrant"]
    )
    cast.grantee.kms.decrypt(CiphertextBlob=blob, EncryptionContext=context, GrantTokens=[grant["GrantToken"]])
    # Error paths that carry secrets in their requests.
    messages: list[str] = []
    oversized = plaintext * (4097 // len(plaintext) + 1)
    messages.append(
        probe(lambda: admin.encrypt(KeyId=symmetric["KeyId"], Plaintext=oversized), {"ValidationException"})
    )
    messages.append(
        probe(lambda: admin.decrypt(CiphertextBlob=blob, EncryptionContext={"x": "y"}), {"InvalidCiphertextException"})
    )
    messages.append(
        probe(lambda: admin.encrypt(KeyId=hmac_key["KeyId"], Plaintext=plaintext), {"InvalidKeyUsageException"})
    )
    messages.append(
        probe(
            lambda: admin.verify_mac(
                KeyId=hmac_key["KeyId"], Message=mac_message, Mac=random, MacAlgorithm="HMAC_SHA_256"
            ),
            {"KMSInvalidMacException"},
        )
    )
    messages.append(
        probe(
            lambda: cast.stranger.kms.encrypt(
                KeyId=symmetric["Arn"], Plaintext=plaintext, GrantTokens=[grant["GrantToken"]]
            ),
            DENIED,
        )
    )
    messages.append(
        probe(
            lambda: admin.decrypt(CiphertextBlob=blob[:-1] + bytes([blob[-1] ^ 1]), EncryptionContext=context),
            {"InvalidCiphertextException"},
        )
    )
    cast.grantee.kms.retire_grant(GrantToken=grant["GrantToken"])
    _, admin_secret = server.admin_credentials()
    secrets: dict[str, bytes] = {
        "plaintext": plaintext,
        "RSA plaintext": rsa_plaintext,
        "data key": data_key["Plaintext"],
        "data key pair private key": pair["PrivateKeyPlaintext"],
        "random bytes": random,
        "grant token": grant["GrantToken"].encode(),
        "admin secret access key": admin_secret.encode(),
        "user secret access key": cast.grantee.secret_key.encode(),
        "other account's secret access key": cast.other_root.secret_key.encode(),
    }
    materials = _raw_materials(server.data_dir, server.store_url)
    assert len(materials) >= 5
    for index, material in enumerate(materials):
        secrets[f"key material #{index}"] = material
        if len(material) > 48:  # a slice too, in case a material leaks inside another encoding of its container
            secrets[f"key material #{index} (slice)"] = material[len(material) // 2 : len(material) // 2 + 24]
    places = {
        "the store": _store_contents(server),
        "the server log": server.log().encode(),
        "the audit trail": _audit(server),
        "/metrics": _metrics(server),
        "error messages": "\n".join(messages).encode(),
    }
    assert all(places.values())
    leaks = _find_leaks(secrets, places)
    assert not leaks, "secrets leaked: " + "; ".join(leaks)


def test_grant_tokens_stay_out_of_validation_messages_and_the_audit_trail(cast: Cast, server: TrentServer) -> None:
    key = admin_key(cast)
    grant = cast.admin.create_grant(KeyId=key["KeyId"], GranteePrincipal=cast.grantee.arn, Operations=["Encrypt"])
    token = grant["GrantToken"]
    message = probe(
        lambda: cast.grantee.kms.encrypt(KeyId=key["Arn"], Plaintext=b"x", GrantTokens=[token] * 11),
        {"ValidationException"},
    )
    leaks = _find_leaks(
        {"grant token": token.encode()}, {"the error message": message.encode(), "the audit trail": _audit(server)}
    )
    assert not leaks, "; ".join(leaks)
