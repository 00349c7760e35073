"""moto in server mode with the project's patches: `python -m tests.e2e.moto_server --port N`.

The harness (`tests.e2e.harness.MotoServer`) starts this as a separate process on loopback and
stops it by PID. Set MOTO_E2E_JOURNAL to a file to get the patched services' journal.
"""

from __future__ import annotations

import argparse

from moto.server import main as moto_main

from tests.e2e import moto_patches


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--host", default="127.0.0.1")
    args = parser.parse_args(argv)
    moto_patches.apply()
    moto_main(["--host", args.host, "--port", str(args.port)])


if __name__ == "__main__":
    main()
