"""Console page times, server-side, with many keys and many grants on one key (issue: every page under 50 ms with
10,000 keys and 50,000 grants on a key). In process: the console's `respond`, as the edge calls it.

    PYTHONPATH=src .venv/bin/python benchmarks/console_pages.py [--keys 10000] [--grants 50000]
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
import uuid
from pathlib import Path

from botocore.session import get_session

from trent.api import identity, keys
from trent.api.context import RequestContext
from trent.bootstrap import services_for
from trent.console.app import Console, Request
from trent.console.sessions import COOKIE
from trent.crypto.rootkey import RootKey, generate_root_key
from trent.domain.grants import Grant
from trent.domain.identities import Caller
from trent.edge.validation import RequestValidator
from trent.storage.store import Store

ACCOUNT = "111122223333"


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--keys", type=int, default=10_000)
    parser.add_argument("--grants", type=int, default=50_000)
    parser.add_argument("--rounds", type=int, default=20)
    args = parser.parse_args()
    directory = Path(tempfile.mkdtemp())
    store = Store(f"sqlite:///{directory / 'trent.db'}", RootKey(generate_root_key()), sqlite_synchronous="normal")
    store.migrate()
    services = services_for(store, markers_key=b"m" * 32, tokens_key=b"t" * 32)
    identity.create_account(store, ACCOUNT)
    _, access_key = identity.create_user(store, ACCOUNT, "admin")
    identity.put_identity_policy(store, f"arn:aws:iam::{ACCOUNT}:user/admin", "all", identity.ADMIN_POLICY)
    root = RequestContext(Caller.account_root(ACCOUNT, "x"), "us-east-1", "bench")
    started = time.perf_counter()
    key_ids = [keys.create_key(services, root, {})["KeyMetadata"]["KeyId"] for _ in range(args.keys)]
    print(f"{args.keys} keys made in {time.perf_counter() - started:.0f} s")
    target = services.reads.get_key(ACCOUNT, "us-east-1", key_ids[0])
    assert target is not None
    with store.transaction() as tx:
        for i in range(args.grants):
            tx.grants.insert(
                Grant(
                    grant_id=uuid.uuid4().hex * 2,
                    key_id=target.key_id,
                    key_account=ACCOUNT,
                    key_region="us-east-1",
                    operations=frozenset({"Encrypt"}),
                    issuing_account=ACCOUNT,
                    creation_date=1_800_000_000.0 + i,
                    grantee_principal=f"arn:aws:iam::{ACCOUNT}:user/u{i % 1000}",
                )
            )
    print(f"{args.grants} grants on {target.key_id}")
    console = Console(
        services, RequestValidator(get_session().get_service_model("kms")), idle_seconds=3600, region="us-east-1"
    )
    token, _ = console.sessions.sign_in(access_key.access_key_id, access_key.secret_access_key)
    pages = {
        "keys": "/console/keys",
        "key (first 50 grants)": f"/console/keys/{target.key_id}",
        "lineage": f"/console/keys/{target.key_id}/lineage",
        "audit": "/console/audit",
        "identities": "/console/identities",
    }
    for name, path in pages.items():
        times = []
        for _ in range(args.rounds):
            request = Request("GET", path, {}, {}, {COOKIE: token}, None, None, "localhost", "127.0.0.1", "bench", "r")
            began = time.perf_counter()
            page = console.respond(request)
            times.append((time.perf_counter() - began) * 1000)
            assert page.status == 200, (name, page.status, page.body[:300])
        print(
            f"{name:24} median {statistics.median(times):7.1f} ms   max {max(times):7.1f} ms   {len(page.body)} bytes"
        )
        services.audit.flush()


if __name__ == "__main__":
    main()
