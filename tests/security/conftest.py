from __future__ import annotations

from typing import Any

import pytest

from tests.server import TrentServer

B = "222222222222"


@pytest.fixture(scope="module")
def account_b(server: TrentServer) -> Any:
    """A KMS client of account 222222222222's root, on the shared server."""
    server.admin("account", "create", B)
    root = server.admin("access-key", "create", f"arn:aws:iam::{B}:root")
    return server.client("kms", access_key=root["AccessKeyId"], secret_key=root["SecretAccessKey"])
