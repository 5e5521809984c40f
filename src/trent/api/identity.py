"""Identities: accounts, users, roles, access keys, and the temporary credentials of AssumeRole."""

from __future__ import annotations

import hmac
import json
import secrets
import string
import time
from collections.abc import Callable
from dataclasses import dataclass

from trent.domain.errors import (
    AccessDeniedException,
    ExpiredTokenException,
    UnrecognizedClientException,
    ValidationException,
)
from trent.domain.identities import (
    AccessKey,
    Caller,
    Principal,
    PrincipalType,
    assumed_role_arn,
    role_arn,
    user_arn,
)
from trent.domain.ids import ACCOUNT_ID_RE, account_root_arn
from trent.domain.policy import PolicyError, check_actions_exist, parse_policy, trust_policy_document
from trent.storage.identities import hash_session_token
from trent.storage.session import StoreConflict
from trent.storage.store import Store, Tx

_ID_ALPHABET = string.ascii_uppercase + "234567"
INVALID_TOKEN = "The security token included in the request is invalid."  # noqa: S105 - an error message
ADMIN_POLICY = json.dumps({"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "*", "Resource": "*"}]})


def random_id(prefix: str, length: int) -> str:
    return prefix + "".join(secrets.choice(_ID_ALPHABET) for _ in range(length - len(prefix)))


def new_secret_key() -> str:
    return secrets.token_urlsafe(30)[:40]


@dataclass(frozen=True)
class NewAccessKey:
    access_key_id: str
    secret_access_key: str
    principal_arn: str


@dataclass(frozen=True)
class TemporaryCredentials:
    access_key_id: str
    secret_access_key: str
    session_token: str
    expiration: float
    assumed_role_arn: str
    assumed_role_id: str


class IdentityError(Exception):
    """An admin request that cannot be carried out (the message says why)."""


def check_account_id(account: str) -> None:
    if not ACCOUNT_ID_RE.fullmatch(account):
        raise IdentityError(f"account ID must be 12 digits, not {account!r}")


def create_account(store: Store, account: str) -> bool:
    check_account_id(account)
    with store.transaction() as tx:
        return tx.identities.add_account(account, time.time())


def _require_account(store: Store, account: str) -> None:
    check_account_id(account)
    with store.transaction(write=False) as tx:
        if not tx.identities.account_exists(account):
            raise IdentityError(f"account {account} does not exist (create it with `trent admin account create`)")


def _check_name(name: str) -> None:
    allowed = set(string.ascii_letters + string.digits + "+=,.@_-")
    if not 1 <= len(name) <= 64 or not set(name) <= allowed:
        raise IdentityError(f"name {name!r} must be 1-64 characters of letters, digits and +=,.@_-")


def create_user(store: Store, account: str, name: str) -> tuple[Principal, NewAccessKey]:
    _require_account(store, account)
    _check_name(name)
    principal = Principal(
        user_arn(account, name), account, PrincipalType.USER, name, random_id("AIDA", 21), None, time.time()
    )
    with store.transaction() as tx:
        try:
            tx.identities.add_principal(principal)
        except StoreConflict:
            raise IdentityError(f"{principal.arn} already exists") from None
        key = _add_access_key(tx, principal.arn)
    return principal, key


def create_role(store: Store, account: str, name: str, trust_policy: str) -> Principal:
    _require_account(store, account)
    _check_name(name)
    try:
        parse_policy(trust_policy_document(trust_policy), name="trust policy", kind="resource")
    except PolicyError as exc:
        raise IdentityError(f"the trust policy is not valid: {exc}") from None
    principal = Principal(
        role_arn(account, name),
        account,
        PrincipalType.ROLE,
        name,
        random_id("AROA", 21),
        trust_policy,
        time.time(),
    )
    with store.transaction() as tx:
        try:
            tx.identities.add_principal(principal)
        except StoreConflict:
            raise IdentityError(f"{principal.arn} already exists") from None
    return principal


def _add_access_key(tx: Tx, principal_arn: str) -> NewAccessKey:
    key = AccessKey(random_id("AKIA", 20), principal_arn, new_secret_key(), time.time())
    tx.identities.add_access_key(key)
    return NewAccessKey(key.access_key_id, key.secret, principal_arn)


def create_access_key(store: Store, principal_arn: str) -> NewAccessKey:
    with store.transaction() as tx:
        principal = tx.identities.get_principal(principal_arn)
        if principal is None:
            raise IdentityError(f"{principal_arn} does not exist")
        if principal.type is PrincipalType.ROLE:
            raise IdentityError("roles have no access keys; assume the role with STS AssumeRole")
        return _add_access_key(tx, principal_arn)


def delete_access_key(store: Store, access_key_id: str) -> None:
    """Delete an access key: requests signed with it are refused from the next request on, in every process."""
    with store.transaction() as tx:
        if not tx.identities.delete_access_key(access_key_id):
            raise IdentityError(f"access key {access_key_id} does not exist")
        tx.console.end_for_access_key(access_key_id)


def delete_identity_policy(store: Store, principal_arn: str, policy_name: str) -> None:
    """Detach an inline identity policy; it stops applying from the next request on, in every process."""
    with store.transaction() as tx:
        if not tx.identities.delete_policy(principal_arn, policy_name):
            raise IdentityError(f"{principal_arn} has no identity policy named {policy_name}")


def put_identity_policy(store: Store, principal_arn: str, policy_name: str, document: str) -> None:
    """Attach (or replace) an identity policy. It must parse as an IAM identity policy now: a policy that could
    not be read at request time could not apply its Denies."""
    try:
        json.loads(document)
    except (ValueError, RecursionError):
        raise IdentityError("the policy document is not valid JSON") from None
    try:
        parse_policy(document, name=policy_name, kind="identity")
        check_actions_exist(document)
    except PolicyError as exc:
        raise IdentityError(f"the policy document is not valid: {exc}") from None
    with store.transaction() as tx:
        principal = tx.identities.get_principal(principal_arn)
        if principal is None or principal.type not in (PrincipalType.USER, PrincipalType.ROLE):
            raise IdentityError(f"{principal_arn} is not an existing user or role")
        tx.identities.put_policy(principal_arn, policy_name, document)


# --- authentication ---------------------------------------------------------------------------------
@dataclass(frozen=True)
class Credential:
    """What an access key ID stands for: the secret to verify signatures with and the caller it makes."""

    secret: str
    caller: Caller
    session_token_hash: bytes | None
    expiration: float | None

    def check_session_token(self, token: str | None, now: float) -> None:
        """Temporary credentials need their session token; long-term ones must come without one."""
        if self.session_token_hash is None:
            if token is not None:
                raise UnrecognizedClientException(INVALID_TOKEN)
            return
        if token is None or not hmac.compare_digest(hash_session_token(token), self.session_token_hash):
            raise UnrecognizedClientException(INVALID_TOKEN)
        if self.expiration is not None and now >= self.expiration:
            raise ExpiredTokenException("The security token included in the request is expired")


def load_credential(store: Store, access_key_id: str) -> Credential | None:
    with store.transaction(write=False) as tx:
        key = tx.identities.get_access_key(access_key_id)
        if key is None or key.status != "Active":  # an Inactive key is refused as an unknown one, as AWS does
            return None
        if key.session_name is not None:
            role = tx.identities.get_principal(key.principal_arn)
            if role is None:
                return None
            caller = Caller(
                account=role.account,
                arn=assumed_role_arn(role.account, role.name, key.session_name),
                type=PrincipalType.ASSUMED_ROLE,
                user_id=f"{role.unique_id}:{key.session_name}",
                access_key_id=access_key_id,
                role_arn=role.arn,
            )
        else:
            principal = tx.identities.get_principal(key.principal_arn)
            if principal is None:
                return None
            if principal.type is PrincipalType.ROOT:
                caller = Caller.account_root(principal.account, access_key_id)
            else:
                caller = Caller(
                    account=principal.account,
                    arn=principal.arn,
                    type=principal.type,
                    user_id=principal.unique_id,
                    access_key_id=access_key_id,
                    user_name=principal.name,
                )
    return Credential(key.secret, caller, key.session_token_hash, key.expiration)


# --- STS AssumeRole ---------------------------------------------------------------------------------
def assume_role(
    store: Store,
    caller: Caller,
    role: str,
    session_name: str,
    duration: int,
    now: float,
    trust_allows: Callable[[Principal], bool],
) -> TemporaryCredentials:
    """Issue temporary credentials for `role` if `trust_allows(role)` (its trust policy, with the caller's
    identity policies, lets the caller assume it).

    :raises AccessDeniedException: unknown role, or a trust policy that does not allow the caller.
    """
    denied = AccessDeniedException(
        f"User: {caller.arn} is not authorized to perform: sts:AssumeRole on resource: {role}"
    )
    if caller.type is PrincipalType.ROOT:
        raise AccessDeniedException("Roles may not be assumed by root accounts.")
    if caller.type is PrincipalType.ASSUMED_ROLE and duration > 3600:
        raise ValidationException(
            "The requested DurationSeconds exceeds the 1 hour session limit for roles assumed by role chaining."
        )
    with store.transaction() as tx:
        principal = tx.identities.get_principal(role)
        if principal is None or principal.type is not PrincipalType.ROLE or principal.trust_policy is None:
            raise denied
        if not trust_allows(principal):
            raise denied
        token = secrets.token_urlsafe(96)
        key = AccessKey(
            access_key_id=random_id("ASIA", 20),
            principal_arn=principal.arn,
            secret=new_secret_key(),
            created=now,
            session_token_hash=hash_session_token(token),
            session_name=session_name,
            expiration=now + duration,
        )
        tx.identities.add_access_key(key)
    return TemporaryCredentials(
        key.access_key_id,
        key.secret,
        token,
        now + duration,
        assumed_role_arn(principal.account, principal.name, session_name),
        f"{principal.unique_id}:{session_name}",
    )


def root_caller(account: str, access_key_id: str) -> Caller:
    return Caller(account, account_root_arn(account), PrincipalType.ROOT, account, access_key_id)
