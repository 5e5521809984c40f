"""The IAM API on Trent's endpoint: users, their access keys and tags, roles, and the inline policies of both.

Requests arrive validated against botocore's `iam` model (`trent.edge.iam`); each handler returns the members of
its response. Everything happens in the caller's own account (IAM has no cross-account calls), is authorized by
the caller's identity policies (`iam:<Action>` on the user's or role's ARN; an account root may do everything in
its account), and takes effect at once on every worker and node: each change is written to the change feed, and
a deleted or Inactive access key, a deleted user or role, or a changed policy is refused or applied from the next
request on (docs/identities.md).
"""

from __future__ import annotations

import json
import re
import urllib.parse
from collections.abc import Callable, Mapping
from typing import Any

from trent.api.authorize import authorize_iam, hosted_principal_exists
from trent.api.context import Request, RequestContext, Response, Services, record_change
from trent.api.identity import new_secret_key, random_id
from trent.domain.errors import (
    DeleteConflict,
    EntityAlreadyExists,
    LimitExceeded,
    MalformedPolicyDocument,
    NoSuchEntity,
    ValidationException,
    check_storable,
)
from trent.domain.identities import AccessKey, Principal, PrincipalType, role_arn, user_arn
from trent.domain.policy import PolicyError, check_actions_exist, parse_policy, trust_policy_document
from trent.storage.session import StoreConflict
from trent.storage.store import Tx

MAX_ACCESS_KEYS_PER_USER = 2
MAX_TAGS_PER_USER = 50
DEFAULT_MAX_ITEMS = 100
ACTIVE, INACTIVE = "Active", "Inactive"
_PATH_ONLY = "/"
_RESERVED_TAG = re.compile(r"aws:", re.IGNORECASE)


# --- helpers -------------------------------------------------------------------------------------------------------
def _authorize(services: Services, ctx: RequestContext, action: str, resource: str) -> None:
    authorize_iam(services, ctx, f"iam:{action}", resource)


def _user_name(ctx: RequestContext, req: Request) -> str:
    """The UserName of the request, or the caller's own (AWS's rule for the access-key operations and GetUser)."""
    name = req.get("UserName")
    if name is not None:
        return str(name)
    if ctx.caller.user_name is None:
        raise ValidationException("Must specify userName when calling with non-User credentials")
    return ctx.caller.user_name


def _user(tx: Tx, ctx: RequestContext, name: str, *, for_update: bool = False) -> Principal:
    principal = tx.identities.get_principal(user_arn(ctx.caller.account, name), for_update=for_update)
    if principal is None or principal.type is not PrincipalType.USER:
        raise NoSuchEntity(f"The user with name {name} cannot be found.")
    return principal


def _role(tx: Tx, ctx: RequestContext, name: str) -> Principal:
    principal = tx.identities.get_principal(role_arn(ctx.caller.account, name))
    if principal is None or principal.type is not PrincipalType.ROLE:
        raise NoSuchEntity(f"The role with name {name} cannot be found.")
    return principal


def _check_path(req: Request) -> None:
    if req.get("Path", _PATH_ONLY) != _PATH_ONLY or req.get("PathPrefix", _PATH_ONLY) != _PATH_ONLY:
        raise ValidationException("Trent supports the path / only: its users' and roles' ARNs have no path.")
    if "PermissionsBoundary" in req:
        raise ValidationException("Trent does not support permissions boundaries.")


def _user_member(principal: Principal, tags: Mapping[str, str] | None = None) -> dict[str, Any]:
    member: dict[str, Any] = {
        "Path": _PATH_ONLY,
        "UserName": principal.name,
        "UserId": principal.unique_id,
        "Arn": principal.arn,
        "CreateDate": principal.created,
    }
    if tags:
        member["Tags"] = _tag_list(tags)
    return member


def _role_member(principal: Principal) -> dict[str, Any]:
    return {
        "Path": _PATH_ONLY,
        "RoleName": principal.name,
        "RoleId": principal.unique_id,
        "Arn": principal.arn,
        "CreateDate": principal.created,
        # URL-encoded, as AWS sends policy documents (boto3 decodes them).
        "AssumeRolePolicyDocument": urllib.parse.quote(principal.trust_policy or "", safe=""),
        "MaxSessionDuration": 3600,
    }


def _tag_list(tags: Mapping[str, str]) -> list[dict[str, str]]:
    return [{"Key": k, "Value": v} for k, v in sorted(tags.items())]


def _new_tags(tags: list[dict[str, str]], existing: Mapping[str, str]) -> dict[str, str]:
    new: dict[str, str] = {}
    for tag in tags:
        check_storable(tag["Key"], "tags.member.key")
        check_storable(tag["Value"], "tags.member.value")
        if _RESERVED_TAG.match(tag["Key"]):
            raise ValidationException("Tag keys starting with 'aws:' are reserved for internal AWS use")
        if tag["Key"] in new:
            raise ValidationException("Duplicate tag keys found. Please note that Tag keys are case insensitive.")
        new[tag["Key"]] = tag["Value"]
    if len({**existing, **new}) > MAX_TAGS_PER_USER:
        raise LimitExceeded(f"The number of tags has reached the maximum limit of {MAX_TAGS_PER_USER}.")
    return new


def _policy_document(document: str, *, trust: bool = False) -> str:
    """A policy as IAM takes it: JSON that Trent's policy engine reads (it would be refused at use otherwise)."""
    try:
        json.loads(document)
        if trust:
            parse_policy(trust_policy_document(document), name="trust policy", kind="resource")
        else:
            parse_policy(document, name="identity policy", kind="identity")
            check_actions_exist(document)
    except (ValueError, RecursionError):
        raise MalformedPolicyDocument("This policy contains invalid Json") from None
    except PolicyError as exc:
        raise MalformedPolicyDocument(str(exc)) from None
    return document


def _check_trust_principals(services: Services, document: str) -> None:
    """A trust policy may name only principals that exist (in the accounts Trent hosts), as AWS refuses
    `Invalid principal in policy`: a trust set up in advance would pass to whoever gets the name later."""
    policy = parse_policy(trust_policy_document(document), name="trust policy", kind="resource")
    for statement in policy.statements:
        named = statement.principals
        if named is None:
            continue
        for arn in (*named.arns, *named.roles):
            if not hosted_principal_exists(services, arn):
                raise MalformedPolicyDocument(f'Invalid principal in policy: "AWS":"{arn}"')


def _page(
    services: Services, kind: str, scope: str, req: Request, fetch: Callable[[str | None, int], list[Any]], key: Any
) -> tuple[list[Any], dict[str, Any]]:
    """IAM's paging: MaxItems (default 100) and Marker in, IsTruncated and Marker out."""
    limit = int(req.get("MaxItems", DEFAULT_MAX_ITEMS))
    marker = req.get("Marker")
    after = services.markers.decode(kind, scope, marker) if marker is not None else None
    items = fetch(after, limit + 1)
    if len(items) > limit:
        items = items[:limit]
        return items, {"IsTruncated": True, "Marker": services.markers.encode(kind, scope, key(items[-1]))}
    return items, {"IsTruncated": False}


# --- users ---------------------------------------------------------------------------------------------------------
def create_user(services: Services, ctx: RequestContext, req: Request) -> Response:
    _check_path(req)
    name, account = req["UserName"], ctx.caller.account
    arn = user_arn(account, name)
    _authorize(services, ctx, "CreateUser", arn)
    if "Tags" in req:
        _authorize(services, ctx, "TagUser", arn)
    tags = _new_tags(req.get("Tags", []), {})
    principal = Principal(arn, account, PrincipalType.USER, name, random_id("AIDA", 21), None, services.clock())
    with services.store.transaction() as tx:
        if tx.identities.name_taken(account, PrincipalType.USER, name):
            raise EntityAlreadyExists(f"User with name {name} already exists.")
        try:
            tx.identities.add_principal(principal)
        except StoreConflict:
            raise EntityAlreadyExists(f"User with name {name} already exists.") from None
        tx.identities.put_tags(arn, tags)
        record_change(services, tx, ctx)
    return {"User": _user_member(principal, tags)}


def get_user(services: Services, ctx: RequestContext, req: Request) -> Response:
    if "UserName" not in req and ctx.caller.type is PrincipalType.ROOT:
        _authorize(services, ctx, "GetUser", ctx.caller.arn)
        return {"User": {"UserId": ctx.caller.account, "Arn": ctx.caller.arn, "Path": _PATH_ONLY}}
    name = _user_name(ctx, req)
    _authorize(services, ctx, "GetUser", user_arn(ctx.caller.account, name))
    with services.store.transaction(write=False) as tx:
        principal = _user(tx, ctx, name)
        return {"User": _user_member(principal, tx.identities.tags(principal.arn))}


def list_users(services: Services, ctx: RequestContext, req: Request) -> Response:
    _check_path(req)
    account = ctx.caller.account
    _authorize(services, ctx, "ListUsers", f"arn:aws:iam::{account}:user/")
    with services.store.transaction(write=False) as tx:
        users, more = _page(
            services,
            "iam-users",
            account,
            req,
            lambda after, limit: tx.identities.principals_page(account, PrincipalType.USER, after, limit),
            lambda principal: principal.name,
        )
    return {"Users": [_user_member(p) for p in users], **more}


def delete_user(services: Services, ctx: RequestContext, req: Request) -> Response:
    name = req["UserName"]
    _authorize(services, ctx, "DeleteUser", user_arn(ctx.caller.account, name))
    with services.store.transaction() as tx:
        principal = _user(tx, ctx, name)
        # As AWS: what hangs on a user must be deleted first, so that nothing is deleted by surprise.
        if tx.identities.access_keys_of(principal.arn):
            raise DeleteConflict("Cannot delete entity, must delete access keys first.")
        if tx.identities.policies(principal.arn):
            raise DeleteConflict("Cannot delete entity, must delete policies first.")
        _delete_principal(tx, principal)
        record_change(services, tx, ctx)
    return {}


def _delete_principal(tx: Tx, principal: Principal) -> None:
    """Delete a user or role. Its grants stay, naming it by its unique ID (AWS's rule: a new principal of the same
    name does not inherit them)."""
    tx.grants.forget_principal(principal.arn, principal.unique_id)
    if principal.type is PrincipalType.ROLE:  # and the grants naming its sessions
        tx.grants.forget_role_sessions(principal.arn, principal.unique_id)
    tx.console.end_for_principal(principal.arn)
    # Trust policies naming it name its unique ID from now on, as AWS rewrites them: a namesake is not trusted.
    quoted = json.dumps(principal.arn)
    for role in tx.identities.principals_page(principal.account, PrincipalType.ROLE, None, 100_000):
        if role.trust_policy is not None and quoted in role.trust_policy:
            tx.identities.set_trust_policy(role.arn, role.trust_policy.replace(quoted, json.dumps(principal.unique_id)))
    tx.identities.delete_principal(principal.arn)


def tag_user(services: Services, ctx: RequestContext, req: Request) -> Response:
    name = req["UserName"]
    _authorize(services, ctx, "TagUser", user_arn(ctx.caller.account, name))
    with services.store.transaction() as tx:
        principal = _user(tx, ctx, name)
        tx.identities.put_tags(principal.arn, _new_tags(req["Tags"], tx.identities.tags(principal.arn)))
        record_change(services, tx, ctx)
    return {}


def untag_user(services: Services, ctx: RequestContext, req: Request) -> Response:
    name = req["UserName"]
    _authorize(services, ctx, "UntagUser", user_arn(ctx.caller.account, name))
    with services.store.transaction() as tx:
        principal = _user(tx, ctx, name)
        tx.identities.delete_tags(principal.arn, list(req["TagKeys"]))
        record_change(services, tx, ctx)
    return {}


def list_user_tags(services: Services, ctx: RequestContext, req: Request) -> Response:
    name = req["UserName"]
    _authorize(services, ctx, "ListUserTags", user_arn(ctx.caller.account, name))
    with services.store.transaction(write=False) as tx:
        principal = _user(tx, ctx, name)
        return {"Tags": _tag_list(tx.identities.tags(principal.arn)), "IsTruncated": False}


# --- access keys ---------------------------------------------------------------------------------------------------
def create_access_key(services: Services, ctx: RequestContext, req: Request) -> Response:
    name = _user_name(ctx, req)
    _authorize(services, ctx, "CreateAccessKey", user_arn(ctx.caller.account, name))
    with services.store.transaction() as tx:
        principal = _user(tx, ctx, name, for_update=True)  # concurrent calls count one after the other
        if len(tx.identities.access_keys_of(principal.arn)) >= MAX_ACCESS_KEYS_PER_USER:
            raise LimitExceeded(f"Cannot exceed quota for AccessKeysPerUser: {MAX_ACCESS_KEYS_PER_USER}")
        key = AccessKey(random_id("AKIA", 20), principal.arn, new_secret_key(), services.clock())
        tx.identities.add_access_key(key)
        record_change(services, tx, ctx)  # without its response: the secret is never audited
    return {
        "AccessKey": {
            "UserName": name,
            "AccessKeyId": key.access_key_id,
            "Status": ACTIVE,
            "SecretAccessKey": key.secret,
            "CreateDate": key.created,
        }
    }


def _own_key(tx: Tx, principal: Principal, access_key_id: str) -> None:
    if access_key_id not in {key_id for key_id, _, _ in tx.identities.access_keys_of(principal.arn)}:
        raise NoSuchEntity(f"The Access Key with id {access_key_id} cannot be found.")


def get_access_key_last_used(services: Services, ctx: RequestContext, req: Request) -> Response:
    access_key_id = req["AccessKeyId"]
    services.key_usage.write(force=True)  # this process's uses are in the answer; other workers' within a minute
    with services.store.transaction(write=False) as tx:
        key = tx.identities.get_access_key(access_key_id)
        principal = None if key is None else tx.identities.get_principal(key.principal_arn)
        if key is None or principal is None or principal.account != ctx.caller.account or key.session_name:
            # Not said apart from a key of another account, so that key IDs cannot be probed.
            _authorize(services, ctx, "GetAccessKeyLastUsed", "*")
            raise NoSuchEntity(f"The Access Key with id {access_key_id} cannot be found.")
        _authorize(services, ctx, "GetAccessKeyLastUsed", principal.arn)
        used = tx.identities.last_used(access_key_id)
    last_used: dict[str, Any] = {"ServiceName": "N/A", "Region": "N/A"}  # AWS's answer for a key never used
    if used is not None:
        last_used = {"LastUsedDate": used[0], "ServiceName": used[2], "Region": used[1]}
    response: dict[str, Any] = {"AccessKeyLastUsed": last_used}
    if principal.type is PrincipalType.USER:
        response["UserName"] = principal.name
    return response


def list_access_keys(services: Services, ctx: RequestContext, req: Request) -> Response:
    name = _user_name(ctx, req)
    _authorize(services, ctx, "ListAccessKeys", user_arn(ctx.caller.account, name))
    with services.store.transaction(write=False) as tx:
        principal = _user(tx, ctx, name)
        keys = tx.identities.access_keys_of(principal.arn)
    metadata = [
        {"UserName": name, "AccessKeyId": key_id, "Status": status, "CreateDate": created}
        for key_id, status, created in keys
    ]
    return {"AccessKeyMetadata": metadata, "IsTruncated": False}


def update_access_key(services: Services, ctx: RequestContext, req: Request) -> Response:
    name = _user_name(ctx, req)
    _authorize(services, ctx, "UpdateAccessKey", user_arn(ctx.caller.account, name))
    with services.store.transaction() as tx:
        principal = _user(tx, ctx, name)
        _own_key(tx, principal, req["AccessKeyId"])
        tx.identities.set_access_key_status(req["AccessKeyId"], req["Status"])
        if req["Status"] == INACTIVE:  # its console sessions end too, for good (not back when it is Active again)
            tx.console.end_for_access_key(req["AccessKeyId"])
        record_change(services, tx, ctx)
    return {}


def delete_access_key(services: Services, ctx: RequestContext, req: Request) -> Response:
    name = _user_name(ctx, req)
    _authorize(services, ctx, "DeleteAccessKey", user_arn(ctx.caller.account, name))
    with services.store.transaction() as tx:
        principal = _user(tx, ctx, name)
        _own_key(tx, principal, req["AccessKeyId"])
        tx.identities.delete_access_key(req["AccessKeyId"])
        tx.console.end_for_access_key(req["AccessKeyId"])
        record_change(services, tx, ctx)
    return {}


# --- inline policies -----------------------------------------------------------------------------------------------
def _policy_handlers(kind: str, find: Callable[[Tx, RequestContext, str], Principal]) -> dict[str, Any]:
    """Put/Get/List/Delete<Kind>Policy: the same for users and roles."""
    member = f"{kind}Name"
    arn_of = user_arn if kind == "User" else role_arn

    def put(services: Services, ctx: RequestContext, req: Request) -> Response:
        _authorize(services, ctx, f"Put{kind}Policy", arn_of(ctx.caller.account, req[member]))
        document = _policy_document(req["PolicyDocument"])
        with services.store.transaction() as tx:
            principal = find(tx, ctx, req[member])
            tx.identities.put_policy(principal.arn, req["PolicyName"], document)
            record_change(services, tx, ctx)
        return {}

    def get(services: Services, ctx: RequestContext, req: Request) -> Response:
        _authorize(services, ctx, f"Get{kind}Policy", arn_of(ctx.caller.account, req[member]))
        with services.store.transaction(write=False) as tx:
            principal = find(tx, ctx, req[member])
            document = tx.identities.policies(principal.arn).get(req["PolicyName"])
        if document is None:
            raise NoSuchEntity(f"The {kind.lower()} policy with name {req['PolicyName']} cannot be found.")
        return {
            member: principal.name,
            "PolicyName": req["PolicyName"],
            "PolicyDocument": urllib.parse.quote(document, safe=""),
        }

    def list_(services: Services, ctx: RequestContext, req: Request) -> Response:
        _authorize(services, ctx, f"List{kind}Policies", arn_of(ctx.caller.account, req[member]))
        with services.store.transaction(write=False) as tx:
            principal = find(tx, ctx, req[member])
            names = sorted(tx.identities.policies(principal.arn))
        return {"PolicyNames": names, "IsTruncated": False}

    def delete(services: Services, ctx: RequestContext, req: Request) -> Response:
        _authorize(services, ctx, f"Delete{kind}Policy", arn_of(ctx.caller.account, req[member]))
        with services.store.transaction() as tx:
            principal = find(tx, ctx, req[member])
            if not tx.identities.delete_policy(principal.arn, req["PolicyName"]):
                raise NoSuchEntity(f"The {kind.lower()} policy with name {req['PolicyName']} cannot be found.")
            record_change(services, tx, ctx)
        return {}

    return {
        f"Put{kind}Policy": put,
        f"Get{kind}Policy": get,
        f"List{kind}Policies": list_,
        f"Delete{kind}Policy": delete,
    }


# --- roles ---------------------------------------------------------------------------------------------------------
def create_role(services: Services, ctx: RequestContext, req: Request) -> Response:
    _check_path(req)
    name, account = req["RoleName"], ctx.caller.account
    arn = role_arn(account, name)
    _authorize(services, ctx, "CreateRole", arn)
    if "Tags" in req:
        raise ValidationException("Trent does not support tags on roles.")
    trust = _policy_document(req["AssumeRolePolicyDocument"], trust=True)
    _check_trust_principals(services, trust)
    principal = Principal(arn, account, PrincipalType.ROLE, name, random_id("AROA", 21), trust, services.clock())
    with services.store.transaction() as tx:
        if tx.identities.name_taken(account, PrincipalType.ROLE, name):
            raise EntityAlreadyExists(f"Role with name {name} already exists.")
        try:
            tx.identities.add_principal(principal)
        except StoreConflict:
            raise EntityAlreadyExists(f"Role with name {name} already exists.") from None
        record_change(services, tx, ctx)
    return {"Role": _role_member(principal)}


def get_role(services: Services, ctx: RequestContext, req: Request) -> Response:
    _authorize(services, ctx, "GetRole", role_arn(ctx.caller.account, req["RoleName"]))
    with services.store.transaction(write=False) as tx:
        return {"Role": _role_member(_role(tx, ctx, req["RoleName"]))}


def list_roles(services: Services, ctx: RequestContext, req: Request) -> Response:
    _check_path(req)
    account = ctx.caller.account
    _authorize(services, ctx, "ListRoles", f"arn:aws:iam::{account}:role/")
    with services.store.transaction(write=False) as tx:
        roles, more = _page(
            services,
            "iam-roles",
            account,
            req,
            lambda after, limit: tx.identities.principals_page(account, PrincipalType.ROLE, after, limit),
            lambda principal: principal.name,
        )
    return {"Roles": [_role_member(p) for p in roles], **more}


def update_assume_role_policy(services: Services, ctx: RequestContext, req: Request) -> Response:
    _authorize(services, ctx, "UpdateAssumeRolePolicy", role_arn(ctx.caller.account, req["RoleName"]))
    trust = _policy_document(req["PolicyDocument"], trust=True)
    _check_trust_principals(services, trust)
    with services.store.transaction() as tx:
        tx.identities.set_trust_policy(_role(tx, ctx, req["RoleName"]).arn, trust)
        record_change(services, tx, ctx)
    return {}


def delete_role(services: Services, ctx: RequestContext, req: Request) -> Response:
    _authorize(services, ctx, "DeleteRole", role_arn(ctx.caller.account, req["RoleName"]))
    with services.store.transaction() as tx:
        principal = _role(tx, ctx, req["RoleName"])
        if tx.identities.policies(principal.arn):
            raise DeleteConflict("Cannot delete entity, must delete policies first.")
        _delete_principal(tx, principal)  # its sessions end with it
        record_change(services, tx, ctx)
    return {}


# --- the account at a glance --------------------------------------------------------------------------------------
def get_account_authorization_details(services: Services, ctx: RequestContext, req: Request) -> Response:
    """Every user and role of the account with its inline policies (and a user's tags): what an operator audits.
    Users come first, then roles, each by name; paged with MaxItems/Marker over that one sequence."""
    account = ctx.caller.account
    _authorize(services, ctx, "GetAccountAuthorizationDetails", "*")
    wanted = set(req.get("Filter") or ("User", "Role"))

    def fetch(after: str | None, limit: int) -> list[Principal]:
        found: list[Principal] = []
        after_kind, _, after_name = (after or "").partition(":")
        for kind, code in ((PrincipalType.USER, "User"), (PrincipalType.ROLE, "Role")):
            if code not in wanted or (after_kind == "Role" and code == "User"):
                continue
            start = after_name if after_kind == code else None
            found += tx.identities.principals_page(account, kind, start, limit - len(found))
            if len(found) >= limit:
                break
        return found

    def position(principal: Principal) -> str:
        return f"{'User' if principal.type is PrincipalType.USER else 'Role'}:{principal.name}"

    with services.store.transaction(write=False) as tx:
        principals, more = _page(services, "iam-details", account, req, fetch, position)
        users, roles = [], []
        for principal in principals:
            policies = [
                {"PolicyName": name, "PolicyDocument": urllib.parse.quote(document, safe="")}
                for name, document in sorted(tx.identities.policies(principal.arn).items())
            ]
            if principal.type is PrincipalType.USER:
                tags = tx.identities.tags(principal.arn)
                users.append({**_user_member(principal, tags), "UserPolicyList": policies})
            else:
                roles.append({**_role_member(principal), "RolePolicyList": policies})
    return {"UserDetailList": users, "RoleDetailList": roles, "GroupDetailList": [], "Policies": [], **more}


IAM_HANDLERS: dict[str, Callable[[Services, RequestContext, Request], Response]] = {
    "CreateUser": create_user,
    "GetUser": get_user,
    "ListUsers": list_users,
    "DeleteUser": delete_user,
    "TagUser": tag_user,
    "UntagUser": untag_user,
    "ListUserTags": list_user_tags,
    "CreateAccessKey": create_access_key,
    "ListAccessKeys": list_access_keys,
    "UpdateAccessKey": update_access_key,
    "DeleteAccessKey": delete_access_key,
    "GetAccessKeyLastUsed": get_access_key_last_used,
    **_policy_handlers("User", _user),
    **_policy_handlers("Role", _role),
    "CreateRole": create_role,
    "GetRole": get_role,
    "ListRoles": list_roles,
    "UpdateAssumeRolePolicy": update_assume_role_policy,
    "DeleteRole": delete_role,
    "GetAccountAuthorizationDetails": get_account_authorization_details,
}

#: Operations that change nothing (CloudTrail's readOnly).
IAM_READ_ONLY = frozenset(name for name in IAM_HANDLERS if name.startswith(("Get", "List")))
