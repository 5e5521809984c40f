"""Tests of SigV4 verification: botocore as the reference signer, plus the published AWS vectors."""

from __future__ import annotations

import dataclasses
import datetime as dt
import hashlib
import json
import re
import string
import time
from collections.abc import Callable, Mapping
from unittest import mock
from urllib.parse import quote, urlsplit

import botocore.auth
import botocore.loaders
import pytest
from botocore.awsrequest import AWSRequest
from botocore.credentials import Credentials
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

from trent.domain.errors import (
    IncompleteSignatureException,
    InvalidSignatureException,
    MissingAuthenticationTokenException,
)
from trent.domain.regions import AWS_COMMERCIAL_REGIONS
from trent.edge import sigv4
from trent.edge.auth import Authenticator
from trent.edge.sigv4 import SigV4Auth, SigV4Verifier, parse_authorization

AKID = "AKIAIOSFODNN7EXAMPLE"
SECRET = "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY"
TOKEN = "FQoGZXIvYXdzEXAMPLE//////////wEaDExampleSessionToken+/="
KMS_HOST = "kms.us-east-1.amazonaws.com"
MISMATCH = "The request signature we calculated does not match the signature you provided."


@dataclasses.dataclass
class Signed:
    """A request as the server would receive it after botocore signed and prepared it."""

    method: str
    path: str
    query_string: str
    headers: dict[str, str]
    body: bytes
    secret: str
    region: str
    service: str

    def verify_kwargs(self, **overrides: object) -> dict[str, object]:
        kwargs: dict[str, object] = {
            "secret_access_key": self.secret,
            "method": self.method,
            "path": self.path,
            "query_string": self.query_string,
            "headers": self.headers,
            "body": self.body,
        }
        kwargs.update(overrides)
        return kwargs


def botocore_sign(
    *,
    method: str = "POST",
    url: str = f"https://{KMS_HOST}/",
    body: bytes = b"",
    headers: Mapping[str, str] | None = None,
    params: list[tuple[str, str]] | None = None,
    service: str = "kms",
    region: str = "us-east-1",
    token: str | None = None,
    secret: str = SECRET,
) -> Signed:
    """Sign with botocore's own SigV4 signer and return what goes on the wire."""
    request = AWSRequest(method=method, url=url, data=body, headers=dict(headers or {}), params=params or [])
    botocore.auth.SigV4Auth(Credentials(AKID, secret, token), service, region).add_auth(request)
    prepared = request.prepare()
    target = urlsplit(prepared.url)
    wire_headers = {name.lower(): value for name, value in prepared.headers.items()}
    # The HTTP client adds Host from the URL when botocore did not set one.
    wire_headers.setdefault("host", target.netloc)
    wire_body = prepared.body or b""
    assert isinstance(wire_body, bytes)
    return Signed(method, target.path, target.query, wire_headers, wire_body, secret, region, service)


def kms_request(token: str | None = None, service: str = "kms") -> Signed:
    body = json.dumps({"KeyId": "alias/app", "Plaintext": "aGVsbG8="}).encode()
    return botocore_sign(
        body=body,
        headers={"Content-Type": "application/x-amz-json-1.1", "X-Amz-Target": "TrentService.Encrypt"},
        service=service,
        token=token,
    )


def verify(signed: Signed, verifier: SigV4Verifier | None = None, **overrides: object) -> SigV4Auth:
    verifier = verifier or SigV4Verifier()
    auth = parse_authorization(signed.headers)
    verifier.check_time(auth)
    verifier.verify(auth, **signed.verify_kwargs(**overrides))
    return auth


def auth_headers(
    *,
    authorization: str | None = None,
    amz_date: str | None = "20261128T101500Z",
    credential: str = f"{AKID}/20261128/us-east-1/kms/aws4_request",
    signed_headers: str = "host;x-amz-date",
    signature: str = "0" * 64,
) -> dict[str, str]:
    headers = {"host": KMS_HOST}
    if authorization is None:
        authorization = (
            f"AWS4-HMAC-SHA256 Credential={credential}, SignedHeaders={signed_headers}, Signature={signature}"
        )
    headers["authorization"] = authorization
    if amz_date is not None:
        headers["x-amz-date"] = amz_date
    return headers


def epoch(amz_date: str) -> float:
    return dt.datetime.strptime(amz_date, "%Y%m%dT%H%M%SZ").replace(tzinfo=dt.UTC).timestamp()


# --- requests signed by botocore ---------------------------------------------------------------------
@pytest.mark.parametrize("service", ["kms", "sts"])
@pytest.mark.parametrize("token", [None, TOKEN])
def test_botocore_signed_request_verifies(service: str, token: str | None) -> None:
    signed = kms_request(token=token, service=service)
    auth = verify(signed)
    assert auth.access_key_id == AKID
    assert (auth.region, auth.service) == ("us-east-1", service)
    assert auth.security_token == token
    assert ("x-amz-security-token" in auth.signed_headers) == (token is not None)
    assert auth.amz_date == signed.headers["x-amz-date"]
    assert auth.scope_date == auth.amz_date[:8]
    assert abs(auth.request_time - time.time()) < 60
    assert "host" in auth.signed_headers and "x-amz-target" in auth.signed_headers


def test_parsed_fields_match_the_header() -> None:
    signed = kms_request(token=TOKEN)
    auth = parse_authorization(signed.headers)
    authorization = signed.headers["authorization"]
    assert authorization.endswith(f"Signature={auth.signature}")
    assert f"SignedHeaders={';'.join(auth.signed_headers)}," in authorization
    assert auth.request_time == epoch(auth.amz_date)


@pytest.mark.parametrize(
    "mutate",
    [
        pytest.param(lambda s: {"body": s.body + b" "}, id="body"),
        pytest.param(lambda s: {"method": "PUT"}, id="method"),
        pytest.param(lambda s: {"path": "/other"}, id="path"),
        pytest.param(lambda s: {"query_string": "a=b"}, id="query"),
        pytest.param(lambda s: {"secret_access_key": s.secret[:-1] + "Z"}, id="secret"),
        pytest.param(lambda s: {"headers": {**s.headers, "x-amz-target": "TrentService.Decrypt"}}, id="signed-header"),
        pytest.param(lambda s: {"headers": {**s.headers, "x-amz-security-token": TOKEN + "x"}}, id="session-token"),
    ],
)
def test_any_tampering_is_rejected(mutate: Callable[[Signed], dict[str, object]]) -> None:
    signed = kms_request(token=TOKEN)
    with pytest.raises(InvalidSignatureException, match=MISMATCH):
        verify(signed, **mutate(signed))


def test_unsigned_headers_may_change() -> None:
    signed = kms_request()
    headers = {**signed.headers, "user-agent": "something else", "x-forwarded-for": "10.0.0.1"}
    verify(signed, headers=headers)


def test_signed_header_missing_from_request_is_rejected() -> None:
    signed = kms_request()
    headers = {k: v for k, v in signed.headers.items() if k != "x-amz-target"}
    with pytest.raises(InvalidSignatureException, match="x-amz-target"):
        verify(signed, headers=headers)


def test_header_whitespace_is_canonicalised() -> None:
    signed = botocore_sign(headers={"X-Custom": "  a   b\t c  "})
    verify(signed, headers={**signed.headers, "x-custom": "a b c"})


def test_method_case_does_not_matter() -> None:
    verify(kms_request(), method="post")


def test_query_string_order_and_plus_encoding() -> None:
    # botocore signs params as %20 but puts them on the wire with urlencode, i.e. spaces as '+'.
    signed = botocore_sign(method="GET", params=[("b", "two words"), ("a", "x+y"), ("a", "1")])
    assert "+" in signed.query_string
    verify(signed)
    # Order on the wire is irrelevant: the canonical query string is sorted.
    reordered = "&".join(reversed(signed.query_string.split("&")))
    verify(signed, query_string=reordered)


def test_dot_segments_and_double_slashes_are_normalised() -> None:
    signed = botocore_sign(url=f"https://{KMS_HOST}//a/./b/../c%20d/")
    assert signed.path == "//a/./b/../c%20d/"
    verify(signed)
    # The path is signed after normalisation, so its normal form verifies too.
    verify(signed, path="/a/c%20d/")
    with pytest.raises(InvalidSignatureException):
        verify(signed, path="/a/c d/")  # a different wire path: %20 is double-encoded, ' ' is not


# --- x-amz-content-sha256 ----------------------------------------------------------------------------
def test_matching_content_sha256_header_is_accepted() -> None:
    body = b'{"KeyId": "k"}'
    signed = botocore_sign(body=body, headers={"X-Amz-Content-SHA256": hashlib.sha256(body).hexdigest()})
    auth = verify(signed)
    assert "x-amz-content-sha256" in auth.signed_headers


@pytest.mark.parametrize("claimed", ["UNSIGNED-PAYLOAD", hashlib.sha256(b"other").hexdigest()])
def test_content_sha256_header_must_match_the_body(claimed: str) -> None:
    # botocore signs whatever the header says, so the signature itself is valid here.
    signed = botocore_sign(body=b'{"KeyId": "k"}', headers={"X-Amz-Content-SHA256": claimed})
    with pytest.raises(InvalidSignatureException, match="x-amz-content-sha256"):
        verify(signed)


# --- the scope's region ------------------------------------------------------------------------------
def test_every_commercial_region_is_served_by_default() -> None:
    verifier = SigV4Verifier()
    for region in AWS_COMMERCIAL_REGIONS:
        auth = verify(botocore_sign(region=region), verifier)
        verifier.check_region(auth)
        assert auth.region == region


@pytest.mark.parametrize(
    "region",
    [
        "xx-fake-1",
        "eu-east-2",  # looks right, does not exist
        "US-EAST-1",
        "us-east-1a",  # an availability zone
        "aws-global",
        "us-gov-west-1",  # other partitions: other ARNs, not served by default
        "cn-north-1",
        "me-west-1",  # announced, not open
        "us-east-1 ",
    ],
)
def test_a_region_outside_the_set_is_refused_as_aws_refuses_it(region: str) -> None:
    signed = botocore_sign(region=region)
    auth = parse_authorization(signed.headers)
    assert auth.region == region
    verifier = SigV4Verifier()
    with pytest.raises(InvalidSignatureException) as caught:
        verifier.check_region(auth)
    assert caught.value.message == f"Credential should be scoped to a valid region, not '{region}'. "
    # The signature itself is good: the region alone is refused.
    verifier.verify(auth, **signed.verify_kwargs())


def test_the_set_of_regions_is_configurable() -> None:
    verifier = SigV4Verifier(regions=["eu-west-1", "xx-lab-1"])
    verifier.check_region(parse_authorization(botocore_sign(region="xx-lab-1").headers))
    verifier.check_region(parse_authorization(botocore_sign(region="eu-west-1").headers))
    with pytest.raises(InvalidSignatureException, match="not 'us-east-1'"):
        verifier.check_region(parse_authorization(botocore_sign(region="us-east-1").headers))
    with pytest.raises(ValueError, match="regions must not be empty"):
        SigV4Verifier(regions=[])


def test_the_default_set_is_the_aws_partition() -> None:
    """Every default region is a commercial region botocore knows, with a KMS endpoint; none is listed twice."""
    assert len(set(AWS_COMMERCIAL_REGIONS)) == len(AWS_COMMERCIAL_REGIONS) >= 34
    endpoints = botocore.loaders.create_loader().load_data("endpoints")
    aws = next(partition for partition in endpoints["partitions"] if partition["partition"] == "aws")
    assert set(AWS_COMMERCIAL_REGIONS) <= set(aws["regions"])
    assert set(AWS_COMMERCIAL_REGIONS) <= set(aws["services"]["kms"]["endpoints"])


@pytest.mark.parametrize("dev_mode", [False, True])
def test_the_authenticator_refuses_the_region_before_anything_else(dev_mode: bool) -> None:
    """In --dev mode too, and before any access key is looked up (or, in --dev mode, any account created)."""
    store = mock.Mock()
    authenticator = Authenticator(store, dev_mode=dev_mode, default_account="000000000000", regions=["eu-west-1"])
    signed = kms_request()
    with pytest.raises(InvalidSignatureException, match="Credential should be scoped to a valid region"):
        authenticator.authenticate(signed.method, signed.path, signed.query_string, signed.headers, signed.body)
    assert store.mock_calls == []


# --- time --------------------------------------------------------------------------------------------
@pytest.fixture
def signed_at(monkeypatch: pytest.MonkeyPatch) -> Callable[[str], Signed]:
    """Sign with botocore as if its clock said `amz_date`."""

    def sign(amz_date: str) -> Signed:
        moment = dt.datetime.strptime(amz_date, "%Y%m%dT%H%M%SZ")
        monkeypatch.setattr(botocore.auth, "get_current_datetime", lambda *a, **k: moment)
        return kms_request()

    return sign


def test_expired_signature(signed_at: Callable[[str], Signed]) -> None:
    signed = signed_at("20261128T100000Z")
    verifier = SigV4Verifier(clock=lambda: epoch("20261128T101124Z"))
    auth = parse_authorization(signed.headers)
    with pytest.raises(InvalidSignatureException) as caught:
        verifier.check_time(auth)
    assert caught.value.message == (
        "Signature expired: 20261128T100000Z is now earlier than 20261128T100624Z (20261128T101124Z - 5 min.)"
    )
    # The signature itself is still correct: only the clock rejects it.
    verifier.verify(auth, **signed.verify_kwargs())


def test_signature_from_the_future(signed_at: Callable[[str], Signed]) -> None:
    signed = signed_at("20261128T103000Z")
    verifier = SigV4Verifier(clock=lambda: epoch("20261128T101124Z"))
    with pytest.raises(InvalidSignatureException) as caught:
        verifier.check_time(parse_authorization(signed.headers))
    assert caught.value.message == (
        "Signature not yet current: 20261128T103000Z is still later than 20261128T101624Z (20261128T101124Z + 5 min.)"
    )


@pytest.mark.parametrize("offset", [-300, -1, 0, 1, 300])
def test_skew_within_bounds_is_accepted(offset: int) -> None:
    auth = parse_authorization(auth_headers(amz_date="20261128T101500Z"))
    SigV4Verifier(clock=lambda: auth.request_time + offset).check_time(auth)


@pytest.mark.parametrize("offset", [-301, 301])
def test_skew_just_outside_bounds_is_rejected(offset: int) -> None:
    auth = parse_authorization(auth_headers(amz_date="20261128T101500Z"))
    with pytest.raises(InvalidSignatureException, match=r"^Signature (expired|not yet current): "):
        SigV4Verifier(clock=lambda: auth.request_time + offset).check_time(auth)


def test_custom_skew_is_reported() -> None:
    auth = parse_authorization(auth_headers(amz_date="20261128T101500Z"))
    verifier = SigV4Verifier(clock=lambda: auth.request_time + 120, max_skew_seconds=60)
    with pytest.raises(InvalidSignatureException, match=r"\(20261128T101700Z - 1 min\.\)$"):
        verifier.check_time(auth)


# --- signing-key cache -------------------------------------------------------------------------------
def test_cache_is_keyed_by_secret_and_scope() -> None:
    verifier = SigV4Verifier(cache_size=1)
    first = botocore_sign(body=b"1", secret=SECRET)
    second = botocore_sign(body=b"2", secret="another/secret+key")
    other_region = botocore_sign(body=b"3", region="eu-west-1")
    for _ in range(2):  # cache_size=1: every call evicts the previous signing key
        verify(first, verifier)
        verify(second, verifier)
        verify(other_region, verifier)
    # A cached signing key for the right secret must not make a wrong secret pass.
    verify(first, verifier)
    with pytest.raises(InvalidSignatureException):
        verify(first, verifier, secret_access_key=second.secret)
    with pytest.raises(InvalidSignatureException):
        verify(second, verifier, secret_access_key=first.secret)


def test_cache_stays_bounded() -> None:
    verifier = SigV4Verifier(cache_size=3)
    signed = kms_request()
    auth = parse_authorization(signed.headers)
    for i in range(10):
        with pytest.raises(InvalidSignatureException):
            verifier.verify(auth, **signed.verify_kwargs(secret_access_key=f"s{i}"))
    assert len(verifier._signing_keys) == 3
    assert "wJalr" not in repr(verifier) and "s9" not in repr(verifier)


def test_signing_key_matches_the_aws_documentation() -> None:
    # "Signing AWS API requests" example: IAM, 20150830, us-east-1.
    key = sigv4._derive_signing_key("wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY", "20150830", "us-east-1", "iam")
    assert key.hex() == "c4afb1cc5771d871763a393e44b703571b55cc28424d1a5e86da6ed3c154a4b9"


# --- property tests against botocore -----------------------------------------------------------------
_TOKEN_CHARS = string.ascii_lowercase + string.digits + "-"  # lowercase: no two names differ by case only
_VALUE_CHARS = string.ascii_letters + string.digits + string.punctuation + " \t"
_SEGMENT_CHARS = string.ascii_letters + string.digits + "-._~!$&'()*+,;=:@% " + "ሴéß"

header_names = st.text(_TOKEN_CHARS, min_size=1, max_size=12).map(lambda s: "X-Test-" + s)
header_values = st.text(_VALUE_CHARS, max_size=40)
segments = st.one_of(st.sampled_from(["", ".", ".."]), st.text(_SEGMENT_CHARS, min_size=1, max_size=12))
query_text = st.text(st.characters(codec="utf-8"), max_size=12)  # anything: botocore percent-encodes it


@st.composite
def signed_requests(draw: st.DrawFn) -> Signed:
    path = "/" + "/".join(draw(st.lists(segments, max_size=5)))
    # What a client puts on the wire: the path percent-encoded once (sub-delims may stay literal).
    wire_path = quote(path, safe="/!$&'()*+,;=:@~")
    params = draw(st.lists(st.tuples(query_text, query_text), max_size=4))
    url = f"https://{KMS_HOST}{wire_path}"
    if params and draw(st.booleans()):
        # Query already in the URL, in canonical encoding (botocore then signs it as is) ...
        pairs = [f"{quote(k, safe='-_.~')}={quote(v, safe='-_.~')}" for k, v in params]
        url, params = url + "?" + "&".join(pairs), []
    # ... or as params, which botocore signs percent-encoded but sends form-encoded.
    headers = draw(st.dictionaries(header_names, header_values, max_size=4))
    return botocore_sign(
        method=draw(st.sampled_from(["POST", "GET", "PUT", "DELETE"])),
        url=url,
        body=draw(st.binary(max_size=512)),
        headers=headers,
        params=params,
        service=draw(st.sampled_from(["kms", "sts"])),
        region=draw(st.sampled_from(["us-east-1", "eu-west-3"])),
        token=draw(st.none() | st.just(TOKEN)),
    )


PROPERTY = settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])


@PROPERTY
@given(signed=signed_requests())
def test_botocore_signed_requests_verify(signed: Signed) -> None:
    verify(signed)


@PROPERTY
@given(signed=signed_requests(), data=st.data())
def test_altered_body_byte_is_rejected(signed: Signed, data: st.DataObject) -> None:
    altered = bytearray(signed.body or b"\0")  # an empty body gains a byte instead
    index = data.draw(st.integers(0, len(altered) - 1))
    altered[index] ^= data.draw(st.integers(1, 255))
    with pytest.raises(InvalidSignatureException, match=MISMATCH):
        verify(signed, body=bytes(altered))


@PROPERTY
@given(signed=signed_requests(), data=st.data())
def test_altered_signed_header_is_rejected(signed: Signed, data: st.DataObject) -> None:
    auth = parse_authorization(signed.headers)
    name = data.draw(st.sampled_from(sorted(set(auth.signed_headers) - {"x-amz-date"})))
    extra = data.draw(st.text(string.ascii_letters + string.digits, min_size=1, max_size=3))
    headers = {**signed.headers, name: signed.headers[name] + extra}
    with pytest.raises(InvalidSignatureException, match=MISMATCH):
        SigV4Verifier().verify(auth, **signed.verify_kwargs(headers=headers))


@PROPERTY
@given(signed=signed_requests(), secret=st.text(min_size=1, max_size=40))
def test_wrong_secret_is_rejected(signed: Signed, secret: str) -> None:
    assume(secret != signed.secret)
    with pytest.raises(InvalidSignatureException, match=MISMATCH):
        verify(signed, secret_access_key=secret)


@PROPERTY
@given(signed=signed_requests(), data=st.data())
def test_altered_signature_character_is_rejected(signed: Signed, data: st.DataObject) -> None:
    auth = parse_authorization(signed.headers)
    index = data.draw(st.integers(0, len(auth.signature) - 1))
    other = data.draw(st.sampled_from([c for c in "0123456789abcdef" if c != auth.signature[index]]))
    forged = auth._replace(signature=auth.signature[:index] + other + auth.signature[index + 1 :])
    with pytest.raises(InvalidSignatureException, match=MISMATCH):
        SigV4Verifier().verify(forged, **signed.verify_kwargs())


@PROPERTY
@given(signed=signed_requests(), field=st.sampled_from(["region", "service"]), value=st.text(min_size=1))
def test_other_scope_is_rejected(signed: Signed, field: str, value: str) -> None:
    auth = parse_authorization(signed.headers)
    assume(getattr(auth, field) != value)
    with pytest.raises(InvalidSignatureException, match=MISMATCH):
        SigV4Verifier().verify(auth._replace(**{field: value}), **signed.verify_kwargs())


# --- parse_authorization: malformed requests ---------------------------------------------------------
@pytest.mark.parametrize("value", [None, "", "   "])
def test_missing_authorization(value: str | None) -> None:
    headers = {"host": KMS_HOST, "x-amz-date": "20261128T101500Z"}
    if value is not None:
        headers["authorization"] = value
    with pytest.raises(MissingAuthenticationTokenException) as caught:
        parse_authorization(headers)
    assert caught.value.message == "Missing Authentication Token"


def test_missing_signature_and_date_are_reported_together() -> None:
    authorization = f"AWS4-HMAC-SHA256 Credential={AKID}/20261128/us-east-1/kms/aws4_request, SignedHeaders=host"
    with pytest.raises(IncompleteSignatureException) as caught:
        parse_authorization(auth_headers(authorization=authorization, amz_date=None))
    assert caught.value.message == (
        "Authorization header requires 'Signature' parameter. Authorization header requires existence of "
        f"either a 'X-Amz-Date' or a 'Date' header. Authorization={authorization}"
    )


@pytest.mark.parametrize(
    ("authorization", "expected"),
    [
        ("AWS4-HMAC-SHA256 SignedHeaders=host, Signature=ab", "requires 'Credential' parameter"),
        (
            f"AWS4-HMAC-SHA256 Credential={AKID}/20261128/us-east-1/kms/aws4_request, Signature=ab",
            "requires 'SignedHeaders' parameter",
        ),
        (
            f"AWS4-HMAC-SHA256 Credential={AKID}/20261128/us-east-1/kms/aws4_request, SignedHeaders=host, Signature=",
            "requires 'Signature' parameter",
        ),
        ("AWS4-HMAC-SHA256", "requires 'Credential' parameter"),
        ("AWS4-HMAC-SHA1 Credential=x", "Unsupported AWS 'algorithm': 'AWS4-HMAC-SHA1'"),
        ("AWS AKIDEXAMPLE:c2lnbmF0dXJl", "Unsupported AWS 'algorithm': 'AWS'"),
        ("Bearer abc", "Unsupported AWS 'algorithm': 'Bearer'"),
        ("AWS4-HMAC-SHA256 Credential", "'Credential' not a valid key=value pair (missing equal-sign)"),
    ],
)
def test_malformed_authorization(authorization: str, expected: str) -> None:
    with pytest.raises(IncompleteSignatureException, match=re.escape(expected)):
        parse_authorization(auth_headers(authorization=authorization))


@pytest.mark.parametrize(
    ("credential", "expected"),
    [
        (AKID, "Credential should be of the form"),
        (f"{AKID}/20261128/us-east-1/kms", "Credential should be of the form"),
        (f"{AKID}/20261128/us-east-1/kms/aws4_request/extra", "Credential should be of the form"),
        (f"{AKID}/20261128//kms/aws4_request", "Credential should be of the form"),
        ("/20261128/us-east-1/kms/aws4_request", "Credential should be of the form"),
        (
            f"{AKID}/20261128/us-east-1/kms/aws5_request",
            "valid terminator: 'aws4_request', not 'aws5_request'",
        ),
        (f"{AKID}/2026-11-28/us-east-1/kms/aws4_request", "YYYYMMDD"),
        (f"{AKID}/2026112/us-east-1/kms/aws4_request", "YYYYMMDD"),
    ],
)
def test_malformed_credential_scope(credential: str, expected: str) -> None:
    with pytest.raises(IncompleteSignatureException, match=expected):
        parse_authorization(auth_headers(credential=credential))


@pytest.mark.parametrize(
    "amz_date", ["2026-11-28T10:15:00Z", "20261128T101500", "20261340T101500Z", "20261128T1015\uff10\uff10Z"]
)
def test_malformed_amz_date(amz_date: str) -> None:
    with pytest.raises(IncompleteSignatureException, match="Date must be in ISO-8601 'basic format'"):
        parse_authorization(auth_headers(amz_date=amz_date, credential=f"{AKID}/20261128/us-east-1/kms/aws4_request"))


def test_scope_date_must_match_request_date() -> None:
    headers = auth_headers(amz_date="20261129T000500Z")
    with pytest.raises(InvalidSignatureException) as caught:
        parse_authorization(headers)
    assert caught.value.message == (
        "Date in Credential scope does not match YYYYMMDD from ISO-8601 version of date from HTTP: "
        "'20261128' != '20261129', from '20261129T000500Z'."
    )


def test_host_must_be_signed() -> None:
    with pytest.raises(InvalidSignatureException, match="'Host' or ':authority' must be a 'SignedHeader'"):
        parse_authorization(auth_headers(signed_headers="x-amz-date;x-amz-target"))


def test_date_header_is_accepted_and_converted() -> None:
    headers = auth_headers(amz_date=None, signed_headers="date;host")
    headers["date"] = "Sat, 28 Nov 2026 10:15:00 GMT"
    auth = parse_authorization(headers)
    assert auth.amz_date == "20261128T101500Z"
    assert auth.request_time == epoch("20261128T101500Z")


def test_x_amz_date_wins_over_date() -> None:
    headers = auth_headers(amz_date="20261128T101500Z")
    headers["date"] = "Sun, 29 Nov 2026 10:15:00 GMT"
    assert parse_authorization(headers).amz_date == "20261128T101500Z"


def test_signed_headers_are_lowercased() -> None:
    auth = parse_authorization(auth_headers(signed_headers="Host;X-Amz-Date"))
    assert auth.signed_headers == ("host", "x-amz-date")


def test_authorization_without_spaces_after_commas() -> None:
    scope = f"{AKID}/20261128/us-east-1/kms/aws4_request"
    authorization = f"AWS4-HMAC-SHA256 Credential={scope},SignedHeaders=host,Signature=ab"
    auth = parse_authorization(auth_headers(authorization=authorization))
    assert (auth.signed_headers, auth.signature) == (("host",), "ab")


OTHER_SCOPE = "AKIAOTHEROTHEROTHER0/20261128/us-east-1/kms/aws4_request"


@pytest.mark.parametrize(
    ("authorization", "name"),
    [
        pytest.param(
            f"AWS4-HMAC-SHA256 Credential={OTHER_SCOPE}, Credential={AKID}/20261128/us-east-1/kms/aws4_request, "
            f"SignedHeaders=host;x-amz-date, Signature={'0' * 64}",
            "Credential",
            id="credential-before",
        ),
        pytest.param(
            f"AWS4-HMAC-SHA256 Credential={AKID}/20261128/us-east-1/kms/aws4_request, "
            f"SignedHeaders=host;x-amz-date, Signature={'0' * 64}, Credential={OTHER_SCOPE}",
            "Credential",
            id="credential-after",
        ),
        pytest.param(
            f"AWS4-HMAC-SHA256 Credential={AKID}/20261128/us-east-1/kms/aws4_request, "
            f"Credential={AKID}/20261128/us-east-1/kms/aws4_request, SignedHeaders=host;x-amz-date, "
            f"Signature={'0' * 64}",
            "Credential",
            id="credential-same-value",
        ),
        pytest.param(
            f"AWS4-HMAC-SHA256 Credential={AKID}/20261128/us-east-1/kms/aws4_request, SignedHeaders=host, "
            f"SignedHeaders=host;x-amz-date, Signature={'0' * 64}",
            "SignedHeaders",
            id="signed-headers",
        ),
        pytest.param(
            f"AWS4-HMAC-SHA256 Credential={AKID}/20261128/us-east-1/kms/aws4_request, "
            f"SignedHeaders=host;x-amz-date, Signature={'0' * 64}, Signature={'1' * 64}",
            "Signature",
            id="signature",
        ),
        pytest.param(
            f"AWS4-HMAC-SHA256 Credential={AKID}/20261128/us-east-1/kms/aws4_request, "
            f"SignedHeaders=host;x-amz-date, Signature=, Signature={'1' * 64}",
            "Signature",
            id="empty-then-signature",
        ),
    ],
)
def test_a_component_given_twice_is_refused(authorization: str, name: str) -> None:
    """Not "last one wins" (nor first): a header that names a component twice is refused, whatever the values."""
    assert sigv4._WELL_FORMED.fullmatch(authorization) is None
    with pytest.raises(IncompleteSignatureException) as caught:
        parse_authorization(auth_headers(authorization=authorization))
    assert caught.value.message == (
        f"Authorization header has more than one '{name}' parameter. Authorization={authorization}"
    )


def test_two_authorization_headers_are_refused() -> None:
    """Repeated headers arrive joined with a comma: the second one's Credential must not be skipped as unknown."""
    signed = kms_request()
    first = signed.headers["authorization"]
    second = first.replace(f"Credential={AKID}/", "Credential=AKIAOTHEROTHEROTHER0/")
    for joined in (f"{first},{second}", f"{second},{first}"):
        assert sigv4._WELL_FORMED.fullmatch(joined) is None
        with pytest.raises(IncompleteSignatureException, match="not a valid key=value pair in Authorization header"):
            parse_authorization({**signed.headers, "authorization": joined})


def test_unknown_components_are_still_ignored() -> None:
    authorization = (
        f"AWS4-HMAC-SHA256 Credential={AKID}/20261128/us-east-1/kms/aws4_request, Extra=1, Extra=2, "
        f"SignedHeaders=host;x-amz-date, Signature={'0' * 64}"
    )
    auth = parse_authorization(auth_headers(authorization=authorization))
    assert (auth.access_key_id, auth.signature) == (AKID, "0" * 64)


@settings(max_examples=300, deadline=None)
@given(
    names=st.lists(st.sampled_from(["Credential", "SignedHeaders", "Signature"]), min_size=4, max_size=6),
    spaces=st.lists(st.sampled_from(["", " ", "  "]), min_size=6, max_size=6),
)
def test_the_fast_path_never_matches_a_repeated_component(names: list[str], spaces: list[str]) -> None:
    """Whatever the order and spacing, a header with a repeated component never takes the regex fast path."""
    values = {"Credential": f"{AKID}/20261128/us-east-1/kms/aws4_request", "SignedHeaders": "host;x-amz-date"}
    values["Signature"] = "0" * 64
    assume(len(set(names)) < len(names))
    authorization = "AWS4-HMAC-SHA256 " + ",".join(
        f"{space}{name}={values[name]}" for space, name in zip(spaces, names, strict=False)
    )
    assert sigv4._WELL_FORMED.fullmatch(authorization) is None
    with pytest.raises(IncompleteSignatureException, match="more than one"):
        parse_authorization(auth_headers(authorization=authorization))


def test_non_ascii_signature_is_a_mismatch_not_a_crash() -> None:
    signed = kms_request()
    auth = parse_authorization(signed.headers)._replace(signature="é" * 64)
    with pytest.raises(InvalidSignatureException, match=MISMATCH):
        SigV4Verifier().verify(auth, **signed.verify_kwargs())


# --- published AWS test vectors ----------------------------------------------------------------------
# From the AWS SigV4 test suite (aws-sig-v4-test-suite, 2015 edition): credentials AKIDEXAMPLE /
# wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY, us-east-1, service "service", 20150830T123600Z.
SUITE_SECRET = "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY"
SUITE_TOKEN = (
    "AQoDYXdzEPT//////////wEXAMPLEtc764bNrC9SAPBSM22wDOk4x4HIZ8j4FZTwdQWLWsKWHGBuFqwAeMicRXmxfpSPfIeoIYRqTflfKD8YU"
    "uwthAx7mSEI/qkPpKPi/kMcGdQrmGdeehM4IC1NtBmUpp2wUE8phUZampKsburEDy0KPkyQDYwT7WZ0wq5VSXDvp75YU9HFvlRd8Tx6q6fE8YQ"
    "cHNVXAkiY9q6d+xo0rKwT38xVqr7ZD0u0iPPkUL64lIZbqBAz+scqKmlzm8FDrypNC9Yjc8fPOLn9FX9KSYvKTr4rvx3iSIlTJabIQwj2ICC"
    "R/oLxBA=="
)
UNRESERVED = "-._~0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"


@dataclasses.dataclass(frozen=True)
class Vector:
    name: str
    method: str
    path: str
    query: str
    headers: dict[str, str]
    body: bytes
    signed_headers: str
    signature: str


def suite(
    name: str,
    method: str,
    path: str,
    signature: str,
    *,
    query: str = "",
    headers: dict[str, str] | None = None,
    body: bytes = b"",
    signed_headers: str = "host;x-amz-date",
) -> Vector:
    all_headers = {"host": "example.amazonaws.com", "x-amz-date": "20150830T123600Z", **(headers or {})}
    return Vector(name, method, path, query, all_headers, body, signed_headers, signature)


VECTORS = [
    suite("get-vanilla", "GET", "/", "5fa00fa31553b73ebf1942676e86291e8372ff2a2260956d9b8aae1d763fbf31"),
    suite(
        "get-vanilla-query-order-key-case",
        "GET",
        "/",
        "b97d918cfa904a5beff61c982a1b6f458b799221646efd99d3219ec94cdf2500",
        query="Param2=value2&Param1=value1",
    ),
    suite(
        "get-vanilla-query-unreserved",
        "GET",
        "/",
        "9c3e54bfcdf0b19771a7f523ee5669cdf59bc7cc0884027167c21bb143a40197",
        query=f"{UNRESERVED}={UNRESERVED}",
    ),
    suite(
        "get-vanilla-utf8-query",
        "GET",
        "/",
        "2cdec8eed098649ff3a119c94853b13c643bcf08f8b0a1d91e12c9027818dd04",
        query="ሴ=bar",
    ),
    suite(
        "get-vanilla-utf8-query (percent-encoded on the wire)",
        "GET",
        "/",
        "2cdec8eed098649ff3a119c94853b13c643bcf08f8b0a1d91e12c9027818dd04",
        query="%E1%88%B4=bar",
    ),
    suite(
        "get-unreserved",
        "GET",
        "/" + UNRESERVED,
        "07ef7494c76fa4850883e2b006601f940f8a34d404d0cfa977f52a65bbf5f24f",
    ),
    suite("get-utf8", "GET", "/ሴ", "8318018e0b0f223aa2bbf98705b62bb787dc9c0e678f255a891fd03141be5d85"),
    suite(
        "normalize-path/get-space",
        "GET",
        "/example space/",
        "652487583200325589f1fba4c7e578f72c47cb61beeca81406b39ddec1366741",
    ),
    suite(
        "normalize-path/get-slashes",
        "GET",
        "//example//",
        "9a624bd73a37c9a373b5312afbebe7a714a789de108f0bdfe846570885f57e84",
    ),
    suite(
        "normalize-path/get-slash-pointless-dot",
        "GET",
        "/./example",
        "ef75d96142cf21edca26f06005da7988e4f8dc83a165a80865db7089db637ec5",
    ),
    suite(
        "normalize-path/get-relative-relative",
        "GET",
        "/example1/example2/../..",
        "5fa00fa31553b73ebf1942676e86291e8372ff2a2260956d9b8aae1d763fbf31",
    ),
    suite(
        "get-header-key-duplicate",
        "GET",
        "/",
        "c9d5ea9f3f72853aea855b47ea873832890dbdd183b4468f858259531a5138ea",
        headers={"my-header1": "value2,value2,value1"},
        signed_headers="host;my-header1;x-amz-date",
    ),
    suite(
        "get-header-value-trim",
        "GET",
        "/",
        "acc3ed3afb60bb290fc8d2dd0098b9911fcaa05412b367055dee359757a9c736",
        headers={"my-header1": " value1", "my-header2": ' "a   b   c"'},
        signed_headers="host;my-header1;my-header2;x-amz-date",
    ),
    suite("post-vanilla", "POST", "/", "5da7c1a2acd57cee7505fc6676e4e544621c30862966e37dddb68e92efbe5d6b"),
    suite(
        "post-header-value-case",
        "POST",
        "/",
        "cdbc9802e29d2942e5e10b5bccfdd67c5f22c7c4e8ae67b53629efa58b974b7d",
        headers={"my-header1": "VALUE1"},
        signed_headers="host;my-header1;x-amz-date",
    ),
    suite(
        "post-x-www-form-urlencoded",
        "POST",
        "/",
        "ff11897932ad3f4e8b18135d722051e5ac45fc38421b1da7b9d196a0fe09473a",
        headers={"content-type": "application/x-www-form-urlencoded"},
        body=b"Param1=value1",
        signed_headers="content-type;host;x-amz-date",
    ),
    suite(
        "post-x-www-form-urlencoded-parameters",
        "POST",
        "/",
        "1a72ec8f64bd914b0e42e42607c7fbce7fb2c7465f63e3092b3b0d39fa77a6fe",
        headers={"content-type": "application/x-www-form-urlencoded; charset=utf8"},
        body=b"Param1=value1",
        signed_headers="content-type;host;x-amz-date",
    ),
    suite(
        "post-sts-header-before",
        "POST",
        "/",
        "85d96828115b5dc0cfc3bd16ad9e210dd772bbebba041836c64533a82be05ead",
        headers={"x-amz-security-token": SUITE_TOKEN},
        signed_headers="host;x-amz-date;x-amz-security-token",
    ),
    suite(
        "post-sts-header-after",
        "POST",
        "/",
        "5da7c1a2acd57cee7505fc6676e4e544621c30862966e37dddb68e92efbe5d6b",
        headers={"x-amz-security-token": SUITE_TOKEN},
    ),
]


@pytest.mark.parametrize("vector", VECTORS, ids=lambda v: v.name)
def test_aws_suite_vector(vector: Vector) -> None:
    headers = {
        **vector.headers,
        "authorization": "AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/20150830/us-east-1/service/aws4_request, "
        f"SignedHeaders={vector.signed_headers}, Signature={vector.signature}",
    }
    auth = parse_authorization(headers)
    assert auth.request_time == epoch("20150830T123600Z")
    verifier = SigV4Verifier(clock=lambda: auth.request_time)
    verifier.check_time(auth)
    kwargs = {
        "secret_access_key": SUITE_SECRET,
        "method": vector.method,
        "path": vector.path,
        "query_string": vector.query,
        "headers": headers,
        "body": vector.body,
    }
    verifier.verify(auth, **kwargs)
    with pytest.raises(InvalidSignatureException):
        verifier.verify(auth, **{**kwargs, "secret_access_key": SUITE_SECRET.lower()})


def test_aws_suite_session_token_is_reported() -> None:
    vector = next(v for v in VECTORS if v.name == "post-sts-header-after")
    headers = {
        **vector.headers,
        "authorization": "AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/20150830/us-east-1/"
        f"service/aws4_request, SignedHeaders=host;x-amz-date, Signature={vector.signature}",
    }
    assert parse_authorization(headers).security_token == SUITE_TOKEN


# botocore's own vectors (tests/unit/auth/aws4_testsuite, the 2011 suite): the wire path is already
# percent-encoded, so it is encoded a second time, and the timestamp comes from the Date header.
@pytest.mark.parametrize(
    ("path", "signature"),
    [
        ("/%20/foo", "2be9e587d1ee1f0fd02128724b86b4358ba3630d39f493b6e06610a19a50779e"),
        ("/%E1%88%B4", "57b1eb3df3b16a8479c0097b66c0b261cfd65b829419a3f2c3d05319722490b8"),
    ],
    ids=["get-space", "get-utf8"],
)
def test_botocore_double_encoding_vectors(path: str, signature: str) -> None:
    headers = {
        "date": "Mon, 09 Sep 2011 23:36:00 GMT",
        "host": "host.foo.com",
        "authorization": "AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/20110909/us-east-1/host/aws4_request, "
        f"SignedHeaders=date;host, Signature={signature}",
    }
    auth = parse_authorization(headers)
    assert auth.amz_date == "20110909T233600Z"
    SigV4Verifier().verify(
        auth,
        secret_access_key=SUITE_SECRET,
        method="GET",
        path=path,
        query_string="",
        headers=headers,
        body=b"",
    )


@pytest.mark.parametrize(
    ("path", "canonical"),
    [
        ("", "/"),
        ("/", "/"),
        ("//", "/"),
        ("/./", "/"),
        ("/example/..", "/"),
        ("/a/../../b", "/b"),
        ("/a//b/", "/a/b/"),
        ("/example space/", "/example%20space/"),
        ("/%20/foo", "/%2520/foo"),
        ("/example/$delete", "/example/%24delete"),
        ("/~user", "/~user"),
    ],
)
def test_canonical_uri(path: str, canonical: str) -> None:
    assert sigv4._canonical_uri(path) == canonical


@pytest.mark.parametrize(
    ("query", "canonical"),
    [
        ("", ""),
        ("b=2&a=1", "a=1&b=2"),
        ("a=2&a=1", "a=1&a=2"),
        ("flag", "flag="),
        ("a=1&&b=2&", "a=1&b=2"),
        ("k=a+b", "k=a%20b"),
        ("k=a%2Bb", "k=a%2Bb"),
        ("k=%7e%2a", "k=~%2A"),
        ("%E1%88%B4=bar", "%E1%88%B4=bar"),
    ],
)
def test_canonical_query_string(query: str, canonical: str) -> None:
    assert sigv4._canonical_query_string(query) == canonical


# --- the fast path for well-formed Authorization headers --------------------------------------------------------
_PIECE = st.text(alphabet="AKIaz09/_-=;, \t", max_size=30)


@settings(max_examples=500, deadline=None)
@given(
    credential=st.one_of(_PIECE, st.just("AKIDEXAMPLE/20150830/us-east-1/kms/aws4_request")),
    signed=st.one_of(_PIECE, st.just("content-type;host;x-amz-date")),
    signature=st.one_of(_PIECE, st.text(alphabet="0123456789abcdef", min_size=64, max_size=64)),
    separator=st.sampled_from([",", ", ", ",  ", " ,"]),
)
def test_the_fast_path_reads_what_the_general_parser_reads(
    credential: str, signed: str, signature: str, separator: str
) -> None:
    parts = (f"Credential={credential}", f"SignedHeaders={signed}", f"Signature={signature}")
    header = "AWS4-HMAC-SHA256 " + separator.join(parts)
    fast = sigv4._WELL_FORMED.fullmatch(header)
    if fast is None:
        return
    assert fast.groups() == sigv4._components(header)


def test_the_fast_path_takes_what_sdks_send() -> None:
    signed = kms_request()
    assert sigv4._WELL_FORMED.fullmatch(signed.headers["authorization"]) is not None
