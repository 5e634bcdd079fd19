"""Apple pass builds per second against raw PKCS#7 signatures of the same manifest, same run.

    python -m bench.passes [--seconds 5]

A build is what serving a pass costs after the member is loaded: pass.json, the (cached)
images, manifest.json with SHA-1s, the detached PKCS#7 signature and the zip. The reference
signs that build's manifest.json alone, with the same key, certificates and options. Uses
throw-away development certificates; no database. Target: ratio >= 0.5.
"""

from __future__ import annotations

import argparse
import json
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

from bench.common import report
from wallet import apple
from wallet.certs import create_dev_certificates, load_signer
from wallet.config import settings
from wallet.content import CardContent, Place
from wallet.images import Branding, images_for

TARGET = 0.5


def sample_content(n: int) -> CardContent:
    return CardContent(
        serial_number=f"{n:032x}",
        authentication_token="t" * 32,
        card_number="123456789015",
        member_name="Bench Member",
        balance=1000 + n,
        tier="Silver",
        program_name="Bench Rewards",
        organization_name="Bench Bakery",
        qr_message=f"LY1.1.{n}.abcdefghijklmnopqrstuvwx",
        member_url="https://loyalty.example.com/p/bench",
        program_url="https://loyalty.example.com/p/bench",
        places=tuple(Place(f"Shop {i}", f"{i} Main St", 49.6 + i / 100, 6.1) for i in range(3)),
        how_to_earn="Earn 1 point per EUR.",
        how_to_redeem="At the till.",
        terms="Terms v1",
        branding=Branding("Bench Rewards", "#7a4b2a", "#f5efe6"),
        white_label=False,
        platform_name="Loyalty",
    )


def rate(step: Callable[[int], object], seconds: float) -> float:
    done, start = 0, time.perf_counter()
    while (elapsed := time.perf_counter() - start) < seconds:
        step(done)
        done += 1
    return done / elapsed


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=5.0)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as directory:
        files, _ = create_dev_certificates(
            Path(directory), pass_type_id="pass.bench.loyalty", team_id="BENCH00000"
        )
        cfg = settings(
            {
                "WALLET_PASS_TYPE_ID": "pass.bench.loyalty",
                "WALLET_TEAM_ID": "BENCH00000",
                "WALLET_CERTIFICATE": str(files.pass_certificate),
                "WALLET_KEY": str(files.pass_key),
                "WALLET_WWDR_CERTIFICATE": str(files.ca_certificate),
            }
        )
        signer = load_signer(cfg)
        images_for(sample_content(0).branding)  # rendered once, as a running server has them
        pass_file = json.dumps(apple.pass_json(sample_content(0), cfg)).encode()
        manifest = apple.manifest(
            {"pass.json": pass_file, **images_for(sample_content(0).branding)}
        )

        builds = rate(lambda n: apple.build(sample_content(n), cfg, signer), args.seconds)
        signatures = rate(lambda n: apple.sign(manifest, signer), args.seconds)
    size = len(apple.build(sample_content(0), cfg, signer))
    print(f"pkpass size {size} bytes, manifest {len(manifest)} bytes")
    print(f"builds/s {builds:.0f}, signatures/s {signatures:.0f}")
    print(report("passes", builds, "passes/s", signatures, TARGET).replace(
        f"reference {signatures:.0f} passes/s", f"reference {signatures:.0f} signatures/s"
    ))  # fmt: skip


if __name__ == "__main__":
    main()
