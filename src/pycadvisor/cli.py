"""Command line: cAdvisor's flags with Go ``flag`` syntax; exits 2 on a bad flag, naming it."""

from __future__ import annotations

import logging
import math
import re
import sys
from collections.abc import Callable, Coroutine
from typing import Any

import uvloop

from pycadvisor import __version__, klog
from pycadvisor.api.authfiles import check_credentials_file
from pycadvisor.appmetrics.fetch import client_tls_context
from pycadvisor.config import Config
from pycadvisor.container.hints import DEFAULT_PATH, load_hints
from pycadvisor.durations import format_go_duration
from pycadvisor.events.limits import parse_limits
from pycadvisor.flags import FlagError, HelpRequested, flag_defs, parse_args, usage
from pycadvisor.host.addons import load_addon
from pycadvisor.metrics.sets import MetricSets
from pycadvisor.storage.options import StorageOptions
from pycadvisor.storage.registry import build_drivers

log = logging.getLogger("pycadvisor")


def _log_flags(cfg: Config) -> klog.LogFlags:
    return klog.LogFlags(
        v=cfg.v,
        vmodule=cfg.vmodule,
        logtostderr=cfg.logtostderr,
        alsologtostderr=cfg.alsologtostderr,
        stderrthreshold=cfg.stderrthreshold,
        log_dir=cfg.log_dir,
        log_file=cfg.log_file,
    )


# cAdvisor's flags that change nothing here, and why; each one given is named once at start (issue 13 #6).
_KLOG_DETAIL = "a detail of klog's own output, which Python logging does not copy"
NO_EFFECT = {
    "max_procs": "pycadvisor collects on one event-loop thread; GOMAXPROCS has no counterpart",
    "log_file_max_size": "log files are not rotated by size; use logrotate (copytruncate)",
    "skip_headers": _KLOG_DETAIL,
    "skip_log_headers": _KLOG_DETAIL,
    "add_dir_header": _KLOG_DETAIL,
    "log_backtrace_at": _KLOG_DETAIL,
    "one_output": _KLOG_DETAIL,
}
# klog.go: these only matter when logging to files.
_FILE_ONLY = ("log_dir", "log_file", "alsologtostderr", "stderrthreshold")


def no_effect_notes(cfg: Config, storage: StorageOptions) -> list[str]:
    """One line per flag given a value other than its default that changes nothing here."""
    defs = flag_defs(Config, StorageOptions)
    notes = []
    for name, d in defs.items():
        value = getattr(cfg if d.owner is Config else storage, d.attr)
        if value == d.default:
            continue
        if isinstance(value, bool):
            value = str(value).lower()  # as Go prints it
        elif d.type == "duration":
            value = format_go_duration(value)
        if name in NO_EFFECT:
            notes.append(f"-{name}={value} has no effect here: {NO_EFFECT[name]}")
        elif name in _FILE_ONLY and cfg.logtostderr:
            notes.append(f"-{name}={value} has no effect with -logtostderr=true (as in klog); add -logtostderr=false")
    return notes


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
    try:
        klog.configure(_log_flags(cfg))
    except OSError as e:  # an unwritable -log_dir or -log_file: the message names the path
        sys.stderr.write(f"cannot open the log: {e}\n")
        return 2
    for note in no_effect_notes(cfg, storage):
        log.warning("%s", note)
    # Lazy: -help and a flag error answer without loading the daemon (0.1 s of CPU, not 0.7 s, on this host).
    from pycadvisor.app import run

    try:
        return _event_loop_runner()(run(cfg, storage))
    except KeyboardInterrupt:
        return 0


def _event_loop_runner() -> Callable[[Coroutine[Any, Any, int]], int]:
    """uvloop's loop (a dependency) rather than asyncio's own.

    The daemon's housekeeping wakes up a few times a second; an idle wake-up of asyncio's loop costs
    about 180 µs of CPU on these machines and uvloop's about 140 µs (bench/loop_wakeup.py).
    """
    run: Callable[[Coroutine[Any, Any, int]], int] = uvloop.run
    return run


def _validate(cfg: Config, storage: StorageOptions) -> str | None:
    """Check values whose meaning the flag parser cannot see, so a bad one fails at start (exit 2)."""
    try:
        MetricSets.from_flags(cfg.enable_metrics, cfg.disable_metrics)
    except ValueError as e:
        return str(e)
    if not 0 <= cfg.port <= 65535:
        return f'invalid value "{cfg.port}" for flag -port: out of range'
    err = _validate_ranges(cfg, storage) or _validate_prefix(cfg.url_base_prefix) or _validate_files(cfg)
    if err:
        return err
    if storage.storage_driver:
        try:
            build_drivers(storage, machine_name="")  # unknown names, missing libraries, unusable settings
        except ValueError as e:
            return str(e)
    for name, text in (
        ("event_storage_age_limit", cfg.event_storage_age_limit),
        ("event_storage_event_limit", cfg.event_storage_event_limit),
    ):
        try:
            parse_limits(text, "age" if name.endswith("age_limit") else "count", strict=True)
        except ValueError as e:
            return f'invalid value "{text}" for flag -{name}: {e}'
    return None


# Go's time.NewTicker panics on a non-positive period, so cAdvisor dies on these at 0 or below.
_POSITIVE_DURATIONS = (
    "housekeeping_interval",
    "max_housekeeping_interval",
    "global_housekeeping_interval",
    "update_machine_info_interval",
)
_NON_NEGATIVE_FLOATS = ("jitter_factor", "initial_splay_factor")
_NON_NEGATIVE_INTS = ("application_metrics_count_limit", "referenced_reset_interval", "log_file_max_size")
# A URL prefix is path segments of RFC 3986 §2.3 unreserved characters: nothing to escape or normalise.
_PREFIX_SEGMENT = re.compile(r"[A-Za-z0-9._~-]+")


def _validate_ranges(cfg: Config, storage: StorageOptions) -> str | None:
    """Durations never negative (some must be positive), factors and counts finite and not negative."""
    for name, d in flag_defs(Config, StorageOptions).items():
        if d.type != "duration":
            continue
        value = getattr(cfg if d.owner is Config else storage, d.attr)
        positive = name in _POSITIVE_DURATIONS
        if value < 0 or (positive and value == 0):
            need = "must be positive" if positive else "must not be negative"
            return f'invalid value "{format_go_duration(value)}" for flag -{name}: {need}'
    for name in _NON_NEGATIVE_FLOATS:
        f = getattr(cfg, name)
        if not math.isfinite(f) or f < 0:
            return f'invalid value "{f}" for flag -{name}: must be a finite number, 0 or more'
    for name in _NON_NEGATIVE_INTS:
        if getattr(cfg, name) < 0:
            return f'invalid value "{getattr(cfg, name)}" for flag -{name}: must not be negative'
    for name, text, check in (
        ("stderrthreshold", cfg.stderrthreshold, klog.parse_severity),
        ("vmodule", cfg.vmodule, klog.parse_vmodule),
        ("log_backtrace_at", cfg.log_backtrace_at, klog.check_backtrace_at),
    ):
        try:
            check(text)
        except ValueError as e:
            return f'invalid value "{text}" for flag -{name}: {e}'
    return None


def _validate_prefix(prefix: str) -> str | None:
    """``-url_base_prefix``: ``/a/b`` (slashes at either end optional), never ``.``, ``..`` or escapes."""
    segments = prefix.strip().strip("/").split("/")
    if segments == [""]:
        return None
    for seg in segments:
        if seg in (".", "..") or not _PREFIX_SEGMENT.fullmatch(seg):
            return (
                f'invalid value "{prefix}" for flag -url_base_prefix: a path such as /cadvisor, whose segments '
                f"are letters, digits and -._~ (not . or ..)"
            )
    return None


def _validate_files(cfg: Config) -> str | None:
    """Files named by flags exist and parse, so a typo fails at start rather than being silently ignored."""
    # Digest is used only without a Basic file (cAdvisor cmd/internal/http/handlers.go).
    for name, path, realm in (
        ("http_auth_file", cfg.http_auth_file, None),
        ("http_digest_file", "" if cfg.http_auth_file else cfg.http_digest_file, cfg.http_digest_realm),
    ):
        if path:
            try:
                check_credentials_file(path, digest_realm=realm)
            except ValueError as e:
                return f'invalid value "{path}" for flag -{name}: {e}'
    try:
        load_hints(cfg.container_hints, explicit=cfg.container_hints != DEFAULT_PATH)
    except ValueError as e:
        return f'invalid value "{cfg.container_hints}" for flag -container_hints: {e}'
    if cfg.collector_cert or cfg.collector_key:
        try:
            client_tls_context(cfg.collector_cert, cfg.collector_key)
        except ValueError as e:
            flag_name = "collector_key" if cfg.collector_cert and not cfg.collector_key else "collector_cert"
            value = cfg.collector_key if flag_name == "collector_key" else cfg.collector_cert
            return f'invalid value "{value}" for flag -{flag_name}: {e}'
    if cfg.perf_events_config:
        # Checked at start whatever the sets, as cAdvisor (host/perf/addon.py config_problem).
        problem = load_addon("perf_event_check")(cfg.perf_events_config, cfg.host_paths())
        if problem is not None:
            return f'invalid value "{cfg.perf_events_config}" for flag -perf_events_config: {problem}'
    return None
