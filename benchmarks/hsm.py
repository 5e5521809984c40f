"""On-demand benchmark (issue 20): what a root key in an HSM costs, against a root key in a file, in one run.

    PYTHONPATH=src .venv/bin/python benchmarks/hsm.py [--duration 8] [--warmup 2]

Prints (1) one wrap and one unwrap by the HSM (SoftHSM2, AES-GCM in the token, through python-pkcs11) against the
same in memory (`cryptography`'s AES-GCM), which is why Trent asks the HSM only for the data keys of the root key's
versions, once per process; (2) Encrypt and Decrypt of 1 KiB through `trent serve --workers 1` with each root key
(wrk, SigV4, as benchmarks/run.py measures), server CPU per request and the ratio HSM / file; (3) the time from
`trent serve` to a healthy server with each. Needs wrk and SoftHSM2 (apt-get install wrk softhsm2).
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from run import LoadSettings, make_fixture, measure_undisturbed, start_trent

SOFTHSM_LIBRARY = "/usr/lib/softhsm/libsofthsm2.so"


def softhsm_token(workdir: Path) -> tuple[str, dict[str, str]]:
    tokens = workdir / "tokens"
    tokens.mkdir()
    conf = workdir / "softhsm2.conf"
    conf.write_text(f"directories.tokendir = {tokens}\nobjectstore.backend = file\nlog.level = ERROR\n")
    env = {"SOFTHSM2_CONF": str(conf)}
    label = f"bench-{uuid.uuid4().hex[:8]}"
    subprocess.run(
        ["softhsm2-util", "--init-token", "--free", "--label", label, "--pin", "4321", "--so-pin", "8765"],
        env={**os.environ, **env},
        check=True,
        capture_output=True,
    )
    pin = workdir / "pin"
    pin.write_text("4321\n")
    pin.chmod(0o600)
    uri = f"pkcs11:token={label};object=root?module-path={SOFTHSM_LIBRARY}&pin-source=file:{pin}"
    return uri, env


def per_call_us(call: object, rounds: int = 2000) -> float:
    started = time.perf_counter()
    for _ in range(rounds):
        call()  # type: ignore[operator]
    return (time.perf_counter() - started) / rounds * 1e6


def wrap_costs(uri: str) -> None:
    from trent.crypto.hsm import HsmRootKey
    from trent.crypto.rootkey import RootKey, generate_root_key

    hsm = HsmRootKey(uri, create=True)
    memory = RootKey(generate_root_key())
    secret = generate_root_key()
    for name, key in (("HSM (SoftHSM2)", hsm), ("in memory", memory)):
        blob = key.wrap(secret, b"aad")
        wrap = per_call_us(lambda key=key: key.wrap(secret, b"aad"))
        unwrap = per_call_us(lambda key=key, blob=blob: key.unwrap(blob, b"aad"))
        print(f"  {name:16} wrap {wrap:7.1f} µs   unwrap {unwrap:7.1f} µs")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--duration", type=int, default=8)
    parser.add_argument("--warmup", type=int, default=2)
    parser.add_argument("--settle", type=float, default=20)
    args = parser.parse_args()
    workdir = Path(tempfile.mkdtemp(prefix="trent-hsm-bench-"))
    uri, env = softhsm_token(workdir)
    os.environ.update(env)
    print("One wrap and one unwrap of a 32-byte data key:")
    wrap_costs(uri)
    load = LoadSettings(duration=args.duration, warmup=args.warmup, connections=16, threads=2)
    results: dict[str, dict[str, float]] = {}
    for label, extra, title in (
        ("file", {}, "root key in a file"),
        ("hsm", {"TRENT_ROOT_KEY": uri, **env}, "root key in an HSM"),
    ):
        started = time.monotonic()
        server = start_trent(workdir, 1, env=extra or None, name=title)
        ready = time.monotonic() - started
        try:
            fixture = make_fixture(server)
            results[label] = {"start (init + serve), s": ready}
            for operation in ("Encrypt", "Decrypt"):
                m = measure_undisturbed(server, operation, fixture, workdir, load, retries=1, settle=args.settle)
                results[label][f"{operation} µs/req"] = m.server_us_per_request
                results[label][f"{operation} req/s"] = m.rps
                print(f"  {server.name:22} {operation:8} {m.rps:8,.0f} req/s  {m.server_us_per_request:6.0f} µs/req")
        finally:
            server.process.terminate()
            server.process.wait(timeout=20)
    print()
    print("| measurement | root key in a file | root key in an HSM | HSM / file |")
    print("|---|---:|---:|---:|")
    for name in results["file"]:
        file_value, hsm_value = results["file"][name], results["hsm"][name]
        print(f"| {name} | {file_value:,.2f} | {hsm_value:,.2f} | {hsm_value / file_value:.2f}x |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
