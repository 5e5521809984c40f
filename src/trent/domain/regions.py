"""Region names: what one looks like, and the set Trent serves unless configured otherwise."""

from __future__ import annotations

import re

#: What a region name looks like: a lowercase prefix, dash-separated words, a number (`us-east-1`,
#: `us-gov-west-1`, `eusc-de-east-1`).
REGION_NAME_RE = re.compile(r"[a-z]{2,}(?:-[a-z]+)+-[0-9]{1,2}")
#: The store keeps a key's region in a 32-character column.
MAX_REGION_LENGTH = 32

#: The commercial regions of AWS's standard partition (`aws`): every region of that partition that
#: botocore 1.44's endpoint data gives a KMS endpoint. Not GovCloud, China, the ISO partitions or the
#: European Sovereign Cloud (other partitions, with ARNs of their own), nor regions announced but not yet
#: open (`me-west-1`, `sa-west-1` are named in botocore's partition data but have no service endpoint).
AWS_COMMERCIAL_REGIONS: tuple[str, ...] = (
    "us-east-1",
    "us-east-2",
    "us-west-1",
    "us-west-2",
    "af-south-1",
    "ap-east-1",
    "ap-east-2",
    "ap-northeast-1",
    "ap-northeast-2",
    "ap-northeast-3",
    "ap-south-1",
    "ap-south-2",
    "ap-southeast-1",
    "ap-southeast-2",
    "ap-southeast-3",
    "ap-southeast-4",
    "ap-southeast-5",
    "ap-southeast-6",
    "ap-southeast-7",
    "ca-central-1",
    "ca-west-1",
    "eu-central-1",
    "eu-central-2",
    "eu-north-1",
    "eu-south-1",
    "eu-south-2",
    "eu-west-1",
    "eu-west-2",
    "eu-west-3",
    "il-central-1",
    "me-central-1",
    "me-south-1",
    "mx-central-1",
    "sa-east-1",
)


def is_region_name(name: str) -> bool:
    """Whether `name` looks like a region name and fits the store."""
    return len(name) <= MAX_REGION_LENGTH and REGION_NAME_RE.fullmatch(name) is not None
