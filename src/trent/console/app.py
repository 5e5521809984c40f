"""The console's pages and actions: each one a call of the API's own handlers as the signed-in principal."""

from __future__ import annotations

import itertools
import json
import urllib.parse
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from http.cookies import SimpleCookie
from pathlib import Path
from typing import Any

import jinja2

from trent.api.audit import AuditDraft
from trent.api.authorize import iam_decision, key_decision
from trent.api.context import RequestContext, Services
from trent.api.explain import explain
from trent.api.handlers import HANDLERS
from trent.api.iam import IAM_HANDLERS
from trent.api.identity import IdentityError
from trent.api.lineage import delegation_lineage, walk
from trent.console.sessions import COOKIE, Sessions, SignInFailed, csrf_matches
from trent.domain.errors import KMSError
from trent.domain.grants import GRANT_OPERATIONS, operations_mask
from trent.domain.identities import Caller
from trent.domain.keys import Key
from trent.domain.operations import OPERATIONS
from trent.edge.validation import RequestValidator
from trent.storage.console import ConsoleSession

PREFIX = "/console"
PAGE = 50
#: Grants a lineage page shows at most (a chain can be as long as a key's 50,000 grants).
MAX_LINEAGE_ROWS = 1000
#: No script, no frame, no foreign origin: what the console's pages may load and do.
SECURITY_HEADERS = [
    (
        b"content-security-policy",
        b"default-src 'none'; style-src 'self'; img-src 'self'; form-action 'self'; frame-ancestors 'none'; "
        b"base-uri 'none'",
    ),
    (b"x-content-type-options", b"nosniff"),
    (b"x-frame-options", b"DENY"),
    # Not no-referrer: with it, browsers send "Origin: null" on the console's own form posts, which are told
    # apart from a sandboxed frame's by their Origin.
    (b"referrer-policy", b"same-origin"),
    (b"cache-control", b"no-store"),
]
_STATIC = Path(__file__).parent / "static"


@dataclass
class Page:
    """A response: status, body, and extra headers (a cookie, a redirect)."""

    status: int
    body: bytes
    content_type: bytes = b"text/html; charset=utf-8"
    headers: list[tuple[bytes, bytes]] = field(default_factory=list)


@dataclass
class Request:
    method: str
    path: str
    query: dict[str, str]
    form: dict[str, str]
    cookies: dict[str, str]
    origin: str | None
    #: The browser's Sec-Fetch-Site ("same-origin", "cross-site", ...), when it sends one.
    fetch_site: str | None
    host: str
    source_ip: str
    user_agent: str
    request_id: str


def redirect(location: str, *, cookie: str | None = None) -> Page:
    headers = [(b"location", location.encode())]
    if cookie is not None:
        headers.append((b"set-cookie", cookie.encode()))
    return Page(303, b"", headers=headers)


class Console:
    def __init__(self, services: Services, validator: RequestValidator, *, idle_seconds: float, region: str) -> None:
        self.services = services
        self.validator = validator
        self.region = region
        self.sessions = Sessions(services.store, services.clock, idle_seconds)
        self.templates = jinja2.Environment(
            loader=jinja2.PackageLoader("trent.console", "templates"),
            autoescape=True,  # every value is escaped: a description holding <script> is shown, never run
        )
        self.templates.filters["when"] = _when
        self.templates.filters["pretty"] = _pretty_json

    # --- dispatch ----------------------------------------------------------------------------------------------
    def respond(self, request: Request) -> Page:
        path = request.path.removeprefix(PREFIX) or "/"
        if path.startswith("/static/"):
            return _static(path.removeprefix("/static/"))
        if path == "/login":
            return self._login(request)
        signed_in = self.sessions.resolve(request.cookies.get(COOKIE))
        if signed_in is None:
            if request.method == "POST":
                return self._render("login.html", request, None, None, status=403, error="Sign in first.")
            return redirect(f"{PREFIX}/login")
        caller, session = signed_in
        if request.method == "POST":
            # Same origin only, and the session's form token: a cross-site form cannot act for the user.
            if not _same_origin(request):
                return Page(403, b"Cross-origin requests are refused.", b"text/plain")
            if not csrf_matches(session, request.form.get("csrf")):
                return Page(403, b"The form token is missing or wrong: reload the page and try again.", b"text/plain")
        view = _route(request.method, path)
        if view is None:
            return self._render("error.html", request, caller, session, status=404, error="No such page.")
        try:
            return view(self, request, caller, session)
        except KMSError as exc:
            return self._render(
                "error.html", request, caller, session, status=400, error=f"{exc.code}: {exc.message or ''}"
            )

    # --- helpers -----------------------------------------------------------------------------------------------
    def _render(
        self,
        template: str,
        request: Request,
        caller: Caller | None,
        session: ConsoleSession | None,
        *,
        status: int = 200,
        **values: Any,
    ) -> Page:
        html = self.templates.get_template(template).render(
            caller=caller,
            csrf=session.csrf_token if session is not None else "",
            region=self._region(request),
            prefix=PREFIX,
            **values,
        )
        return Page(status, html.encode())

    def _region(self, request: Request) -> str:
        region = request.query.get("region") or request.form.get("region") or self.region
        return region if region in self.services.regions else self.region

    def _ctx(self, request: Request, caller: Caller, operation: str, *, service: str = "kms") -> RequestContext:
        read_only = OPERATIONS[operation].read_only if service == "kms" else operation.startswith(("Get", "List"))
        draft = AuditDraft(operation, read_only=read_only, event_source=f"{service}.amazonaws.com")
        return RequestContext(
            caller=caller,
            region=self._region(request),
            request_id=request.request_id,
            source_ip=request.source_ip,
            user_agent=f"trent-console ({request.user_agent[:200]})",
            audit=draft,
        )

    def call(self, request: Request, caller: Caller, operation: str, params: Mapping[str, Any]) -> dict[str, Any]:
        """Call a KMS operation as the API does: validated by the model, authorized and audited as `caller`."""
        ctx = self._ctx(request, caller, operation)
        assert ctx.audit is not None
        try:
            validated = self.validator.validate(operation, dict(params))
            ctx.audit.request = validated
            result: dict[str, Any] = HANDLERS[operation](self.services, ctx, validated)
        except KMSError as exc:
            self._audit(ctx, error=exc)
            raise
        if not ctx.audit.recorded:
            self._audit(ctx, response=result)
        return result

    def try_call(
        self, request: Request, caller: Caller, operation: str, params: Mapping[str, Any]
    ) -> tuple[dict[str, Any] | None, str | None]:
        """(result, None), or (None, the refusal) for the parts of a page the caller may not see."""
        try:
            return self.call(request, caller, operation, params), None
        except KMSError as exc:
            return None, f"{exc.code}: {exc.message or ''}"

    def iam(self, request: Request, caller: Caller, operation: str, params: Mapping[str, Any]) -> dict[str, Any]:
        ctx = self._ctx(request, caller, operation, service="iam")
        try:
            return IAM_HANDLERS[operation](self.services, ctx, dict(params))
        except KMSError as exc:
            self._audit(ctx, error=exc)
            raise

    def _audit(
        self, ctx: RequestContext, *, response: Mapping[str, Any] | None = None, error: KMSError | None = None
    ) -> None:
        assert ctx.audit is not None
        self.services.audit.enqueue(
            self.services.audit.row(
                ctx.audit,
                caller=ctx.caller,
                access_key_id=ctx.caller.access_key_id,
                region=ctx.region,
                request_id=ctx.request_id,
                source_ip=ctx.source_ip,
                user_agent=ctx.user_agent,
                response=dict(response) if response is not None else None,
                error_code=error.code if error is not None else None,
                error_message=error.message if error is not None else None,
            )
        )

    def _audit_sign_in(
        self, request: Request, caller: Caller | None, access_key_id: str | None, *, failed: bool
    ) -> None:
        """Every sign-in, granted or refused, is an event (CloudTrail's ConsoleLogin), so that guessing and the use of
        a stolen key show in the audit trail."""
        draft = AuditDraft("ConsoleLogin", read_only=False, event_source="signin.amazonaws.com")
        draft.additional = {
            "LoginTo": f"{PREFIX}/",
            "MFAUsed": "No",
            "Method": "access key" if access_key_id else "link",
        }
        self.services.audit.enqueue(
            self.services.audit.row(
                draft,
                caller=caller,
                access_key_id=access_key_id,
                region=self.region,
                request_id=request.request_id,
                source_ip=request.source_ip,
                user_agent=request.user_agent,
                error_code="Failed authentication" if failed else None,
                error_message="The access key, its secret or the sign-in link is not right." if failed else None,
            )
        )

    def may(self, request: Request, caller: Caller, action: str, key: Key) -> bool:
        """Whether the caller may perform `action` on `key` (a decision, not a call: nothing is audited)."""
        return key_decision(self.services, self._ctx(request, caller, "ListGrants"), action, key).allowed

    def allowed(self, request: Request, caller: Caller, action: str) -> bool:
        """A console-only permission (`trent:ReadAudit`, `trent:Explain`) from the caller's identity policies; an
        account root has both in its account."""
        return iam_decision(self.services, self._ctx(request, caller, "ListKeys"), action, "*").allowed

    # --- sign-in -----------------------------------------------------------------------------------------------
    def _login(self, request: Request) -> Page:
        if request.method != "POST" and request.query.get("once"):
            try:
                token, caller = self.sessions.sign_in_with_link(request.query["once"])
            except SignInFailed:
                self._audit_sign_in(request, None, None, failed=True)
                return self._render(
                    "login.html", request, None, None, status=401, error="This sign-in link was used or has expired."
                )
            self._audit_sign_in(request, caller, None, failed=False)
            return redirect(f"{PREFIX}/keys", cookie=f"{COOKIE}={token}; Path={PREFIX}; HttpOnly; SameSite=Strict")
        if request.method != "POST":
            return self._render("login.html", request, None, None, error=None)
        if not _same_origin(request):  # a page elsewhere must not sign the browser in as someone else
            return Page(403, b"Cross-origin requests are refused.", b"text/plain")
        access_key_id = request.form.get("access_key_id", "").strip()[:128]
        try:
            token, caller = self.sessions.sign_in(access_key_id, request.form.get("secret_access_key", ""))
        except SignInFailed:
            self._audit_sign_in(request, None, access_key_id, failed=True)
            return self._render(
                "login.html", request, None, None, status=401, error="The access key or its secret is not right."
            )
        self._audit_sign_in(request, caller, access_key_id, failed=False)
        cookie = f"{COOKIE}={token}; Path={PREFIX}; HttpOnly; SameSite=Strict"
        return redirect(f"{PREFIX}/keys", cookie=cookie)


# --- views ----------------------------------------------------------------------------------------------------------
View = Callable[[Console, Request, Caller, ConsoleSession], Page]


def _route(method: str, path: str) -> View | None:
    parts = [p for p in path.split("/") if p]
    if method == "GET":
        if not parts:
            return lambda console, request, caller, session: redirect(f"{PREFIX}/keys")
        if parts == ["keys"]:
            return keys_page
        if len(parts) == 2 and parts[0] == "keys":
            return key_page
        if len(parts) == 3 and parts[0] == "keys" and parts[2] == "lineage":
            return lineage_page
        if parts == ["audit"]:
            return audit_page
        if parts == ["grants"]:
            return grants_page
        if parts == ["explain"]:
            return explain_page
        if parts == ["identities"]:
            return identities_page
        return None
    if method == "POST":
        if parts == ["logout"]:
            return logout
        if parts == ["keys"]:
            return create_key
        if parts == ["explain"]:
            return explain_page
        if len(parts) == 3 and parts[0] == "keys" and parts[2] in _KEY_ACTIONS:
            return key_action
        if len(parts) == 3 and parts[0] == "keys" and parts[2] == "grants":
            return create_grant
        if len(parts) == 3 and parts[0] == "keys" and parts[2] in _KEY_EDITS:
            return key_edit
        if len(parts) == 5 and parts[0] == "keys" and parts[2] == "grants" and parts[4] in ("revoke", "retire"):
            return grant_action
    return None


def logout(console: Console, request: Request, caller: Caller, session: ConsoleSession) -> Page:
    console.sessions.sign_out(request.cookies.get(COOKIE, ""))
    return redirect(f"{PREFIX}/login", cookie=f"{COOKIE}=; Path={PREFIX}; Max-Age=0; HttpOnly; SameSite=Strict")


def keys_page(console: Console, request: Request, caller: Caller, session: ConsoleSession) -> Page:
    params: dict[str, Any] = {"Limit": PAGE}
    if request.query.get("marker"):
        params["Marker"] = request.query["marker"]
    listed, refused = console.try_call(request, caller, "ListKeys", params)
    search = request.query.get("q", "").strip().lower()
    rows = []
    for entry in (listed or {}).get("Keys", []):
        described, _ = console.try_call(request, caller, "DescribeKey", {"KeyId": entry["KeyArn"]})
        metadata = (described or {}).get("KeyMetadata")
        aliases, _ = (
            console.try_call(request, caller, "ListAliases", {"KeyId": entry["KeyId"]}) if metadata else (None, None)
        )
        names = [a["AliasName"] for a in (aliases or {}).get("Aliases", [])]
        text = " ".join([entry["KeyId"], *(names), (metadata or {}).get("Description", "")]).lower()
        if search and search not in text:
            continue
        rotation = None
        if metadata and metadata.get("KeySpec") == "SYMMETRIC_DEFAULT":
            status, _ = console.try_call(request, caller, "GetKeyRotationStatus", {"KeyId": entry["KeyArn"]})
            rotation = None if status is None else status["KeyRotationEnabled"]
        rows.append({"entry": entry, "metadata": metadata, "aliases": names, "rotation": rotation, "grants": None})
    _count_grants(console, request, caller, rows)
    return console._render(
        "keys.html",
        request,
        caller,
        session,
        rows=rows,
        refused=refused,
        next_marker=(listed or {}).get("NextMarker"),
        search=request.query.get("q", ""),
    )


def _count_grants(console: Console, request: Request, caller: Caller, rows: list[dict[str, Any]]) -> None:
    """The number of active grants of each listed key the caller may list the grants of (one query for the page:
    the count each key keeps)."""
    keys = {}
    for row in rows:
        key = console.services.reads.get_key(caller.account, console._region(request), row["entry"]["KeyId"])
        if key is not None and console.may(request, caller, "kms:ListGrants", key):
            keys[key.ref] = row
    with console.services.store.transaction(write=False) as tx:
        for ref, count in tx.keys.grant_counts(list(keys)).items():
            keys[ref]["grants"] = count


def key_page(console: Console, request: Request, caller: Caller, session: ConsoleSession) -> Page:
    return _key_view(console, request, caller, session, request.path.rstrip("/").rsplit("/", 1)[1])


def _key_view(
    console: Console,
    request: Request,
    caller: Caller,
    session: ConsoleSession,
    key_id: str,
    *,
    token: str | None = None,
    status: int = 200,
    problem: str | None = None,
) -> Page:
    described = console.call(request, caller, "DescribeKey", {"KeyId": key_id})
    metadata = described["KeyMetadata"]
    arn = metadata["Arn"]
    aliases, aliases_refused = console.try_call(request, caller, "ListAliases", {"KeyId": arn})
    tags, tags_refused = console.try_call(request, caller, "ListResourceTags", {"KeyId": arn})
    policy, policy_refused = console.try_call(request, caller, "GetKeyPolicy", {"KeyId": arn, "PolicyName": "default"})
    grants_params: dict[str, Any] = {"KeyId": arn, "Limit": PAGE}
    if request.query.get("grants_marker"):
        grants_params["Marker"] = request.query["grants_marker"]
    grants, grants_refused = console.try_call(request, caller, "ListGrants", grants_params)
    rotations = None
    if metadata.get("KeySpec") == "SYMMETRIC_DEFAULT":
        rotations, _ = console.try_call(request, caller, "ListKeyRotations", {"KeyId": arn})
    return console._render(
        "key.html",
        request,
        caller,
        session,
        key=metadata,
        aliases=(aliases or {}).get("Aliases", []),
        aliases_refused=aliases_refused,
        tags=(tags or {}).get("Tags", []),
        tags_refused=tags_refused,
        policy=(policy or {}).get("Policy"),
        policy_refused=policy_refused,
        grants=(grants or {}).get("Grants", []),
        grants_next=(grants or {}).get("NextMarker"),
        grants_refused=grants_refused,
        rotations=(rotations or {}).get("Rotations", []),
        message=request.query.get("message"),
        token=token,
        problem=problem,
        status=status,
    )


def grants_page(console: Console, request: Request, caller: Caller, session: ConsoleSession) -> Page:
    """The grants on the account's keys in this Region, newest first, 50 a page, filtered by grantee, operation
    and key; only those on keys the caller may list the grants of (`kms:ListGrants`) are shown."""
    query = request.query
    region = console._region(request)
    grantee = query.get("grantee", "").strip() or None
    operation = query.get("operation", "").strip()
    if operation and operation not in GRANT_OPERATIONS:
        return console._render(
            "error.html", request, caller, session, status=400, error=f"{operation} is not a grant operation."
        )
    before = int(query["before"]) if query.get("before", "").isdigit() else None
    key_filter = query.get("key", "").strip()
    rows: list[tuple[int, Any]] = []
    if key_filter:
        params: dict[str, Any] = {"KeyId": key_filter, "Limit": 100}
        if grantee:
            params["GranteePrincipal"] = grantee
        listed = console.call(request, caller, "ListGrants", params)
        grants = [g for g in listed["Grants"] if not operation or operation in g["Operations"]]
        entries = [_grant_entry(g) for g in grants]
        older = None
    else:
        with console.services.store.transaction(write=False) as tx:
            found = tx.grants.of_account(
                caller.account,
                region,
                before_seq=before,
                grantee=grantee,
                operation_mask=operations_mask([operation]) if operation else 0,
                limit=PAGE + 1,
            )
        rows = found[:PAGE]
        allowed: dict[str, bool] = {}
        entries = []
        for _, grant in rows:
            if grant.key_ref not in allowed:
                key = console.services.reads.get_key_by_ref(grant.key_ref)
                allowed[grant.key_ref] = key is not None and console.may(request, caller, "kms:ListGrants", key)
            if allowed[grant.key_ref]:
                entries.append(_grant_entry(grant.list_entry()))
        filters = {k: v for k, v in query.items() if k != "before" and v}
        older = urllib.parse.urlencode({**filters, "before": rows[-1][0]}) if len(found) > PAGE else None
    return console._render(
        "grants.html",
        request,
        caller,
        session,
        entries=entries,
        filters={k: v for k, v in query.items() if v},
        operations=sorted(GRANT_OPERATIONS),
        older=older,
    )


def _grant_entry(entry: Mapping[str, Any]) -> dict[str, Any]:
    return {**entry, "KeyShortId": str(entry["KeyId"]).rsplit("/", 1)[-1]}


def lineage_page(console: Console, request: Request, caller: Caller, session: ConsoleSession) -> Page:
    """Which grant created which (Trent's own record; AWS shows none): for a caller who may list the key's
    grants, the tree of them, with retired grants shown where active grants still hang under them."""
    key_id = request.path.rstrip("/").rsplit("/", 2)[1]
    metadata = console.call(request, caller, "DescribeKey", {"KeyId": key_id})["KeyMetadata"]
    console.call(request, caller, "ListGrants", {"KeyId": metadata["Arn"], "Limit": 1})  # the permission it needs
    key = console.services.reads.get_key(metadata["AWSAccountId"], console._region(request), metadata["KeyId"])
    rows = (
        []
        if key is None
        else list(itertools.islice(walk(delegation_lineage(console.services.store, key.ref)), MAX_LINEAGE_ROWS + 1))
    )
    shown = rows[:MAX_LINEAGE_ROWS]
    return console._render(
        "lineage.html", request, caller, session, key=metadata, rows=shown, more=len(rows) > MAX_LINEAGE_ROWS
    )


def create_key(console: Console, request: Request, caller: Caller, session: ConsoleSession) -> Page:
    params: dict[str, Any] = {"Description": request.form.get("description", "")}
    created = console.call(request, caller, "CreateKey", params)
    return redirect(f"{PREFIX}/keys/{created['KeyMetadata']['KeyId']}?region={console._region(request)}")


_KEY_ACTIONS: dict[str, tuple[str, dict[str, Any]]] = {
    "enable": ("EnableKey", {}),
    "disable": ("DisableKey", {}),
    "schedule-deletion": ("ScheduleKeyDeletion", {}),
    "cancel-deletion": ("CancelKeyDeletion", {}),
}


def key_action(console: Console, request: Request, caller: Caller, session: ConsoleSession) -> Page:
    _, _, key_id, action = request.path.rstrip("/").rsplit("/", 3)
    operation, extra = _KEY_ACTIONS[action]
    params: dict[str, Any] = {"KeyId": key_id, **extra}
    if operation == "ScheduleKeyDeletion":
        days = request.form.get("days") or "30"
        # Not a number: the model's validation answers it, as the API would (never a 500).
        params["PendingWindowInDays"] = int(days) if days.isdigit() and len(days) < 6 else days
    console.call(request, caller, operation, params)
    return redirect(f"{PREFIX}/keys/{key_id}?region={console._region(request)}&message={operation}+done")


def create_grant(console: Console, request: Request, caller: Caller, session: ConsoleSession) -> Page:
    key_id = request.path.rstrip("/").rsplit("/", 2)[1]
    params: dict[str, Any] = {
        "KeyId": key_id,
        "GranteePrincipal": request.form.get("grantee", "").strip(),
        "Operations": [op for op in request.form.get("operations", "").replace(",", " ").split() if op],
    }
    if request.form.get("retiring"):
        params["RetiringPrincipal"] = request.form["retiring"].strip()
    if request.form.get("name"):
        params["Name"] = request.form["name"].strip()
    pairs = _pairs(request.form.get("context", ""))
    if pairs:
        params["Constraints"] = {"EncryptionContextSubset": pairs}
    created = console.call(request, caller, "CreateGrant", params)
    # The token is shown once, on this answer only: it is stored nowhere it could be shown again.
    return _key_view(console, request, caller, session, key_id, token=created["GrantToken"], status=201)


def _edit_policy(form: Mapping[str, str], key_id: str) -> tuple[str, dict[str, Any]]:
    return "PutKeyPolicy", {"KeyId": key_id, "PolicyName": "default", "Policy": form.get("policy", "")}


def _add_tag(form: Mapping[str, str], key_id: str) -> tuple[str, dict[str, Any]]:
    return "TagResource", {
        "KeyId": key_id,
        "Tags": [{"TagKey": form.get("tag_key", "").strip(), "TagValue": form.get("tag_value", "")}],
    }


def _remove_tag(form: Mapping[str, str], key_id: str) -> tuple[str, dict[str, Any]]:
    return "UntagResource", {"KeyId": key_id, "TagKeys": [form.get("tag_key", "")]}


def _add_alias(form: Mapping[str, str], key_id: str) -> tuple[str, dict[str, Any]]:
    return "CreateAlias", {"AliasName": form.get("alias", "").strip(), "TargetKeyId": key_id}


def _remove_alias(form: Mapping[str, str], key_id: str) -> tuple[str, dict[str, Any]]:
    return "DeleteAlias", {"AliasName": form.get("alias", "")}


_KEY_EDITS: dict[str, Callable[[Mapping[str, str], str], tuple[str, dict[str, Any]]]] = {
    "policy": _edit_policy,
    "tag": _add_tag,
    "untag": _remove_tag,
    "alias": _add_alias,
    "unalias": _remove_alias,
}


def key_edit(console: Console, request: Request, caller: Caller, session: ConsoleSession) -> Page:
    """Policy, tags and aliases. A refusal (the lockout check's message, a reserved tag, a taken alias) is shown
    on the key's page, above its forms."""
    _, _, key_id, what = request.path.rstrip("/").rsplit("/", 3)
    operation, params = _KEY_EDITS[what](request.form, key_id)
    try:
        console.call(request, caller, operation, params)
    except KMSError as exc:
        return _key_view(
            console, request, caller, session, key_id, status=400, problem=f"{exc.code}: {exc.message or ''}"
        )
    return redirect(f"{PREFIX}/keys/{key_id}?region={console._region(request)}&message={operation}+done")


def grant_action(console: Console, request: Request, caller: Caller, session: ConsoleSession) -> Page:
    _, _, key_id, _, grant_id, action = request.path.rstrip("/").rsplit("/", 5)
    operation = "RevokeGrant" if action == "revoke" else "RetireGrant"
    console.call(request, caller, operation, {"KeyId": key_id, "GrantId": grant_id})
    return redirect(f"{PREFIX}/keys/{key_id}?region={console._region(request)}&message={operation}+done")


def _refused(console: Console, request: Request, caller: Caller, session: ConsoleSession, action: str) -> Page:
    return console._render(
        "error.html",
        request,
        caller,
        session,
        status=403,
        error=f"{caller.arn} may not use this page: it needs {action} (docs/console.md).",
    )


def audit_page(console: Console, request: Request, caller: Caller, session: ConsoleSession) -> Page:
    if not console.allowed(request, caller, "trent:ReadAudit"):
        return _refused(console, request, caller, session, "trent:ReadAudit")
    query = request.query
    before = int(query["before"]) if query.get("before", "").isdigit() else None
    with console.services.store.transaction(write=False) as tx:
        rows = tx.audit.newest(
            caller.account,
            before_seq=before,
            key_arn=query.get("key") or None,
            principal_arn=query.get("principal") or None,
            event_name=query.get("event") or None,
            errors_only=bool(query.get("errors")),
            since=_time(query.get("since")),
            until=_time(query.get("until")),
            limit=PAGE + 1,
        )
    more = len(rows) > PAGE
    rows = rows[:PAGE]
    events = [{"seq": seq, "event": json.loads(record)} for seq, record in rows]
    filters = {k: v for k, v in query.items() if k != "before" and v}
    return console._render(
        "audit.html",
        request,
        caller,
        session,
        events=events,
        filters=filters,
        older=urllib.parse.urlencode({**filters, "before": rows[-1][0]}) if more else None,
    )


def explain_page(console: Console, request: Request, caller: Caller, session: ConsoleSession) -> Page:
    if not console.allowed(request, caller, "trent:Explain"):
        return _refused(console, request, caller, session, "trent:Explain")
    form = request.form if request.method == "POST" else {}
    result = None
    error = None
    if form:
        principal = form.get("principal", "").strip()
        key = form.get("key", "").strip()
        if principal.split(":")[4:5] != [caller.account]:
            error = "Explain answers for principals of your own account only."
        elif key.startswith("arn:") and key.split(":")[4:5] != [caller.account]:
            # Another account's key policy and grants are that account's to read: explain shows only your keys.
            error = "Explain answers about keys of your own account only."
        else:
            try:
                result = explain(
                    console.services,
                    principal_arn=principal,
                    action=form.get("action", "").strip(),
                    key_ref=form.get("key", "").strip() or None,
                    region=console._region(request),
                    encryption_context=_pairs(form.get("context", "")),
                    conditions={},
                )
            except IdentityError as exc:
                error = str(exc)
    return console._render("explain.html", request, caller, session, form=form, result=result, error=error)


def identities_page(console: Console, request: Request, caller: Caller, session: ConsoleSession) -> Page:
    users, users_refused = _try(lambda: console.iam(request, caller, "ListUsers", {"MaxItems": 100}))
    roles, roles_refused = _try(lambda: console.iam(request, caller, "ListRoles", {"MaxItems": 100}))
    keys: dict[str, list[dict[str, Any]]] = {}
    policies: dict[str, list[str]] = {}
    for user in (users or {}).get("Users", []):
        name = str(user["UserName"])
        listed, _ = _try(lambda: console.iam(request, caller, "ListAccessKeys", {"UserName": name}))  # noqa: B023
        keys[name] = (listed or {}).get("AccessKeyMetadata", [])
        named, _ = _try(lambda: console.iam(request, caller, "ListUserPolicies", {"UserName": name}))  # noqa: B023
        policies[f"user/{name}"] = (named or {}).get("PolicyNames", [])
    for role in (roles or {}).get("Roles", []):
        name = str(role["RoleName"])
        named, _ = _try(lambda: console.iam(request, caller, "ListRolePolicies", {"RoleName": name}))  # noqa: B023
        policies[f"role/{name}"] = (named or {}).get("PolicyNames", [])
    return console._render(
        "identities.html",
        request,
        caller,
        session,
        users=(users or {}).get("Users", []),
        users_refused=users_refused,
        roles=(roles or {}).get("Roles", []),
        roles_refused=roles_refused,
        access_keys=keys,
        policies=policies,
    )


# --- small things -------------------------------------------------------------------------------------------------
def _try(call: Callable[[], dict[str, Any]]) -> tuple[dict[str, Any] | None, str | None]:
    try:
        return call(), None
    except KMSError as exc:
        return None, f"{exc.code}: {exc.message or ''}"


def _same_origin(request: Request) -> bool:
    """A POST from this console's own pages. A browser says where a form comes from: `Origin` (the sandboxed
    frames' "null" included) and `Sec-Fetch-Site`; a request without either is not a browser's form."""
    if request.fetch_site is not None and request.fetch_site not in ("same-origin", "none"):
        return False
    if request.origin is None:
        return True
    return request.origin != "null" and urllib.parse.urlsplit(request.origin).netloc == request.host


def _pairs(text: str) -> dict[str, str]:
    """`k=v, k2=v2` (or one per line) as a dict; items without `=` are ignored."""
    pairs = {}
    for item in text.replace("\n", ",").split(","):
        if "=" in item:
            key, value = item.split("=", 1)
            if key.strip():
                pairs[key.strip()] = value.strip()
    return pairs


def _time(text: str | None) -> float | None:
    if not text:
        return None
    try:
        return datetime.fromisoformat(text.replace("Z", "+00:00")).timestamp()
    except ValueError:
        return None


def _when(value: Any) -> str:
    if isinstance(value, int | float):
        return datetime.fromtimestamp(value, UTC).strftime("%Y-%m-%d %H:%M:%S UTC")
    return str(value or "")


def _pretty_json(value: Any) -> str:
    if isinstance(value, str):
        try:
            value = json.loads(value)
        except ValueError:
            return str(value)
    return json.dumps(value, indent=2, sort_keys=False, default=str)


def _static(name: str) -> Page:
    if name != "console.css":
        return Page(404, b"", b"text/plain")
    return Page(200, (_STATIC / name).read_bytes(), b"text/css; charset=utf-8")


def parse_cookies(header: str) -> dict[str, str]:
    cookie: SimpleCookie = SimpleCookie()
    try:
        cookie.load(header)
    except Exception:  # a malformed Cookie header is no cookie
        return {}
    return {name: morsel.value for name, morsel in cookie.items()}
