"""Command line: cAdvisor's flags with Go ``flag`` syntax; exits 2 on a bad flag, naming it."""

from __future__ import annotations

import asyncio
import logging
import sys
from collections.abc import Callable, Coroutine
from typing import Any

from pycadvisor import __version__
from pycadvisor.config import Config
from pycadvisor.flags import FlagError, HelpRequested, parse_args, usage
from pycadvisor.storage.options import StorageOptions


def _log_level(v: int) -> int:
    return logging.DEBUG if v >= 4 else logging.INFO


def main(argv: list[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else argv
    try:
        parsed, rest = parse_args(args, Config, StorageOptions)
    except HelpRequested:
        sys.stdout.write(usage(Config, StorageOptions))
        return 0
    except FlagError as e:
        sys.stderr.write(f"{e}\n{usage(Config, StorageOptions)}")
        return 2
    if rest:
        sys.stderr.write(f"unexpected arguments: {' '.join(rest)}\n")
        return 2
    cfg: Config = parsed[Config]
    storage: StorageOptions = parsed[StorageOptions]
    if cfg.version:
        print(f"cAdvisor version {__version__} (pycadvisor)")
        return 0
    err = _validate(cfg, storage)
    if err:
        sys.stderr.write(err + "\n")
        return 2
    logging.basicConfig(
        level=_log_level(cfg.v), stream=sys.stderr, format="%(asctime)s %(levelname).1s %(name)s: %(message)s"
    )
    from pycadvisor.app import run

    try:
        return _event_loop_runner()(run(cfg, storage))
    except KeyboardInterrupt:
        return 0


def _event_loop_runner() -> Callable[[Coroutine[Any, Any, int]], int]:
    """uvloop where it is installed (a dependency), else asyncio's own loop.

    The daemon's housekeeping wakes up a few times a second; an idle wake-up of asyncio's loop costs
    about 180 µs of CPU on these machines and uvloop's about 140 µs (bench/loop_wakeup.py).
    """
    try:
        import uvloop
    except ImportError:
        return asyncio.run
    run: Callable[[Coroutine[Any, Any, int]], int] = uvloop.run
    return run


def _validate(cfg: Config, storage: StorageOptions) -> str | None:
    """Check values whose meaning the flag parser cannot see, so a bad one fails at start (exit 2)."""
    from pycadvisor.metrics.sets import MetricSets

    try:
        MetricSets.from_flags(cfg.enable_metrics, cfg.disable_metrics)
    except ValueError as e:
        return str(e)
    if not 0 <= cfg.port <= 65535:
        return f'invalid value "{cfg.port}" for flag -port: out of range'
    if cfg.housekeeping_interval <= 0:
        return "invalid value for flag -housekeeping_interval: must be positive"
    if storage.storage_driver:
        from pycadvisor.storage.registry import build_drivers

        try:
            build_drivers(storage, machine_name="")  # unknown names, missing libraries, unusable settings
        except ValueError as e:
            return str(e)
    for name, text in (
        ("event_storage_age_limit", cfg.event_storage_age_limit),
        ("event_storage_event_limit", cfg.event_storage_event_limit),
    ):
        from pycadvisor.events.limits import parse_limits

        try:
            parse_limits(text, "age" if name.endswith("age_limit") else "count", strict=True)
        except ValueError as e:
            return f'invalid value "{text}" for flag -{name}: {e}'
    return None
