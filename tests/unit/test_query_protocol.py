"""The Query protocol codec (`edge/query_protocol.py`), checked against botocore itself.

Requests: an input dict is serialized by botocore's own QuerySerializer, put through URL encoding and decoding as it
would cross the wire, and must come back from `parse_request` unchanged. Responses: `serialize_response` output read
by botocore's own QueryParser must give back the result dict. Both directions run on hand-picked IAM, STS, RDS,
SimpleDB and SNS operations, on a synthetic model that uses every layout IAM does not (flattened and renamed lists
and maps, longs, floats, blobs, timestamps in requests), and on random inputs generated from the shapes.
"""

from __future__ import annotations

import math
import time
import tracemalloc
from collections.abc import Iterator, Mapping
from datetime import UTC, datetime, timedelta, timezone
from typing import Any
from urllib.parse import parse_qs, urlencode
from xml.etree import ElementTree

import botocore.model
import botocore.parsers
import botocore.serialize
import botocore.session
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from trent.edge.query_protocol import QueryFormatError, parse_request, serialize_error, serialize_response

_SESSION = botocore.session.get_session()
IAM = _SESSION.get_service_model("iam")
STS = _SESSION.get_service_model("sts")
IAM_NAMESPACE = "https://iam.amazonaws.com/doc/2010-05-08/"
REQUEST_ID = "0f8e5b6a-3c1d-4e2f-9a7b-6c5d4e3f2a1b"

_SERIALIZER = botocore.serialize.create_serializer("query")
_PARSER = botocore.parsers.create_parser("query")

#: Everything IAM's model does not use, in one operation: every scalar type, renamed members, lists and maps in
#: every layout botocore knows (plain, renamed items, flattened, flattened with renamed items), nesting.
SYNTHETIC = botocore.model.ServiceModel(
    {
        "metadata": {
            "apiVersion": "2020-01-01",
            "endpointPrefix": "synthetic",
            "protocol": "query",
            "serviceId": "Synthetic",
            "signatureVersion": "v4",
            "xmlNamespace": "https://trent.example/doc/2020-01-01/",
        },
        "operations": {
            "Everything": {
                "name": "Everything",
                "http": {"method": "POST", "requestUri": "/"},
                "input": {"shape": "Everything"},
                "output": {"shape": "Everything", "resultWrapper": "EverythingResult"},
            },
            "Nothing": {
                "name": "Nothing",
                "http": {"method": "POST", "requestUri": "/"},
                "input": {"shape": "Nothing"},
                "output": {"shape": "Nothing", "resultWrapper": "NothingResult"},
            },
        },
        "shapes": {
            "Everything": {
                "type": "structure",
                "members": {
                    "Text": {"shape": "String"},
                    "Renamed": {"shape": "String", "locationName": "OnTheWire"},
                    "Count": {"shape": "Integer"},
                    "Big": {"shape": "Long"},
                    "Ratio": {"shape": "Double"},
                    "Fraction": {"shape": "Float"},
                    "Flag": {"shape": "Boolean"},
                    "When": {"shape": "Timestamp"},
                    "Data": {"shape": "Blob"},
                    "Names": {"shape": "Names"},
                    "Numbers": {"shape": "Numbers"},
                    "Flat": {"shape": "FlatNames"},
                    "FlatItems": {"shape": "FlatItems"},
                    "Grid": {"shape": "Grid"},
                    "Attributes": {"shape": "Attributes"},
                    "FlatAttributes": {"shape": "FlatAttributes"},
                    "Children": {"shape": "Children"},
                    "Child": {"shape": "Child"},
                    "ChildList": {"shape": "ChildList"},
                },
            },
            "Nothing": {"type": "structure", "members": {}},
            "Child": {
                "type": "structure",
                "members": {
                    "Name": {"shape": "String"},
                    "Size": {"shape": "Integer"},
                    "Labels": {"shape": "Names"},
                },
            },
            "String": {"type": "string"},
            "Integer": {"type": "integer"},
            "Long": {"type": "long"},
            "Double": {"type": "double"},
            "Float": {"type": "float"},
            "Boolean": {"type": "boolean"},
            "Timestamp": {"type": "timestamp"},
            "Blob": {"type": "blob"},
            "Names": {"type": "list", "member": {"shape": "String"}},
            "Numbers": {"type": "list", "member": {"shape": "Integer", "locationName": "Number"}},
            "FlatNames": {"type": "list", "member": {"shape": "String"}, "flattened": True},
            "FlatItems": {"type": "list", "member": {"shape": "Child", "locationName": "Item"}, "flattened": True},
            "Grid": {"type": "list", "member": {"shape": "Names"}},
            "Attributes": {"type": "map", "key": {"shape": "String"}, "value": {"shape": "String"}},
            "FlatAttributes": {
                "type": "map",
                "key": {"shape": "String", "locationName": "Name"},
                "value": {"shape": "Integer", "locationName": "Value"},
                "flattened": True,
            },
            "Children": {"type": "map", "key": {"shape": "String"}, "value": {"shape": "Child"}},
            "ChildList": {"type": "list", "member": {"shape": "Child"}},
        },
    },
    service_name="synthetic",
)

T0 = datetime(2026, 12, 7, 10, 15, tzinfo=UTC)
T1 = datetime(2027, 1, 31, 23, 59, 59, tzinfo=UTC)


def iam_operation(name: str) -> botocore.model.OperationModel:
    return IAM.operation_model(name)


def wire_form(operation: botocore.model.OperationModel, params: Mapping[str, Any]) -> dict[str, str]:
    """The form botocore sends for ``params``, URL-encoded and decoded again as a server receives it."""
    body = _SERIALIZER.serialize_to_request(params, operation)["body"]
    # botocore leaves integers as int in its body dict; urlencode() str()s them on the way out, as here.
    decoded = parse_qs(urlencode(body), keep_blank_values=True, strict_parsing=True)
    return {name: values[-1] for name, values in decoded.items()}


def read_back(operation: botocore.model.OperationModel, result: Mapping[str, Any]) -> dict[str, Any]:
    """What botocore makes of ``serialize_response(operation, result)``, less the ResponseMetadata."""
    body = serialize_response(operation, result, REQUEST_ID)
    parsed = _PARSER.parse({"body": body, "headers": {}, "status_code": 200}, operation.output_shape)
    metadata = parsed.pop("ResponseMetadata")
    assert metadata["RequestId"] == REQUEST_ID
    assert isinstance(parsed, dict)
    return parsed


def read_error(body: bytes) -> dict[str, Any]:
    parsed = _PARSER.parse({"body": body, "headers": {}, "status_code": 400}, None)
    assert isinstance(parsed, dict)
    return parsed


# --- named IAM operations, both directions ------------------------------------------------------------------------

TAGS = [{"Key": "team", "Value": "crypto <&> \"keys\" 'n' stuff"}, {"Key": "empty", "Value": ""}]
POLICY = '{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"kms:*","Resource":"*"}]}'
USER = {
    "Path": "/eng/",
    "UserName": "alice",
    "UserId": "AIDAEXAMPLEUSERID0001",
    "Arn": "arn:aws:iam::111122223333:user/eng/alice",
    "CreateDate": T0,
}
BOUNDED_USER = {
    **USER,
    "PasswordLastUsed": T1,
    "PermissionsBoundary": {
        "PermissionsBoundaryType": "PermissionsBoundaryPolicy",
        "PermissionsBoundaryArn": "arn:aws:iam::111122223333:policy/boundary",
    },
    "Tags": TAGS,
}
ROLE = {
    "Path": "/",
    "RoleName": "deployer",
    "RoleId": "AROAEXAMPLEROLEID0001",
    "Arn": "arn:aws:iam::111122223333:role/deployer",
    "CreateDate": T0,
    "AssumeRolePolicyDocument": POLICY,
    "Description": "Deploys <things> & more",
    "MaxSessionDuration": 3600,
    "Tags": TAGS,
    "RoleLastUsed": {"LastUsedDate": T1, "Region": "eu-west-1"},
}
ACCESS_KEY = {"UserName": "alice", "AccessKeyId": "AKIAEXAMPLEKEY000001", "Status": "Active", "CreateDate": T0}

CASES = [
    pytest.param(
        "CreateUser",
        {"UserName": "alice", "Path": "/eng/", "PermissionsBoundary": "arn:aws:iam::aws:policy/X", "Tags": TAGS},
        {"User": {**USER, "Tags": TAGS}},
        id="CreateUser",
    ),
    pytest.param("GetUser", {"UserName": "alice"}, {"User": BOUNDED_USER}, id="GetUser"),
    pytest.param("GetUser", {}, {"User": USER}, id="GetUser-self"),
    pytest.param(
        "ListUsers",
        {"PathPrefix": "/eng/", "Marker": "bWFya2Vy+/=", "MaxItems": 2},
        {"Users": [USER, BOUNDED_USER], "IsTruncated": True, "Marker": "bmV4dA=="},
        id="ListUsers-truncated",
    ),
    pytest.param("ListUsers", {}, {"Users": [], "IsTruncated": False}, id="ListUsers-empty"),
    pytest.param(
        "CreateAccessKey",
        {"UserName": "alice"},
        {"AccessKey": {**ACCESS_KEY, "SecretAccessKey": "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY"}},
        id="CreateAccessKey",
    ),
    pytest.param(
        "ListAccessKeys",
        {"UserName": "alice", "MaxItems": 100},
        {"AccessKeyMetadata": [ACCESS_KEY, {**ACCESS_KEY, "Status": "Inactive"}], "IsTruncated": False},
        id="ListAccessKeys",
    ),
    pytest.param(
        "UpdateAccessKey",
        {"UserName": "alice", "AccessKeyId": "AKIAEXAMPLEKEY000001", "Status": "Inactive"},
        {},
        id="UpdateAccessKey",
    ),
    pytest.param(
        "PutUserPolicy",
        {"UserName": "alice", "PolicyName": "kms-all", "PolicyDocument": POLICY},
        {},
        id="PutUserPolicy",
    ),
    pytest.param(
        "GetUserPolicy",
        {"UserName": "alice", "PolicyName": "kms-all"},
        # IAM answers with the document URL-encoded; the codec carries whatever string it is given.
        {"UserName": "alice", "PolicyName": "kms-all", "PolicyDocument": "%7B%22Version%22%3A%222012-10-17%22%7D"},
        id="GetUserPolicy",
    ),
    pytest.param(
        "ListUserPolicies",
        {"UserName": "alice", "Marker": "m", "MaxItems": 1000},
        {"PolicyNames": ["kms-all", "s3-read"], "IsTruncated": False},
        id="ListUserPolicies",
    ),
    pytest.param(
        "CreateRole",
        {
            "RoleName": "deployer",
            "Path": "/",
            "AssumeRolePolicyDocument": POLICY,
            "Description": "Deploys <things> & more",
            "MaxSessionDuration": 43200,
            "Tags": TAGS,
        },
        {"Role": ROLE},
        id="CreateRole",
    ),
    pytest.param("GetRole", {"RoleName": "deployer"}, {"Role": ROLE}, id="GetRole"),
    pytest.param(
        "ListRoles",
        {"PathPrefix": "/", "MaxItems": 1},
        {"Roles": [ROLE], "IsTruncated": True, "Marker": "next-page"},
        id="ListRoles",
    ),
    pytest.param("DeleteUser", {"UserName": "alice"}, {}, id="DeleteUser"),
    pytest.param(
        "GetAccountAuthorizationDetails",
        {"Filter": ["User", "Role", "LocalManagedPolicy"], "MaxItems": 5, "Marker": "m"},
        {
            "UserDetailList": [
                {
                    **USER,
                    "UserPolicyList": [{"PolicyName": "kms-all", "PolicyDocument": POLICY}],
                    "GroupList": ["admins", "eng"],
                    "AttachedManagedPolicies": [
                        {"PolicyName": "ReadOnly", "PolicyArn": "arn:aws:iam::aws:policy/ReadOnlyAccess"}
                    ],
                    "Tags": TAGS,
                }
            ],
            "GroupDetailList": [
                {
                    "Path": "/",
                    "GroupName": "admins",
                    "GroupId": "AGPAEXAMPLEGROUP0001",
                    "Arn": "arn:aws:iam::111122223333:group/admins",
                    "CreateDate": T0,
                    "GroupPolicyList": [],
                    "AttachedManagedPolicies": [],
                }
            ],
            "RoleDetailList": [
                {
                    "Path": "/",
                    "RoleName": "deployer",
                    "RoleId": "AROAEXAMPLEROLEID0001",
                    "Arn": "arn:aws:iam::111122223333:role/deployer",
                    "CreateDate": T0,
                    "AssumeRolePolicyDocument": POLICY,
                    "InstanceProfileList": [
                        {
                            "Path": "/",
                            "InstanceProfileName": "web",
                            "InstanceProfileId": "AIPAEXAMPLEPROFILE01",
                            "Arn": "arn:aws:iam::111122223333:instance-profile/web",
                            "CreateDate": T0,
                            "Roles": [ROLE],
                            "Tags": [],
                        }
                    ],
                    "RolePolicyList": [{"PolicyName": "inline", "PolicyDocument": POLICY}],
                    "AttachedManagedPolicies": [],
                    "Tags": TAGS,
                    "RoleLastUsed": {"LastUsedDate": T1},
                }
            ],
            "Policies": [
                {
                    "PolicyName": "boundary",
                    "PolicyId": "ANPAEXAMPLEPOLICY001",
                    "Arn": "arn:aws:iam::111122223333:policy/boundary",
                    "Path": "/",
                    "DefaultVersionId": "v2",
                    "AttachmentCount": 3,
                    "PermissionsBoundaryUsageCount": 1,
                    "IsAttachable": True,
                    "CreateDate": T0,
                    "UpdateDate": T1,
                    "PolicyVersionList": [
                        {"Document": POLICY, "VersionId": "v1", "IsDefaultVersion": False, "CreateDate": T0},
                        {"Document": POLICY, "VersionId": "v2", "IsDefaultVersion": True, "CreateDate": T1},
                    ],
                }
            ],
            "IsTruncated": True,
            "Marker": "more",
        },
        id="GetAccountAuthorizationDetails",
    ),
    pytest.param("TagUser", {"UserName": "alice", "Tags": TAGS}, {}, id="TagUser"),
    pytest.param(
        "ListUserTags",
        {"UserName": "alice", "Marker": "m", "MaxItems": 50},
        {"Tags": TAGS, "IsTruncated": False},
        id="ListUserTags",
    ),
]


@pytest.mark.parametrize(("operation", "request_params", "result"), CASES)
def test_an_iam_request_comes_back_as_boto3_was_given_it(
    operation: str, request_params: dict[str, Any], result: dict[str, Any]
) -> None:
    model = iam_operation(operation)
    assert parse_request(model, wire_form(model, request_params)) == request_params


@pytest.mark.parametrize(("operation", "request_params", "result"), CASES)
def test_an_iam_response_reads_back_in_botocore_as_the_result_it_carries(
    operation: str, request_params: dict[str, Any], result: dict[str, Any]
) -> None:
    assert read_back(iam_operation(operation), result) == result


def test_the_form_is_read_with_the_names_botocore_sends() -> None:
    create_user = iam_operation("CreateUser")
    form = {
        "Action": "CreateUser",
        "Version": "2010-05-08",
        "UserName": "alice",
        "Tags.member.1.Key": "team",
        "Tags.member.1.Value": "crypto",
        "Tags.member.2.Key": "cost",
        "Tags.member.2.Value": "",
    }
    assert wire_form(create_user, parse_request(create_user, form)) == form
    assert parse_request(create_user, form) == {
        "UserName": "alice",
        "Tags": [{"Key": "team", "Value": "crypto"}, {"Key": "cost", "Value": ""}],
    }


def test_an_empty_list_is_an_empty_value_under_the_list_name() -> None:
    details = iam_operation("GetAccountAuthorizationDetails")
    assert wire_form(details, {"Filter": []}) == {
        "Action": "GetAccountAuthorizationDetails",
        "Version": "2010-05-08",
        "Filter": "",
    }
    assert parse_request(details, {"Filter": ""}) == {"Filter": []}
    assert parse_request(details, {"Filter": "", "Filter.member.1": "User"}) == {"Filter": ["User"]}
    assert parse_request(details, {"Filter.member": "User"}) == {}  # no index: not a list element


def test_an_operation_without_input_parses_to_an_empty_dict() -> None:
    summary = iam_operation("GetAccountSummary")
    assert summary.input_shape is None
    assert parse_request(summary, {"Action": "GetAccountSummary", "Version": "2010-05-08", "Junk": "1"}) == {}


def test_parameters_the_shape_does_not_know_are_ignored() -> None:
    form = {
        "Action": "CreateUser",
        "Version": "2010-05-08",
        "UserName": "alice",
        "UserName.Extra": "ignored",
        "Bogus": "1",
        "Bogus.member.7": "1",
        "Tags.extra": "ignored",
        "Tags.member.1.Key": "team",
        "Tags.member.1.Value": "crypto",
        "Tags.member.1.Colour": "blue",
        "Path.": "",
        "": "",
        "..": "",
    }
    assert parse_request(iam_operation("CreateUser"), form) == {
        "UserName": "alice",
        "Tags": [{"Key": "team", "Value": "crypto"}],
    }
    # Only unknown names under a structure: the structure was not sent.
    assert parse_request(iam_operation("ListUsers"), {"Nope": "1"}) == {}
    assert parse_request(EVERYTHING, {"Child.Unknown": "1", "Child.Labels.Unknown": "1"}) == {}


# --- other services' real models: renamed and flattened lists, renamed map keys -----------------------------------


def test_rds_renames_list_items_after_the_member_location_name() -> None:
    operation = _SESSION.get_service_model("rds").operation_model("AddTagsToResource")
    params = {"ResourceName": "arn:aws:rds:eu-west-1:111122223333:db:x", "Tags": [{"Key": "k", "Value": "v"}]}
    form = wire_form(operation, params)
    assert form["Tags.Tag.1.Key"] == "k"
    assert parse_request(operation, form) == params


def test_simpledb_flattened_lists_replace_the_list_name_with_the_item_name() -> None:
    sdb = _SESSION.get_service_model("sdb")
    put = sdb.operation_model("BatchPutAttributes")
    params = {
        "DomainName": "d",
        "Items": [
            {"Name": "i1", "Attributes": [{"Name": "a", "Value": "1", "Replace": True}, {"Name": "b", "Value": "2"}]},
            {"Name": "i2", "Attributes": [{"Name": "c", "Value": "<3>"}]},
        ],
    }
    form = wire_form(put, params)
    assert form["Item.1.ItemName"] == "i1"
    assert form["Item.1.Attribute.2.Name"] == "b"
    assert not any(name.startswith("Items") for name in form)
    assert parse_request(put, form) == params
    # An empty flattened list is still sent under the list's own name.
    assert wire_form(put, {"DomainName": "d", "Items": []})["Items"] == ""
    assert parse_request(put, wire_form(put, {"DomainName": "d", "Items": []})) == {"DomainName": "d", "Items": []}

    get = sdb.operation_model("GetAttributes")
    result = {"Attributes": [{"Name": "a", "Value": "1"}, {"Name": "b", "Value": "<2>"}]}
    body = serialize_response(get, result, REQUEST_ID)
    assert b"<GetAttributesResult><Attribute><Name>a</Name>" in body
    assert read_back(get, result) == result
    assert read_back(get, {"Attributes": [{"Name": "only", "Value": "one"}]}) == {
        "Attributes": [{"Name": "only", "Value": "one"}]
    }


def test_sns_renames_map_keys_and_values() -> None:
    publish = _SESSION.get_service_model("sns").operation_model("Publish")
    params = {
        "TopicArn": "arn:aws:sns:eu-west-1:111122223333:t",
        "Message": "hi",
        "MessageAttributes": {
            "colour": {"DataType": "String", "StringValue": "blue"},
            "blob": {"DataType": "Binary", "BinaryValue": b"\x00\xff"},
        },
    }
    form = wire_form(publish, params)
    assert form["MessageAttributes.entry.1.Name"] == "colour"
    assert form["MessageAttributes.entry.1.Value.DataType"] == "String"
    assert parse_request(publish, form) == params


def test_sts_assume_role_both_ways() -> None:
    assume_role = STS.operation_model("AssumeRole")
    params = {
        "RoleArn": "arn:aws:iam::111122223333:role/deployer",
        "RoleSessionName": "session@example.com",
        "DurationSeconds": 900,
        "PolicyArns": [{"arn": "arn:aws:iam::aws:policy/ReadOnlyAccess"}],
        "Tags": [{"Key": "k", "Value": "v"}],
        "TransitiveTagKeys": ["k"],
        "ExternalId": "x&y=z",
    }
    assert parse_request(assume_role, wire_form(assume_role, params)) == params
    result = {
        "Credentials": {
            "AccessKeyId": "ASIAEXAMPLE000000001",
            "SecretAccessKey": "secret/+=",
            "SessionToken": "token<>&",
            "Expiration": T1,
        },
        "AssumedRoleUser": {
            "AssumedRoleId": "AROAEXAMPLEROLEID0001:session",
            "Arn": "arn:aws:sts::111122223333:assumed-role/deployer/session",
        },
        "PackedPolicySize": 6,
    }
    assert read_back(assume_role, result) == result
    assert serialize_response(assume_role, result, REQUEST_ID).startswith(
        b'<AssumeRoleResponse xmlns="https://sts.amazonaws.com/doc/2011-06-15/"><AssumeRoleResult>'
    )


# --- the synthetic model: every layout and scalar type ------------------------------------------------------------

EVERYTHING = SYNTHETIC.operation_model("Everything")
CHILD = {"Name": "c<1>", "Size": 3, "Labels": ["x", "y"]}
EVERYTHING_VALUE = {
    "Text": "a & b",
    "Renamed": "on the wire",
    "Count": -(2**31),
    "Big": 2**63 - 1,
    "Ratio": 0.1,
    "Fraction": -1.5e-300,
    "Flag": False,
    "When": T0,
    "Data": b"\x00\x01binary\xff",
    "Names": ["a", "", "c"],
    "Numbers": [1, 2, 3],
    "Flat": ["f1", "f2"],
    "FlatItems": [CHILD, {"Name": "second"}],
    "Grid": [["a", "b"], [], ["c"]],
    "Attributes": {"k1": "v1", "k2": ""},
    "FlatAttributes": {"one": 1, "two": 2},
    "Children": {"first": CHILD, "empty": {}},
    "Child": CHILD,
    "ChildList": [CHILD, {"Size": 0}],
}


def test_every_layout_and_scalar_type_comes_back_from_the_form() -> None:
    form = wire_form(EVERYTHING, EVERYTHING_VALUE)
    assert form["OnTheWire"] == "on the wire"
    assert form["Numbers.Number.2"] == "2"
    assert form["Flat.2"] == "f2"
    assert form["Item.1.Name"] == "c<1>"
    assert form["Grid.member.2"] == ""
    assert form["FlatAttributes.2.Name"] == "two"
    assert form["FlatAttributes.2.Value"] == "2"
    assert form["Children.entry.1.value.Labels.member.2"] == "y"
    # An empty structure is not sent at all: only its key says the "empty" entry is there.
    assert "Children.entry.2.key" in form
    assert not any(name.startswith("Children.entry.2.value") for name in form)
    assert form["Data"] == "AAFiaW5hcnn/"
    assert form["When"] == "2026-12-07T10:15:00Z"
    assert parse_request(EVERYTHING, form) == EVERYTHING_VALUE


def test_every_layout_and_scalar_type_reads_back_from_the_xml() -> None:
    body = serialize_response(EVERYTHING, EVERYTHING_VALUE, REQUEST_ID)
    assert b"<OnTheWire>on the wire</OnTheWire>" in body
    assert b"<Numbers><Number>1</Number><Number>2</Number>" in body
    assert b"<Flat>f1</Flat><Flat>f2</Flat>" in body
    assert b"<Item><Name>c&lt;1&gt;</Name>" in body
    assert b"<FlatAttributes><Name>one</Name><Value>1</Value></FlatAttributes>" in body
    assert b"<Attributes><entry><key>k1</key><value>v1</value></entry>" in body
    assert read_back(EVERYTHING, EVERYTHING_VALUE) == EVERYTHING_VALUE


@pytest.fixture
def local_time_is_not_utc(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """The process's local time zone at UTC+05:30, so that naive datetimes taken as local time would show."""
    monkeypatch.setenv("TZ", "IST-05:30")
    time.tzset()
    yield
    monkeypatch.undo()
    time.tzset()


@pytest.mark.usefixtures("local_time_is_not_utc")
@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("2026-12-07T10:15:00Z", T0),
        ("2026-12-07T10:15:00.250000Z", T0 + timedelta(milliseconds=250)),
        ("2026-12-07T11:15:00+01:00", T0),
        ("2026-12-07T10:15:00", T0),  # no offset: UTC
        ("2026-12-07", datetime(2026, 12, 7, tzinfo=UTC)),
    ],
)
def test_request_timestamps_are_iso_8601_returned_as_utc_datetimes(text: str, expected: datetime) -> None:
    parsed = parse_request(EVERYTHING, {"When": text})["When"]
    assert parsed == expected
    assert parsed.utcoffset() == timedelta(0)


def test_a_structure_whose_members_were_all_empty_structures_is_not_sent_but_a_map_value_can_be_empty() -> None:
    assert parse_request(EVERYTHING, wire_form(EVERYTHING, {"Child": {}})) == {}
    assert parse_request(EVERYTHING, {"Children.entry.1.key": "k"}) == {"Children": {"k": {}}}


# --- refusals -----------------------------------------------------------------------------------------------------


def refusal(operation: botocore.model.OperationModel, form: Mapping[str, str]) -> QueryFormatError:
    with pytest.raises(QueryFormatError) as caught:
        parse_request(operation, form)
    return caught.value


@pytest.mark.parametrize(
    "text", ["abc", "", "1.5", " 7", "7 ", "1_000", "0x10", "\u0663", "2147483648", "-2147483649", "9" * 5000]
)
def test_an_integer_that_is_not_a_java_int_is_refused(text: str) -> None:
    error = refusal(iam_operation("ListUsers"), {"Action": "ListUsers", "MaxItems": text})
    assert (error.member_path, error.value, error.expected_type) == ("MaxItems", text, "integer")
    assert isinstance(error, ValueError)


@pytest.mark.parametrize(
    ("text", "value"), [("2147483647", 2**31 - 1), ("-2147483648", -(2**31)), ("+7", 7), ("007", 7)]
)
def test_integers_at_the_edges_of_the_java_range_are_taken(text: str, value: int) -> None:
    assert parse_request(iam_operation("ListUsers"), {"MaxItems": text}) == {"MaxItems": value}


def test_a_long_has_the_java_long_range() -> None:
    assert parse_request(EVERYTHING, {"Big": str(-(2**63))}) == {"Big": -(2**63)}
    assert refusal(EVERYTHING, {"Big": str(2**63)}).expected_type == "long"


@pytest.mark.parametrize("text", ["True", "FALSE", "1", "0", "yes", "", " true"])
def test_a_boolean_is_true_or_false_in_lower_case(text: str) -> None:
    error = refusal(iam_operation("ListPolicies"), {"OnlyAttached": text})
    assert (error.member_path, error.value, error.expected_type) == ("OnlyAttached", text, "boolean")
    assert parse_request(iam_operation("ListPolicies"), {"OnlyAttached": "false"}) == {"OnlyAttached": False}


@pytest.mark.parametrize(
    ("name", "text", "expected_type"),
    [
        ("When", "yesterday", "timestamp"),
        ("When", "2026-13-01T00:00:00Z", "timestamp"),
        ("When", "0001-01-01T00:00:00+05:00", "timestamp"),  # before year 1 in UTC
        ("Data", "not base64!", "blob"),
        ("Data", "AAE", "blob"),  # missing padding
        ("Data", "AA E=", "blob"),  # a lenient decoder would skip the space
        ("Data", "AAE=!", "blob"),
        ("Ratio", "1,5", "double"),
        ("Ratio", "inf", "double"),
        ("Ratio", "1_0.0", "double"),
        ("Fraction", "", "float"),
    ],
)
def test_timestamps_blobs_and_floats_that_do_not_parse_are_refused(name: str, text: str, expected_type: str) -> None:
    error = refusal(EVERYTHING, {name: text})
    assert (error.member_path, error.value, error.expected_type) == (name, text, expected_type)


@pytest.mark.parametrize(("text", "value"), [("NaN", None), ("Infinity", float("inf")), ("-1.5e3", -1500.0)])
def test_floats_take_the_spellings_botocore_sends(text: str, value: float | None) -> None:
    parsed = parse_request(EVERYTHING, {"Ratio": text})["Ratio"]
    if value is None:
        assert math.isnan(parsed)
    else:
        assert parsed == value


def _tags_form(*indices: str) -> dict[str, str]:
    form = {"UserName": "alice"}
    for index in indices:
        form[f"Tags.member.{index}.Key"] = f"k{index}"
        form[f"Tags.member.{index}.Value"] = "v"
    return form


@pytest.mark.parametrize(
    ("indices", "bad"),
    [
        (("1", "3"), "3"),
        (("2",), "2"),
        (("0", "1"), "0"),
        (("01",), "01"),
        ((*"123456789", "01"), "01"),  # ten names, as if 1 to 10, but "01" is 1 again and 10 is missing
        (("1", "x"), "x"),
        (("-1",), "-1"),
        (("1", "+2"), "+2"),
        (("1", "\u0662"), "\u0662"),
    ],
)
def test_list_indices_must_be_one_to_n_without_gaps(indices: tuple[str, ...], bad: str) -> None:
    error = refusal(iam_operation("CreateUser"), _tags_form(*indices))
    assert (error.member_path, error.value, error.expected_type) == (f"Tags.member.{bad}", bad, "list index")


def test_map_indices_must_be_one_to_n_without_gaps_too() -> None:
    form = {"Attributes.entry.1.key": "a", "Attributes.entry.1.value": "1", "Attributes.entry.3.key": "b"}
    assert refusal(EVERYTHING, form).member_path == "Attributes.entry.3"
    assert refusal(EVERYTHING, {"FlatAttributes.2.Name": "a", "FlatAttributes.2.Value": "1"}).member_path == (
        "FlatAttributes.2"
    )


@pytest.mark.parametrize("index", ["1000000000", "9" * 100_000])
def test_a_huge_list_index_is_refused_at_once_without_allocating_for_it(index: str) -> None:
    tracemalloc.start()
    started = time.perf_counter()
    try:
        error = refusal(iam_operation("CreateUser"), _tags_form(index))
        elapsed = time.perf_counter() - started
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert error.member_path == f"Tags.member.{index}"
    assert elapsed < 0.5
    assert peak < 2_000_000  # the form itself holds two copies of a 100 kB index


def test_long_parameter_names_cost_their_length_not_an_object_per_segment() -> None:
    form = {
        "UserName": "alice",
        "." * 1_000_000: "x",
        "Tags." + "a." * 500_000: "x",
        "Tags.member.1.Key": "k",
        "Tags.member.1.Value": "v",
        "Tags.member.1.Key." + "b." * 500_000: "x",
    }
    tracemalloc.start()
    started = time.perf_counter()
    try:
        parsed = parse_request(iam_operation("CreateUser"), form)
        elapsed = time.perf_counter() - started
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert parsed == {"UserName": "alice", "Tags": [{"Key": "k", "Value": "v"}]}
    # Splitting every name at every dot up front took 12 s and 680 MB here.
    assert elapsed < 1
    assert peak < 20_000_000


def test_many_list_elements_parse_in_linear_time() -> None:
    form = _tags_form(*(str(index) for index in range(1, 50_001)))
    started = time.perf_counter()
    parsed = parse_request(iam_operation("CreateUser"), form)
    assert time.perf_counter() - started < 5
    assert len(parsed["Tags"]) == 50_000
    assert parsed["Tags"][-1] == {"Key": "k50000", "Value": "v"}


def test_a_list_sent_with_a_value_other_than_empty_is_refused() -> None:
    error = refusal(iam_operation("GetAccountAuthorizationDetails"), {"Filter": "User"})
    assert (error.member_path, error.value, error.expected_type) == ("Filter", "User", "list")


def test_a_list_element_or_map_key_without_a_value_is_refused() -> None:
    details = iam_operation("GetAccountAuthorizationDetails")
    error = refusal(details, {"Filter.member.1": "User", "Filter.member.2.Oops": "Role"})
    assert (error.member_path, error.value, error.expected_type) == ("Filter.member.2", None, "string")
    error = refusal(EVERYTHING, {"Attributes.entry.1.value": "v"})
    assert (error.member_path, error.value, error.expected_type) == ("Attributes.entry.1.key", None, "string")
    error = refusal(EVERYTHING, {"Attributes.entry.1.key": "k"})
    assert (error.member_path, error.value, error.expected_type) == ("Attributes.entry.1.value", None, "string")


def test_a_bad_value_deep_inside_is_named_by_its_full_parameter_name() -> None:
    form = {"ChildList.member.1.Name": "a", "ChildList.member.2.Size": "big"}
    error = refusal(EVERYTHING, form)
    assert (error.member_path, error.value, error.expected_type) == ("ChildList.member.2.Size", "big", "integer")
    error = refusal(EVERYTHING, {"Numbers.Number.1": "1", "Numbers.Number.2": "two"})
    assert error.member_path == "Numbers.Number.2"
    error = refusal(EVERYTHING, {"Item.1.Name": "a", "Item.1.Labels.member.2": "gap"})
    assert error.member_path == "Item.1.Labels.member.2"


# --- responses ----------------------------------------------------------------------------------------------------


def test_a_response_is_laid_out_as_aws_lays_it_out() -> None:
    body = serialize_response(
        iam_operation("ListUserPolicies"), {"IsTruncated": False, "PolicyNames": ["a", "b"]}, REQUEST_ID
    )
    assert (
        body
        == (
            f'<ListUserPoliciesResponse xmlns="{IAM_NAMESPACE}"><ListUserPoliciesResult>'
            "<PolicyNames><member>a</member><member>b</member></PolicyNames><IsTruncated>false</IsTruncated>"
            f"</ListUserPoliciesResult><ResponseMetadata><RequestId>{REQUEST_ID}</RequestId></ResponseMetadata>"
            "</ListUserPoliciesResponse>"
        ).encode()
    )


def test_an_operation_without_output_has_no_result_element() -> None:
    delete_user = iam_operation("DeleteUser")
    assert delete_user.output_shape is None
    body = serialize_response(delete_user, {}, REQUEST_ID)
    assert (
        body
        == (
            f'<DeleteUserResponse xmlns="{IAM_NAMESPACE}"><ResponseMetadata><RequestId>{REQUEST_ID}</RequestId>'
            "</ResponseMetadata></DeleteUserResponse>"
        ).encode()
    )
    assert read_back(delete_user, {}) == {}


def test_an_output_shape_without_members_still_has_its_result_element_which_botocore_requires() -> None:
    nothing = SYNTHETIC.operation_model("Nothing")
    body = serialize_response(nothing, {}, REQUEST_ID)
    assert b"<NothingResult></NothingResult>" in body
    assert read_back(nothing, {}) == {}
    without_result = body.replace(b"<NothingResult></NothingResult>", b"")
    with pytest.raises(KeyError):
        _PARSER.parse({"body": without_result, "headers": {}, "status_code": 200}, nothing.output_shape)


def test_members_absent_none_or_unknown_are_left_out_and_the_rest_follow_the_shape_order() -> None:
    result = {"Marker": "m", "Unknown": "x", "Users": [], "IsTruncated": True, "Extra": None}
    body = serialize_response(iam_operation("ListUsers"), {**result, "Marker": None}, REQUEST_ID)
    assert b"<Users></Users><IsTruncated>true</IsTruncated></ListUsersResult>" in body
    body = serialize_response(iam_operation("ListUsers"), result, REQUEST_ID)
    assert b"<Users></Users><IsTruncated>true</IsTruncated><Marker>m</Marker></ListUsersResult>" in body


HOSTILE = "]]></UserName><Injected>x</Injected><UserName>&amp; \"' <!-- <?pi?> &#0;"


def test_hostile_text_is_escaped_and_cannot_add_elements() -> None:
    result = {"User": {**USER, "UserName": HOSTILE, "Tags": [{"Key": HOSTILE, "Value": "\t\r\n \r"}]}}
    body = serialize_response(iam_operation("GetUser"), result, "<id>&")
    root = ElementTree.fromstring(body)
    assert not root.findall(".//{*}Injected")
    assert read_back(iam_operation("GetUser"), result) == result
    assert b"&#13;" in body  # or XML parsers would read back a line feed


def test_characters_xml_cannot_carry_are_replaced_rather_than_making_the_document_unparsable() -> None:
    result = {"User": {**USER, "UserName": "nul\x00 bell\x07 \ud800 \ufffe end"}}
    assert read_back(iam_operation("GetUser"), result)["User"]["UserName"] == ("nul\ufffd bell\ufffd \ufffd \ufffd end")


@pytest.mark.usefixtures("local_time_is_not_utc")
@pytest.mark.parametrize(
    ("moment", "text"),
    [
        (T0, "2026-12-07T10:15:00Z"),
        (datetime(2026, 12, 7, 11, 15, 0, 999_999, tzinfo=timezone(timedelta(hours=1))), "2026-12-07T10:15:00Z"),
        (datetime(2026, 12, 7, 10, 15), "2026-12-07T10:15:00Z"),  # naive: UTC
        (T0.timestamp(), "2026-12-07T10:15:00Z"),
        (int(T0.timestamp()), "2026-12-07T10:15:00Z"),
        (datetime(999, 1, 2, tzinfo=UTC), "0999-01-02T00:00:00Z"),
    ],
)
def test_response_timestamps_are_utc_to_the_second_with_a_z(moment: datetime | float, text: str) -> None:
    body = serialize_response(iam_operation("GetUser"), {"User": {**USER, "CreateDate": moment}}, REQUEST_ID)
    assert f"<CreateDate>{text}</CreateDate>".encode() in body


@pytest.mark.parametrize(
    ("member", "value"),
    [
        ("UserName", 7),
        ("UserName", b"bytes"),
        ("CreateDate", "2026-12-07T10:15:00Z"),
        ("CreateDate", True),
        ("Tags", "not a list"),
        ("Tags", {"Key": "k", "Value": "v"}),
        ("PermissionsBoundary", [("PermissionsBoundaryType", "x")]),
    ],
)
def test_a_result_value_of_the_wrong_python_type_is_a_type_error(member: str, value: Any) -> None:
    with pytest.raises(TypeError):
        serialize_response(iam_operation("GetUser"), {"User": {**USER, member: value}}, REQUEST_ID)


@pytest.mark.parametrize(("member", "value"), [("IsTruncated", "false"), ("IsTruncated", 0)])
def test_a_boolean_must_be_a_bool(member: str, value: Any) -> None:
    with pytest.raises(TypeError):
        serialize_response(iam_operation("ListUsers"), {"Users": [], member: value}, REQUEST_ID)


@pytest.mark.parametrize("names", ["ab", {"a": "b"}, {"a", "b"}])
def test_a_list_must_be_a_list_not_any_iterable(names: Any) -> None:
    with pytest.raises(TypeError):
        serialize_response(iam_operation("ListUserPolicies"), {"PolicyNames": names}, REQUEST_ID)
    assert read_back(iam_operation("ListUserPolicies"), {"PolicyNames": ("a", "b")}) == {"PolicyNames": ["a", "b"]}


def test_an_integer_must_not_be_a_bool() -> None:
    with pytest.raises(TypeError):
        serialize_response(EVERYTHING, {"Count": True}, REQUEST_ID)


def test_floats_are_written_in_the_spellings_botocore_reads() -> None:
    for value, text in [(float("inf"), b"Infinity"), (float("-inf"), b"-Infinity"), (1e-5, b"1e-05")]:
        assert b"<Ratio>" + text + b"</Ratio>" in serialize_response(EVERYTHING, {"Ratio": value}, REQUEST_ID)
    assert math.isnan(read_back(EVERYTHING, {"Ratio": float("nan")})["Ratio"])


# --- errors -------------------------------------------------------------------------------------------------------


def test_an_error_reads_back_in_botocore_with_its_code_message_and_request_id() -> None:
    body = serialize_error(IAM_NAMESPACE, "NoSuchEntity", "The user with name bob cannot be found.", REQUEST_ID)
    assert (
        body
        == (
            f'<ErrorResponse xmlns="{IAM_NAMESPACE}"><Error><Type>Sender</Type><Code>NoSuchEntity</Code>'
            "<Message>The user with name bob cannot be found.</Message></Error>"
            f"<RequestId>{REQUEST_ID}</RequestId></ErrorResponse>"
        ).encode()
    )
    parsed = read_error(body)
    assert parsed["Error"] == {
        "Type": "Sender",
        "Code": "NoSuchEntity",
        "Message": "The user with name bob cannot be found.",
    }
    assert parsed["ResponseMetadata"]["RequestId"] == REQUEST_ID


def test_an_error_without_message_has_no_message_element() -> None:
    parsed = read_error(serialize_error(IAM_NAMESPACE, "ServiceFailure", None, REQUEST_ID, sender=False))
    assert parsed["Error"] == {"Type": "Receiver", "Code": "ServiceFailure"}


def test_an_error_escapes_its_text() -> None:
    parsed = read_error(serialize_error('ns"<>', "Code<&>", HOSTILE + "\r", "id&<>"))
    assert parsed["Error"]["Code"] == "Code<&>"
    assert parsed["Error"]["Message"] == HOSTILE + "\r"
    assert parsed["ResponseMetadata"]["RequestId"] == "id&<>"


# --- random inputs and results, generated from the shapes ---------------------------------------------------------

#: Printable text of every script, the characters XML and forms treat specially, and the whitespace XML can mangle.
_TEXT = st.characters(exclude_categories=("Cs", "Cc", "Cn"), include_characters="<>&\"'=+%;\t\n\r")
_INT_RANGES = {"integer": (-(2**31), 2**31 - 1), "long": (-(2**63), 2**63 - 1)}


def values_for(shape: botocore.model.Shape, *, request: bool) -> st.SearchStrategy[Any]:
    """Valid values of ``shape`` as boto3 takes them, within the model's ``min``/``max`` (which botocore's
    serializer checks in part), lists of 0 to 5 elements.

    Requests are generated without the values the Query protocol cannot carry (an empty structure or map is not
    sent at all), responses without the ones XML cannot (an empty flattened list or map is no element at all) and
    with timestamps to the second, as they are written.
    """
    kind, limits = shape.type_name, shape.metadata
    if kind == "string":
        if shape.enum:
            return st.sampled_from(shape.enum)
        low = limits.get("min", 0)
        return st.text(_TEXT, min_size=low, max_size=min(limits.get("max", low + 12), low + 12))
    if kind in _INT_RANGES:
        low, high = _INT_RANGES[kind]
        return st.integers(min_value=max(low, limits.get("min", low)), max_value=min(high, limits.get("max", high)))
    if kind in ("float", "double"):
        return st.floats(allow_nan=False)
    if kind == "boolean":
        return st.booleans()
    if kind == "timestamp":
        moments = st.datetimes(datetime(1970, 1, 2), datetime(2100, 1, 1), timezones=st.just(UTC))
        return moments if request else moments.map(lambda moment: moment.replace(microsecond=0))
    if kind == "blob":
        return st.binary(max_size=24)
    flattened = bool(shape.serialization.get("flattened"))
    if kind == "list":
        low = max(limits.get("min", 0), 1 if flattened and not request else 0)
        return st.lists(values_for(shape.member, request=request), min_size=low, max_size=max(low, 5))
    if kind == "map":
        low = 1 if request or flattened else 0
        keys, values = values_for(shape.key, request=request), values_for(shape.value, request=request)
        return st.dictionaries(keys, values, min_size=low, max_size=3)
    assert kind == "structure", kind
    required = set(shape.required_members)
    structures = st.fixed_dictionaries(
        {name: values_for(member, request=request) for name, member in shape.members.items() if name in required},
        optional={
            name: values_for(member, request=request) for name, member in shape.members.items() if name not in required
        },
    )
    return structures.filter(bool) if request else structures


RANDOM_OPERATIONS = [
    pytest.param(IAM.operation_model(name), id=name)
    for name in (
        "CreateUser",
        "ListUsers",
        "CreateRole",
        "UpdateAccessKey",
        "ListAccessKeys",
        "GetAccountAuthorizationDetails",
        "ListUserTags",
        "TagUser",
    )
] + [
    pytest.param(STS.operation_model("AssumeRole"), id="sts-AssumeRole"),
    pytest.param(EVERYTHING, id="synthetic-Everything"),
]
_RANDOM = settings(
    max_examples=60,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large, HealthCheck.large_base_example],
)


@pytest.mark.parametrize("operation", RANDOM_OPERATIONS)
@_RANDOM
@given(data=st.data())
def test_random_requests_come_back_as_boto3_was_given_them(
    operation: botocore.model.OperationModel, data: st.DataObject
) -> None:
    params = data.draw(values_for(operation.input_shape, request=True), label="params")
    assert parse_request(operation, wire_form(operation, params)) == params


@pytest.mark.parametrize("operation", RANDOM_OPERATIONS)
@_RANDOM
@given(data=st.data())
def test_random_results_read_back_in_botocore(operation: botocore.model.OperationModel, data: st.DataObject) -> None:
    if operation.output_shape is None:
        assert read_back(operation, {}) == {}
        return
    result = data.draw(values_for(operation.output_shape, request=False), label="result")
    assert read_back(operation, result) == result


@settings(max_examples=200, deadline=None)
@given(
    form=st.dictionaries(
        st.sampled_from(["Tags", "Tags.member", "UserName", "Path", "Tags.member.1", "X"]).flatmap(
            lambda stem: st.lists(
                st.sampled_from(["1", "2", "3", "0", "01", "Key", "Value", "member", ""]), max_size=3
            ).map(lambda tail: ".".join([stem, *tail]))
        ),
        st.text(_TEXT, max_size=5),
        max_size=8,
    )
)
def test_any_form_gives_a_dict_or_a_query_format_error(form: dict[str, str]) -> None:
    try:
        parsed = parse_request(iam_operation("CreateUser"), form)
    except QueryFormatError as error:
        assert error.member_path
    else:
        assert isinstance(parsed, dict)
