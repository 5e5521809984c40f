"""What a parsed policy takes in memory, against what the caches count for it (`api/caches.parsed_weight`).

The caches of parsed policies are bounded in bytes by `cache_megabytes`, and they count each policy by a formula
on its document's length. This prints, for policies of several shapes, the document's size, the parsed policy's
size measured with tracemalloc (alone: nothing shared with another policy; and in a population of policies that
repeat their Action and Resource lists, as users' policies do), and the ratio of the counted weight to the
measured size, which must stay at or above 1 for the bound to hold.

    PYTHONPATH=src .venv/bin/python benchmarks/policy_memory.py
"""

from __future__ import annotations

import gc
import json
import tracemalloc
from collections.abc import Callable

from trent.api.caches import parsed_weight
from trent.domain.keys import default_key_policy
from trent.domain.policy import Policy, parse_policy

ACCOUNT = "111122223333"


def users_policy(i: int) -> str:
    """A user's own policy, as benchmarks/scale.py gives each of its users."""
    return json.dumps(
        {
            "Version": "2012-10-17",
            "Statement": [
                {
                    "Sid": f"Useuser{i}",
                    "Effect": "Allow",
                    "Action": ["kms:Encrypt", "kms:Decrypt", "kms:GenerateDataKey", "kms:DescribeKey"],
                    "Resource": f"arn:aws:kms:us-east-1:{ACCOUNT}:key/*",
                },
                {"Sid": "NoDeletion", "Effect": "Deny", "Action": "kms:ScheduleKeyDeletion", "Resource": "*"},
            ],
        }
    )


def key_policy(i: int) -> str:
    return default_key_policy(f"{i:012d}")


def conditions_policy(i: int, statements: int = 40) -> str:
    """A key policy of many statements, each with its own principal and conditions (~10 KB)."""
    return json.dumps(
        {
            "Version": "2012-10-17",
            "Statement": [
                {
                    "Sid": f"S{s}",
                    "Effect": "Allow",
                    "Principal": {"AWS": f"arn:aws:iam::{ACCOUNT}:user/u{i}-{s}"},
                    "Action": ["kms:Encrypt", "kms:Decrypt", "kms:GenerateDataKey*"],
                    "Resource": "*",
                    "Condition": {"StringEquals": {"kms:EncryptionContext:dept": [f"d{i}-{s}", "x"]}},
                }
                for s in range(statements)
            ],
        }
    )


def largest_policy(i: int) -> str:
    """Close to the 32 KB limit: many distinct resources and StringLike patterns in one statement."""
    return json.dumps(
        {
            "Version": "2012-10-17",
            "Statement": [
                {
                    "Effect": "Allow",
                    "Action": "kms:*",
                    "Resource": [f"arn:aws:kms:us-east-1:{ACCOUNT}:key/{i:08d}-{r:04d}-*" for r in range(300)],
                    "Condition": {"StringLike": {"kms:EncryptionContext:app": [f"app{i}-{r}-*" for r in range(300)]}},
                }
            ],
        }
    )


SHAPES: dict[str, tuple[Callable[[int], str], str]] = {
    "user's policy (2 statements)": (users_policy, "identity"),
    "default key policy": (key_policy, "key"),
    "40 statements with conditions": (conditions_policy, "key"),
    "one statement, 600 patterns": (largest_policy, "identity"),
}


def measured(documents: list[str], kind: str) -> float:
    """Bytes per parsed policy, all of them alive together."""
    gc.collect()
    tracemalloc.start()
    before = tracemalloc.get_traced_memory()[0]
    kept: list[Policy] = [parse_policy(document, name="p", kind=kind) for document in documents]  # type: ignore[arg-type]
    gc.collect()
    after = tracemalloc.get_traced_memory()[0]
    tracemalloc.stop()
    del kept
    return (after - before) / len(documents)


def main() -> None:
    print(f"{'shape':32} {'document':>9} {'alone':>9} {'in 500':>9} {'counted':>9} {'counted/alone':>14}")
    for label, (make, kind) in SHAPES.items():
        alone = measured([make(0)], kind)
        population = measured([make(i) for i in range(1, 501)], kind)
        document = make(0)
        weight = parsed_weight(document)
        print(
            f"{label:32} {len(document):>9,} {alone:>9,.0f} {population:>9,.0f} {weight:>9,} {weight / alone:>13.2f}x"
        )


if __name__ == "__main__":
    main()
