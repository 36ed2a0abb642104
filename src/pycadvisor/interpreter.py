"""The daemon's interpreter starts again with ``-OO``, before it imports anything: docstrings are data.

The daemon's modules and the libraries it imports (aiohttp, asyncio, email, attrs...) carry about 1.4 MiB of
docstrings, held in its RSS for the life of the process and never read: measured 1.3 MiB of the running
daemon's RSS at 100 cgroups (issue 18, item 5; bench/rss.py). ``python -m pycadvisor`` and the
``pycadvisor`` command (``__main__.py``) therefore replace their process (same PID) with the same command
line under ``-OO``, as their first act. ``-OO`` also drops ``assert`` statements: the daemon's are all type
narrowings (``x is not None``, ``isinstance``) for mypy, never the check that guards a path.

The daemon's environment also gets ``LEAN_ENV``: library switches that choose their lighter implementation.

Not done when the interpreter already runs ``-OO`` (or ``PYTHONOPTIMIZE=2``), nor with
``PYCADVISOR_DOCSTRINGS=1`` (a debugger or a profiler that wants them). Importing pycadvisor as a library
(``manager/embed.py``) never does it.
"""

from __future__ import annotations

import sys
from collections.abc import Mapping
from typing import Final

KEEP_DOCSTRINGS_ENV = "PYCADVISOR_DOCSTRINGS"

# Set (unless already set) before the daemon imports its libraries. frozenlist's C extension is C++ and maps
# libstdc++ into the process, about 1.1 MiB of RSS, for the few signal lists aiohttp and aiosignal keep
# (``on_startup``, ``on_shutdown``...), never on a hot path; with this variable the library uses its own
# pure-Python ``FrozenList`` (frozenlist/__init__.py ``NO_EXTENSIONS``).
LEAN_ENV: Final[dict[str, str]] = {"FROZENLIST_NO_EXTENSIONS": "1"}


def optimized_argv(env: Mapping[str, str]) -> list[str] | None:
    """The command line that starts this process again under ``-OO``; None when there is no need."""
    if sys.flags.optimize >= 2 or env.get(KEEP_DOCSTRINGS_ENV) == "1" or not sys.executable:
        return None
    # orig_argv: the interpreter's own options (-X importtime, -u...) are kept, then "-m pycadvisor" or the
    # console script's path, then the flags.
    return [sys.executable, "-OO", *sys.orig_argv[1:]]
