"""``python -m pycadvisor`` and the ``pycadvisor`` command: the daemon, under ``-OO`` (``interpreter.py``)."""

from __future__ import annotations

import importlib
import os
import sys

from pycadvisor.interpreter import optimized_argv


def main() -> int:
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
