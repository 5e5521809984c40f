"""What every cryptographic operation does before its cryptography: find the key, check its state, its
usage and the algorithm, refuse what Trent does not support, and honour DryRun."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from trent.api.authorize import key_for
from trent.api.context import Request, RequestContext, Services
from trent.domain.errors import (
    DryRunOperationException,
    InvalidKeyUsageException,
    UnsupportedOperationException,
)
from trent.domain.keys import Key
from trent.domain.keyspec import KeyUsage


def key_for_use(
    services: Services,
    ctx: RequestContext,
    raw_key_id: str,
    *,
    operation: str,
    usage: KeyUsage,
    facts: Mapping[str, Any] | None = None,
    encryption_context: Mapping[str, str] | None = None,
    tokens: Sequence[str] = (),
) -> Key:
    """The key named by `raw_key_id` (aliases allowed), authorized for ``kms:<operation>`` and usable now.

    `facts` holds the operation's condition keys; `encryption_context` and `tokens` are what grants see.

    :raises NotFoundException, AccessDeniedException, DisabledException, KMSInvalidStateException,
        InvalidKeyUsageException:
    """
    key = key_for(
        services.reads,
        services,
        ctx,
        raw_key_id,
        action=f"kms:{operation}",
        allow_alias=True,
        facts=facts,
        encryption_context=encryption_context,
        tokens=tokens,
    )
    check_usable_for(key, operation, usage)
    return key


def check_usable_for(key: Key, operation: str, usage: KeyUsage) -> None:
    key.require_state_for(operation)
    if key.usage is not usage:
        raise InvalidKeyUsageException(f"{key.arn} key usage is {key.usage} which is not valid for {operation}.")


def check_algorithm(key: Key, algorithm: str, allowed: tuple[str, ...]) -> None:
    if algorithm not in allowed:
        raise InvalidKeyUsageException(f"Algorithm {algorithm} is incompatible with key spec {key.spec_name}.")


def refuse_recipient(req: Request) -> None:
    if "Recipient" in req:
        raise UnsupportedOperationException(
            "Trent does not support Recipient: attested requests from AWS Nitro Enclaves need AWS's attestation."
        )


def finish_dry_run(req: Request) -> None:
    """Raise DryRunOperationException when DryRun is set: call once every check has passed."""
    if req.get("DryRun"):
        raise DryRunOperationException()
