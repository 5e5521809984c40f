"""Every server, worker and `trent` command pays for what it imports (docs/architecture.md, "What a process
imports"): the heavy modules a process does not use stay out of it."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest


def modules_after(code: str) -> set[str]:
    """The modules loaded by a fresh interpreter after running `code`."""
    probe = f"{code}\nimport sys, json\nprint(json.dumps(sorted(sys.modules)))"
    result = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, check=True, timeout=60)
    return set(json.loads(result.stdout.strip().splitlines()[-1]))


@pytest.mark.parametrize(
    ("code", "absent"),
    [
        # `trent init`, `trent admin ...`: the store and the identity services, not the handlers or the edge.
        ("import trent.cli", {"trent.api.handlers", "trent.edge.app", "alembic", "botocore.session", "jinja2"}),
        # A worker answering SDKs: its app, but neither Alembic (the store is at its head), a botocore session
        # (the models come from the loader) nor the console (built at its first request).
        ("import trent.edge.app", {"alembic", "botocore.session", "botocore.client", "jinja2", "trent.console.app"}),
    ],
)
def test_a_process_imports_only_what_it_uses(code: str, absent: set[str]) -> None:
    assert modules_after(code) & absent == set()


def test_a_server_started_on_an_initialised_store_loads_neither_alembic_nor_the_console(tmp_path: Path) -> None:
    code = (
        "from trent.config import load_settings\n"
        "from trent.provision import initialize\n"
        "from trent.edge.app import build_app\n"
        f"settings = load_settings(overrides={{'data_dir': {str(tmp_path)!r}}})\n"
        "initialize(settings)\n"  # a new store: Alembic creates the schema here
        "import sys\n"
        "for name in [n for n in sys.modules if n == 'alembic' or n.startswith('alembic.')]:\n"
        "    del sys.modules[name]\n"
        "initialize(settings)\n"  # as `trent serve` starts on it: the store is at HEAD_REVISION
        "build_app(settings)\n"
    )
    loaded = modules_after(code)
    assert "alembic" not in loaded  # the store is at HEAD_REVISION: opened without it
    assert "jinja2" not in loaded and "trent.console.app" not in loaded
