"""On-demand benchmark of one authorization decision with a 30-statement key policy and 10 identity policies,
next to the whole Encrypt handler (crypto, store read, decision) in the same process.

    python benchmarks/authz.py

The decision is `trent.domain.authz.evaluate` on parsed, cached policies, as the server runs it; the
statements carry conditions (encryption context, caller account, wildcards) so that each is really checked.
"""

from __future__ import annotations

import json
import tempfile
import timeit
from pathlib import Path

from trent.api import encryption, keys
from trent.api.context import RequestContext
from trent.api.identity import load_credential
from trent.bootstrap import build_services, build_store
from trent.config import Settings
from trent.domain.authz import evaluate
from trent.domain.policy import RequestFacts, parse_policy
from trent.provision import initialize

ACCOUNT = "111122223333"
CALLER = f"arn:aws:iam::{ACCOUNT}:user/alice"
KEY = f"arn:aws:kms:us-east-1:{ACCOUNT}:key/1234abcd-12ab-34cd-56ef-1234567890ab"


def key_policy() -> str:
    statements = [
        {
            "Sid": "Enable IAM User Permissions",
            "Effect": "Allow",
            "Principal": {"AWS": f"arn:aws:iam::{ACCOUNT}:root"},
            "Action": "kms:*",
            "Resource": "*",
        }
    ]
    for i in range(29):
        statements.append(
            {
                "Sid": f"Statement{i}",
                "Effect": "Deny" if i % 7 == 6 else "Allow",
                "Principal": {"AWS": [f"arn:aws:iam::{ACCOUNT}:role/app-{i}", f"arn:aws:iam::{ACCOUNT}:user/user-{i}"]},
                "Action": ["kms:Encrypt", "kms:Decrypt", "kms:ReEncrypt*", "kms:GenerateDataKey*"],
                "Resource": "*",
                "Condition": {
                    "StringEquals": {f"kms:EncryptionContext:app{i}": f"value{i}", "kms:CallerAccount": ACCOUNT},
                    "StringLike": {"aws:PrincipalArn": f"arn:aws:iam::{ACCOUNT}:*"},
                },
            }
        )
    return json.dumps({"Version": "2012-10-17", "Statement": statements})


def identity_policy(i: int) -> str:
    return json.dumps(
        {
            "Version": "2012-10-17",
            "Statement": [
                {
                    "Sid": f"Use{i}",
                    "Effect": "Allow",
                    "Action": ["kms:Encrypt", "kms:Decrypt"],
                    "Resource": f"arn:aws:kms:us-east-1:{ACCOUNT}:key/*",
                    "Condition": {"StringEquals": {f"kms:EncryptionContext:team{i}": "blue"}},
                },
                {"Sid": f"Deny{i}", "Effect": "Deny", "Action": "kms:ScheduleKeyDeletion", "Resource": "*"},
                {"Sid": f"Read{i}", "Effect": "Allow", "Action": "kms:Describe*", "Resource": "*"},
            ],
        }
    )


def main() -> None:
    policy = parse_policy(key_policy(), name="key policy", kind="resource")
    identities = [parse_policy(identity_policy(i), name=f"identity-{i}", kind="identity") for i in range(10)]
    facts = RequestFacts(
        caller_arn=CALLER,
        caller_account=ACCOUNT,
        caller_type="IAMUser",
        role_arn=None,
        service_principal=None,
        action="kms:Encrypt",
        resource=KEY,
        context={"kms:EncryptionContext:team9": "blue", "kms:CallerAccount": ACCOUNT, "aws:PrincipalArn": CALLER},
        variables={"aws:username": "alice"},
    )
    decision = evaluate(facts, key_account=ACCOUNT, key_policy=policy, identity_policies=identities)
    assert decision.allowed and decision.reason == "iam", decision
    runs = 20000
    decide_us = (
        min(
            timeit.repeat(
                lambda: evaluate(facts, key_account=ACCOUNT, key_policy=policy, identity_policies=identities),
                number=runs,
                repeat=5,
            )
        )
        / runs
        * 1e6
    )

    with tempfile.TemporaryDirectory() as directory:
        settings = Settings(data_dir=Path(directory))
        initialize(settings)
        store = build_store(settings)
        services = build_services(settings, store)
        credentials = (Path(directory) / "credentials").read_text().split()
        caller = load_credential(store, credentials[credentials.index("aws_access_key_id") + 2])
        assert caller is not None
        ctx = RequestContext(caller=caller.caller, region="us-east-1", request_id="bench")
        key_id = keys.create_key(services, ctx, {})["KeyMetadata"]["KeyId"]
        request = {"KeyId": key_id, "Plaintext": b"p" * 1024, "EncryptionContext": {"a": "b"}}
        encryption.encrypt(services, ctx, request)
        handler_us = (
            min(timeit.repeat(lambda: encryption.encrypt(services, ctx, request), number=2000, repeat=5)) / 2000 * 1e6
        )
        store.dispose()

    print("| measurement | µs per call |")
    print("|---|---|")
    print(f"| evaluate(): 30-statement key policy + 10 identity policies (30 statements) | {decide_us:.1f} |")
    print(f"| whole Encrypt handler, 1 KiB (store read, decision, AES-GCM), admin caller | {handler_us:.1f} |")
    print(
        f"\nThe decision is {decide_us / handler_us:.0%} of the handler; add ~100-150 µs of HTTP, SigV4 and JSON "
        "per request (docs/performance.md)."
    )


if __name__ == "__main__":
    main()
