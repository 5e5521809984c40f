"""The caches bound parsed policies in bytes by a formula on the document (`parsed_weight`): it must not count
less than a parsed policy takes, or `cache_megabytes` would not bound memory. And policies that repeat an Action or
Resource list share one compiled pattern set, for as long as one of them is alive."""

from __future__ import annotations

import gc
import json
import tracemalloc
import weakref

import pytest

from trent.api.caches import parsed_weight
from trent.domain.keys import default_key_policy
from trent.domain.policy import parse_policy

ACCOUNT = "111122223333"


def users_policy(user: str) -> str:
    return json.dumps(
        {
            "Version": "2012-10-17",
            "Statement": [
                {
                    "Sid": f"Use{user}",
                    "Effect": "Allow",
                    "Action": ["kms:Encrypt", "kms:Decrypt", "kms:GenerateDataKey", "kms:DescribeKey"],
                    "Resource": f"arn:aws:kms:us-east-1:{ACCOUNT}:key/*",
                },
                {"Sid": "NoDeletion", "Effect": "Deny", "Action": "kms:ScheduleKeyDeletion", "Resource": "*"},
            ],
        }
    )


def many_statements(tag: str) -> str:
    return json.dumps(
        {
            "Version": "2012-10-17",
            "Statement": [
                {
                    "Sid": f"S{s}",
                    "Effect": "Allow",
                    "Principal": {"AWS": f"arn:aws:iam::{ACCOUNT}:user/{tag}{s}"},
                    "Action": ["kms:Encrypt", "kms:Decrypt", "kms:GenerateDataKey*"],
                    "Resource": "*",
                    "Condition": {"StringEquals": {"kms:EncryptionContext:dept": [f"{tag}{s}", "x"]}},
                }
                for s in range(40)
            ],
        }
    )


def many_patterns(tag: str) -> str:
    return json.dumps(
        {
            "Version": "2012-10-17",
            "Statement": [
                {
                    "Effect": "Allow",
                    "Action": "kms:*",
                    "Resource": [f"arn:aws:kms:us-east-1:{ACCOUNT}:key/{tag}-{r:04d}-*" for r in range(300)],
                    "Condition": {"StringLike": {"kms:EncryptionContext:app": [f"{tag}{r}?*" for r in range(300)]}},
                }
            ],
        }
    )


def a_long_action_list(tag: str) -> str:
    actions = [f"kms:{name}" for name in ("Encrypt", "Decrypt", "ReEncrypt*", "GenerateDataKey*", "Describe*")]
    return json.dumps(
        {
            "Version": "2012-10-17",
            "Statement": [
                {
                    "Sid": f"A{i}{tag}",
                    "Effect": "Allow",
                    "Action": actions[: 1 + i % 5],
                    "Resource": f"arn:aws:kms:*:{ACCOUNT}:key/{tag}{i}",
                }
                for i in range(60)
            ],
        }
    )


SHAPES = [
    (users_policy, "identity"),
    (lambda tag: default_key_policy(f"{abs(hash(tag)) % 10**12:012d}"), "key"),
    (many_statements, "key"),
    (many_patterns, "identity"),
    (a_long_action_list, "identity"),
]


@pytest.mark.parametrize(("make", "kind"), SHAPES)
def test_a_parsed_policy_takes_no_more_than_the_caches_count_for_it(make, kind) -> None:  # type: ignore[no-untyped-def]
    document = make("alone")  # nothing shared with another live policy: the most it can take
    gc.collect()
    tracemalloc.start()
    try:
        before = tracemalloc.get_traced_memory()[0]
        policy = parse_policy(document, name="p", kind=kind)
        gc.collect()
        taken = tracemalloc.get_traced_memory()[0] - before
    finally:
        tracemalloc.stop()
    assert policy.statements
    assert 0 < taken <= parsed_weight(document), (taken, parsed_weight(document))


def test_policies_that_repeat_a_list_share_its_compiled_patterns_while_one_of_them_lives() -> None:
    first = parse_policy(users_policy("alice"), name="p", kind="identity")
    second = parse_policy(users_policy("bob"), name="p", kind="identity")
    assert first.statements[0].actions is second.statements[0].actions
    assert first.statements[0].resources is second.statements[0].resources
    # The same text as an Action (case-insensitive, no variables) and as a Resource is two different sets.
    star_actions = parse_policy(
        '{"Version": "2012-10-17", "Statement": {"Effect": "Allow", "Action": "*", "Resource": "*"}}',
        name="p",
        kind="identity",
    ).statements[0]
    assert star_actions.actions is not star_actions.resources

    shared = weakref.ref(first.statements[0].actions)  # type: ignore[arg-type]
    del first, second, star_actions
    gc.collect()
    assert shared() is None  # the interning keeps nothing alive by itself


def test_shared_patterns_decide_as_their_own_would() -> None:
    """Version 2008-10-17 has no policy variables: the same Resource text must not borrow a 2012 policy's set."""
    text = f"arn:aws:kms:us-east-1:{ACCOUNT}:key/${{aws:username}}"
    documents = {
        version: json.dumps(
            {"Version": version, "Statement": {"Effect": "Allow", "Action": "kms:Encrypt", "Resource": text}}
        )
        for version in ("2012-10-17", "2008-10-17")
    }
    with_variables = parse_policy(documents["2012-10-17"], name="p", kind="identity")
    without = parse_policy(documents["2008-10-17"], name="p", kind="identity")
    assert with_variables.statements[0].resources is not without.statements[0].resources
    lookup = {"aws:username": "alice"}.get
    resource = f"arn:aws:kms:us-east-1:{ACCOUNT}:key/alice"
    assert with_variables.statements[0].resources is not None and without.statements[0].resources is not None
    assert with_variables.statements[0].resources.matches(resource, lookup)
    assert not without.statements[0].resources.matches(resource, lookup)
