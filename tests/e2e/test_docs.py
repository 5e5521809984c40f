"""The shell examples of the README and docs/grants.md run as written, top to bottom, against a live server with
the files `trent init` writes, as a reader would run them (the AWS CLI and `trent` from the project's .venv)."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
from pathlib import Path

import pytest

from tests.server import TrentServer

ROOT = Path(__file__).resolve().parents[2]
BIN = Path(os.sys.executable).parent
_BLOCK = re.compile(r"```sh\n(.*?)```", re.DOTALL)

pytestmark = pytest.mark.skipif(
    shutil.which("aws", path=str(BIN)) is None, reason="the AWS CLI (dev extra 'awscli') is not installed"
)


def shell_blocks(document: Path) -> list[str]:
    return _BLOCK.findall(document.read_text())


def run_as_a_reader(tmp_path: Path, script: str) -> subprocess.CompletedProcess[str]:
    """Run `script` with bash in a directory holding `trent-data` (and `.venv`, for the README's `.venv/bin/...`),
    stopping at the first failing command."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("AWS_", "TRENT_"))}
    env["PATH"] = f"{BIN}:{env.get('PATH', '')}"
    return subprocess.run(
        ["bash", "-euo", "pipefail", "-c", script],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )


@pytest.fixture
def reader_dir(tmp_path: Path) -> TrentServer:
    (tmp_path / ".venv").symlink_to(BIN.parent)
    return TrentServer(tmp_path / "trent-data")


def test_the_grants_guide_runs_as_written(reader_dir: TrentServer, tmp_path: Path) -> None:
    reader_dir.init()
    reader_dir.start()
    try:
        blocks = shell_blocks(ROOT / "docs" / "grants.md")
        assert len(blocks) >= 5
        result = run_as_a_reader(tmp_path, "\n".join(blocks))
        assert result.returncode == 0, f"{result.stdout}\n{result.stderr}"
        assert "AccessDeniedException, as expected" in result.stdout
        assert "ALLOWED" in result.stdout  # the explain at the end
    finally:
        reader_dir.stop()


def test_the_readme_examples_run_as_written(reader_dir: TrentServer, tmp_path: Path) -> None:
    reader_dir.init()
    reader_dir.start()
    try:
        blocks = [block for block in shell_blocks(ROOT / "README.md") if "aws " in block and "make " not in block]
        assert len(blocks) >= 2  # the quickstart and the grant example
        result = run_as_a_reader(tmp_path, "\n".join(blocks))
        assert result.returncode == 0, f"{result.stdout}\n{result.stderr}"
        assert "hello trent" in result.stdout
        assert "refused: the grant's constraint" in result.stdout
    finally:
        reader_dir.stop()
