"""Role trust policies: may this caller assume this role?

An interim evaluator covering Principal/NotPrincipal-free statements with Effect, Action and Principal.
Statements with a Condition are not understood yet: an Allow with a Condition never applies and a Deny
with a Condition always applies (fail closed). The authorization layer replaces this with the full
policy-language evaluator.
"""

from __future__ import annotations

import fnmatch
import json
from typing import Any

from trent.domain.errors import MalformedPolicyDocument
from trent.domain.identities import Caller, PrincipalType


def check_trust_policy(document: str) -> dict[str, Any]:
    try:
        policy = json.loads(document)
    except ValueError:
        raise MalformedPolicyDocument("The trust policy is not valid JSON.") from None
    if not isinstance(policy, dict) or "Statement" not in policy:
        raise MalformedPolicyDocument("The trust policy must be a JSON object with a Statement.")
    return policy


def _as_list(value: Any) -> list[Any]:
    return value if isinstance(value, list) else [value]


def _principal_matches(principal: Any, caller: Caller) -> bool:
    if principal == "*":
        return True
    if not isinstance(principal, dict):
        return False
    for entry in _as_list(principal.get("AWS", [])):
        if entry == "*":
            return True
        if entry in (caller.account, f"arn:aws:iam::{caller.account}:root"):
            return True
        if entry == caller.arn or (caller.type is PrincipalType.ASSUMED_ROLE and entry == caller.role_arn):
            return True
    return False


def _action_matches(actions: Any, action: str) -> bool:
    return any(fnmatch.fnmatchcase(action.lower(), str(a).lower()) for a in _as_list(actions))


def trust_allows(document: str, caller: Caller, action: str = "sts:AssumeRole") -> bool:
    policy = check_trust_policy(document)
    allowed = False
    for statement in _as_list(policy["Statement"]):
        if not isinstance(statement, dict):
            continue
        if not _action_matches(statement.get("Action", []), action):
            continue
        if not _principal_matches(statement.get("Principal"), caller):
            continue
        has_condition = bool(statement.get("Condition"))
        if statement.get("Effect") == "Deny":
            return False
        if statement.get("Effect") == "Allow" and not has_condition:
            allowed = True
    return allowed
