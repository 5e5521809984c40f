"""Identity policies: validated when attached; one that cannot be read at request time fails closed."""

from __future__ import annotations

import dataclasses

import pytest

from tests.unit.services import services_for
from trent.api import identity
from trent.api import keys as key_api
from trent.api.authorize import authorize_key
from trent.api.context import RequestContext, Services
from trent.domain.errors import AccessDeniedException
from trent.domain.identities import Caller, PrincipalType
from trent.storage.store import Store

ACCOUNT = "000000000000"
ALLOW_ALL = '{"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "kms:*", "Resource": "*"}]}'
BAD_SID = '{"Statement": [{"Sid": "Deny-Encrypt", "Effect": "Deny", "Action": "kms:Encrypt", "Resource": "*"}]}'


@pytest.fixture
def setup(memory_store: Store) -> tuple[Services, RequestContext, str]:
    store = memory_store
    identity.create_account(store, ACCOUNT)
    services = services_for(store)
    root = RequestContext(caller=Caller.account_root(ACCOUNT, "AKIA"), region="us-east-1", request_id="r")
    key_id = key_api.create_key(services, root, {})["KeyMetadata"]["KeyId"]
    user, access_key = identity.create_user(store, ACCOUNT, "alice")
    identity.put_identity_policy(store, user.arn, "all", ALLOW_ALL)
    caller = Caller(ACCOUNT, user.arn, PrincipalType.USER, user.unique_id, access_key.access_key_id)
    return services, RequestContext(caller=caller, region="us-east-1", request_id="r"), key_id


def test_a_policy_the_evaluator_cannot_read_is_refused_when_attached(
    setup: tuple[Services, RequestContext, str],
) -> None:
    services, ctx, _ = setup
    with pytest.raises(identity.IdentityError, match="Sid"):
        identity.put_identity_policy(services.store, ctx.caller.arn, "deny-encrypt", BAD_SID)


def test_an_unreadable_stored_policy_denies_everything(setup: tuple[Services, RequestContext, str]) -> None:
    services, ctx, key_id = setup
    key = services.store.reader.get_key(ACCOUNT, "us-east-1", key_id)
    assert key is not None
    assert authorize_key(services, ctx, "kms:DescribeKey", key).allowed
    with services.store.transaction() as tx:  # as if edited in the database, past the attach-time check
        tx.identities.put_policy(ctx.caller.arn, "deny-encrypt", BAD_SID)
    for action in ("kms:Encrypt", "kms:DescribeKey"):
        with pytest.raises(AccessDeniedException, match="explicit deny in an identity-based policy"):
            authorize_key(services, ctx, action, key)


def test_a_caller_who_may_not_create_keys_gets_no_policy_parsed_or_kept(
    setup: tuple[Services, RequestContext, str],
) -> None:
    """CreateKey parsed and cached a 32 KB policy before deciding: 17 ms and memory kept per unauthorized call."""
    services, _, _ = setup
    user, access_key = identity.create_user(services.store, ACCOUNT, "nobody")
    caller = Caller(ACCOUNT, user.arn, PrincipalType.USER, user.unique_id, access_key.access_key_id)
    ctx = RequestContext(caller=caller, region="us-east-1", request_id="r")
    before = services.policies._parsed.weight
    for index in range(20):
        policy = (
            '{"Statement": [{"Effect": "Allow", "Principal": "*", "Action": "kms:*", "Resource": "*", "Sid": "%s"}]}'
        )
        with pytest.raises(AccessDeniedException):
            key_api.create_key(services, ctx, {"Policy": policy % (str(index) * 5000)})
    assert services.policies._parsed.weight == before


def test_a_remembered_decision_is_not_used_once_either_policy_changed(
    setup: tuple[Services, RequestContext, str],
) -> None:
    """Decisions are remembered per (action, key, caller): an entry decided under other policies is decided again."""
    services, ctx, key_id = setup
    key = services.store.reader.get_key(ACCOUNT, "us-east-1", key_id)
    assert key is not None
    for _ in range(2):  # the second decision is the remembered one
        assert authorize_key(services, ctx, "kms:Encrypt", key).allowed
    # The key policy no longer lets IAM policies allow anything: the same caller, action and key are refused.
    only_root = (
        '{"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "kms:*", "Resource": "*", '
        '"Principal": {"AWS": "arn:aws:iam::000000000000:user/someone-else"}}]}'
    )
    changed = dataclasses.replace(key, policy=only_root)  # the key as read after a PutKeyPolicy
    with pytest.raises(AccessDeniedException):
        authorize_key(services, ctx, "kms:Encrypt", changed)
    assert authorize_key(services, ctx, "kms:Encrypt", key).allowed  # the first policy's key: allowed again
    # And an identity policy change: a Deny is added to the caller's policies.
    identity.put_identity_policy(
        services.store,
        ctx.caller.arn,
        "no-encrypt",
        '{"Version": "2012-10-17", "Statement": [{"Effect": "Deny", "Action": "kms:Encrypt", "Resource": "*"}]}',
    )
    with pytest.raises(AccessDeniedException, match="explicit deny in an identity-based policy"):
        authorize_key(services, ctx, "kms:Encrypt", key)
