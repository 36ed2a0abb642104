"""``python -m pycadvisor`` and the ``pycadvisor`` command: the daemon under ``-OO``, with ``LEAN_ENV``."""

from __future__ import annotations

import importlib
import os
import sys

from pycadvisor.interpreter import LEAN_ENV, optimized_argv


def main() -> int:
    for key, value in LEAN_ENV.items():
        os.environ.setdefault(key, value)  # before any library is imported, and inherited by the exec
    argv = optimized_argv(os.environ)
    if argv is not None:
        sys.stdout.flush()
        os.execv(argv[0], argv)
    # By name, after the exec: importing the CLI (aiohttp and all) in the process about to be replaced
    # would only cost its start time.
    cli = importlib.import_module("pycadvisor.cli")
    return int(cli.main())


if __name__ == "__main__":
    raise SystemExit(main())
