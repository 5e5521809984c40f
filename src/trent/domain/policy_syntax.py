"""Syntax checks of key policy documents (the evaluator arrives with the authorization layer)."""

from __future__ import annotations

import json

from trent.domain.errors import LimitExceededException, MalformedPolicyDocumentException

MAX_KEY_POLICY_BYTES = 32 * 1024


def check_key_policy(document: str) -> None:
    """Refuse documents AWS refuses: too large, not JSON, not an object with statements.

    :raises LimitExceededException: over 32 KB.
    :raises MalformedPolicyDocumentException: with a message saying what is wrong.
    """
    if len(document.encode()) > MAX_KEY_POLICY_BYTES:
        raise LimitExceededException(f"The key policy exceeds the maximum size of {MAX_KEY_POLICY_BYTES} bytes.")
    try:
        policy = json.loads(document)
    except RecursionError:
        raise MalformedPolicyDocumentException("The policy is not valid: it nests too deeply.") from None
    except json.JSONDecodeError as exc:
        raise MalformedPolicyDocumentException(
            f"The policy is not valid JSON: {exc.msg} at line {exc.lineno} column {exc.colno}."
        ) from None
    if not isinstance(policy, dict):
        raise MalformedPolicyDocumentException("The policy must be a JSON object.")
    statements = policy.get("Statement")
    if isinstance(statements, dict):
        statements = [statements]
    if not isinstance(statements, list) or not statements:
        raise MalformedPolicyDocumentException("The policy must contain a Statement.")
    for index, statement in enumerate(statements, 1):
        if not isinstance(statement, dict):
            raise MalformedPolicyDocumentException(f"Statement {index} must be a JSON object.")
        if statement.get("Effect") not in ("Allow", "Deny"):
            raise MalformedPolicyDocumentException(f"Statement {index} must have Effect Allow or Deny.")
        if "Principal" not in statement and "NotPrincipal" not in statement:
            raise MalformedPolicyDocumentException(f"Statement {index} has no Principal.")
