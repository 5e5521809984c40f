"""Trents for the differential tests: in process (the handlers over a real SQLite store) and live (boto3 against
running servers: several workers on SQLite, several nodes on PostgreSQL)."""

from __future__ import annotations

import random
from pathlib import Path
from typing import Any

from botocore.exceptions import ClientError

from tests.authz_model.differential import (
    ACCOUNTS,
    ASSUMER,
    REGION,
    REPLICA_REGION,
    ROLE,
    SESSION,
    USERS,
    Built,
    Case,
    Driver,
    GrantPlan,
    KeyPlan,
    WorldPlan,
    role_arn,
    root_arn,
    setup_world,
    trust_policy,
    user_arn,
)
from tests.server import TrentServer
from trent.api import identity
from trent.api.context import RequestContext, Services
from trent.api.handlers import HANDLERS
from trent.bootstrap import services_for
from trent.crypto.rootkey import RootKey, decode_root_key, generate_root_key
from trent.domain.errors import KMSError
from trent.domain.identities import Caller, PrincipalType, assumed_role_arn
from trent.storage.store import Store


def _population(store: Store) -> dict[tuple[str, str, str], Any]:
    """Accounts A and B, each with its root, users alice and bob, the role `app` and the user who assumes it.
    Returns the access keys: (account, kind, name) -> NewAccessKey, and (account, "role", ROLE) -> Principal."""
    made: dict[tuple[str, str, str], Any] = {}
    for account in ACCOUNTS:
        identity.create_account(store, account)
        made[(account, "root", "root")] = identity.create_access_key(store, root_arn(account))
        for name in (*USERS, ASSUMER):
            principal, key = identity.create_user(store, account, name)
            made[(account, "user", name)] = key
            made[(account, "principal", name)] = principal
        made[(account, "role", ROLE)] = identity.create_role(store, account, ROLE, trust_policy(account))
    return made


def _replace_identity_policies(store: Store, holder: str, documents: list[str]) -> None:
    with store.transaction() as tx:
        for name in tx.identities.policies(holder):
            tx.identities.delete_policy(holder, name)
    for index, document in enumerate(documents):
        identity.put_identity_policy(store, holder, f"p{index}", document)


class _Trent(Driver):
    """What both drivers share: the world is built through the API as the accounts' roots, identity policies are
    written to the store as `trent admin` would."""

    store: Store

    def call(
        self, who: tuple[str, str, str], operation: str, params: dict[str, Any], region: str = REGION
    ) -> dict[str, Any]:
        raise NotImplementedError

    def put_identity_policies(self, holder: str, documents: list[str]) -> None:
        _replace_identity_policies(self.store, holder, documents)

    def build(self, plan: WorldPlan) -> Built:
        def root(account: str) -> tuple[str, str, str]:
            return (account, "root", "root")

        def create_key(key: KeyPlan) -> tuple[str, str]:
            params = {"KeySpec": key.spec, "KeyUsage": key.usage, "MultiRegion": key.multi_region}
            metadata = self.call(root(key.account), "CreateKey", params)["KeyMetadata"]
            return metadata["Arn"], metadata["KeyId"]

        def replicate(key: KeyPlan, primary_arn: str) -> tuple[str, str]:
            params = {"KeyId": primary_arn, "ReplicaRegion": key.region}
            metadata = self.call(root(key.account), "ReplicateKey", params, primary_arn.split(":")[3])
            return metadata["ReplicaKeyMetadata"]["Arn"], metadata["ReplicaKeyMetadata"]["KeyId"]

        def region_of(arn: str) -> str:
            return arn.split(":")[3]

        return setup_world(
            plan,
            create_key=create_key,
            replicate=replicate,
            encrypt=lambda key, arn, context: self.call(
                root(key.account),
                "Encrypt",
                {"KeyId": arn, "Plaintext": b"x", "EncryptionContext": context},
                key.region,
            )["CiphertextBlob"],
            tag=lambda key, arn: (
                key.tags
                and self.call(
                    root(key.account),
                    "TagResource",
                    {"KeyId": arn, "Tags": [{"TagKey": k, "TagValue": v} for k, v in key.tags.items()]},
                    key.region,
                )
            ),
            alias=lambda key, arn, name: self.call(
                root(key.account), "CreateAlias", {"AliasName": name, "TargetKeyId": arn}, key.region
            ),
            create_grant=lambda grant, arn, account: _grant_response(
                self.call(root(account), "CreateGrant", _grant_params(grant, arn), region_of(arn))
            ),
            delete_grant=lambda grant, arn, grant_id: self.call(
                root(arn.split(":")[4]), "RevokeGrant", {"KeyId": arn, "GrantId": grant_id}, region_of(arn)
            ),
            put_key_policy=lambda key, arn, policy: self.call(
                root(key.account),
                "PutKeyPolicy",
                {"KeyId": arn, "PolicyName": "default", "Policy": policy, "BypassPolicyLockoutSafetyCheck": True},
                key.region,
            ),
            put_identity_policies=self.put_identity_policies,
        )

    def close(self) -> None:
        self.store.dispose()


class InProcessDriver(_Trent):
    """The production handlers, called as the edge calls them, over a real SQLite store."""

    def __init__(self, directory: Path) -> None:
        # synchronous=NORMAL: the comparison needs no power-loss durability, and fsyncs would be most of its time.
        self.store = Store(
            f"sqlite:///{directory / 'trent.db'}", RootKey(generate_root_key()), sqlite_synchronous="normal"
        )
        self.store.migrate()
        made = _population(self.store)
        self.services: Services = services_for(self.store, markers_key=b"m" * 32, tokens_key=b"t" * 32)
        self.contexts: dict[tuple[str, str, str], RequestContext] = {}
        for account in ACCOUNTS:
            callers = {
                (account, "root", "root"): Caller.account_root(account, made[(account, "root", "root")].access_key_id),
                **{
                    (account, "user", name): Caller(
                        account,
                        user_arn(account, name),
                        PrincipalType.USER,
                        made[(account, "principal", name)].unique_id,
                        made[(account, "user", name)].access_key_id,
                        user_name=name,
                    )
                    for name in USERS
                },
                (account, "session", SESSION): Caller(
                    account,
                    assumed_role_arn(account, ROLE, SESSION),
                    PrincipalType.ASSUMED_ROLE,
                    f"{made[(account, 'role', ROLE)].unique_id}:{SESSION}",
                    "ASIAINPROCESS",
                    role_arn=role_arn(account),
                ),
            }
            for who, caller in callers.items():
                self.contexts[who] = RequestContext(
                    caller=caller, region=REGION, request_id="diff", source_ip="127.0.0.1"
                )

    def call(
        self, who: tuple[str, str, str], operation: str, params: dict[str, Any], region: str = REGION
    ) -> dict[str, Any]:
        self.services.changes.catch_up()  # as the edge does before every request
        return HANDLERS[operation](self.services, self.contexts[who]._replace(region=region), params)

    def answer(self, case: Case) -> tuple[str | None, str | None, dict[str, Any]]:
        params = {k: v for k, v in case.call.params.items() if not k.startswith("_")}
        try:
            return None, None, self.call(case.caller, case.call.operation, params, case.call.region)
        except KMSError as exc:
            return exc.code, exc.message, {}


def _grant_params(grant: GrantPlan, arn: str) -> dict[str, Any]:
    params: dict[str, Any] = {"KeyId": arn, "GranteePrincipal": grant.grantee, "Operations": grant.operations}
    if grant.retiring:
        params["RetiringPrincipal"] = grant.retiring
    if grant.constraints:
        params["Constraints"] = grant.constraints
    if grant.name:
        params["Name"] = grant.name
    return params


def _grant_response(response: dict[str, Any]) -> tuple[str, str]:
    return response["GrantId"], response["GrantToken"]


class LiveDriver(_Trent):
    """boto3 against running servers (one with several workers, or several nodes over one database); each call
    goes to a random server, on one of several clients per caller, so that it reaches every worker."""

    CLIENTS_PER_CALLER = 3

    def __init__(self, servers: list[TrentServer], *, seed: int) -> None:
        self.servers = servers
        self.rnd = random.Random(seed)
        first = servers[0]
        if "TRENT_ROOT_KEY" in first.env:
            root_key = RootKey(decode_root_key(first.env["TRENT_ROOT_KEY"], "TRENT_ROOT_KEY"))
        else:
            root_key = RootKey(decode_root_key((first.data_dir / "root.key").read_text(), "root.key"))
        url = first.database_url
        # The test writes identities as `trent admin` would: through the store, from another process.
        self.store = Store(url, root_key)
        made = _population(self.store)
        self.clients: dict[tuple[tuple[str, str, str], str], list[Any]] = {}
        for account in ACCOUNTS:
            credentials: dict[tuple[str, str, str], tuple[str, str, str | None]] = {}
            for who in [(account, "root", "root"), *((account, "user", name) for name in USERS)]:
                credentials[who] = (made[who].access_key_id, made[who].secret_access_key, None)
            assumer = made[(account, "user", ASSUMER)]
            sts = first.client("sts", access_key=assumer.access_key_id, secret_key=assumer.secret_access_key)
            session = sts.assume_role(RoleArn=role_arn(account), RoleSessionName=SESSION)["Credentials"]
            credentials[(account, "session", SESSION)] = (
                session["AccessKeyId"],
                session["SecretAccessKey"],
                session["SessionToken"],
            )
            for who, (access_key, secret, token) in credentials.items():
                for region in (REGION, REPLICA_REGION):
                    self.clients[(who, region)] = self._clients(access_key, secret, token, region)

    def _clients(self, access_key: str, secret: str, token: str | None, region: str) -> list[Any]:
        return [
            server.client("kms", access_key=access_key, secret_key=secret, session_token=token, region=region)
            for server in self.servers
            for _ in range(self.CLIENTS_PER_CALLER)
        ]

    def call(
        self, who: tuple[str, str, str], operation: str, params: dict[str, Any], region: str = REGION
    ) -> dict[str, Any]:
        client = self.rnd.choice(self.clients[(who, region)])
        method = getattr(client, _snake(operation))
        response: dict[str, Any] = method(**params)
        return response

    def answer(self, case: Case) -> tuple[str | None, str | None, dict[str, Any]]:
        params = {k: v for k, v in case.call.params.items() if not k.startswith("_")}
        try:
            return None, None, self.call(case.caller, case.call.operation, params, case.call.region)
        except ClientError as exc:
            error = exc.response["Error"]
            return error["Code"], error.get("Message"), {}


def _snake(operation: str) -> str:
    out = []
    for index, char in enumerate(operation):
        if char.isupper() and index:
            out.append("_")
        out.append(char.lower())
    return "".join(out)
