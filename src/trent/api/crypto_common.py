"""What every cryptographic operation does before its cryptography: find the key, check its state, its
usage and the algorithm, refuse what Trent does not support, and honour DryRun."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from trent.api.authorize import GrantUse
from trent.api.common import resolve_key
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
    context: Mapping[str, Any] | None = None,
    action: str | None = None,
    grants: GrantUse | None = None,
) -> Key:
    """The key named by `raw_key_id` (aliases allowed), authorized and usable now for `operation`.

    `action` defaults to ``kms:<operation>``; `context` holds the operation's condition keys.

    :raises NotFoundException, AccessDeniedException, DisabledException, KMSInvalidStateException,
        InvalidKeyUsageException:
    """
    key = resolve_key(
        services.store.reader,
        services,
        ctx,
        raw_key_id,
        action=action or f"kms:{operation}",
        allow_alias=True,
        context=context,
        grants=grants,
    )
    check_usable_for(key, operation, usage)
    return key


def check_usable_for(key: Key, operation: str, usage: KeyUsage) -> None:
    key.require_usable()
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
