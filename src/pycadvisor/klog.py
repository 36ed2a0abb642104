"""klog's command-line flags (``k8s.io/klog/v2`` v2.130.1, the version cAdvisor links) on Python logging.

cAdvisor's binary calls ``klog.InitFlags(nil)`` (``cmd/cadvisor.go``), so every klog flag is one of its
flags and a cAdvisor command line may carry any of them. Those with a Python logging counterpart act as
in ``klog.go``:

- ``-logtostderr`` (default true): everything goes to stderr and ``-log_dir``/``-log_file`` have no effect;
- ``-logtostderr=false``: everything goes to ``-log_file`` if given, else to one file per severity in
  ``-log_dir`` (the temporary directory when empty), named as klog's ``logName``
  (``pycadvisor.<host>.<user>.log.<SEVERITY>.<yyyymmdd-hhmmss>.<pid>``, with a ``pycadvisor.<SEVERITY>``
  symlink); stderr gets what is at or above ``-stderrthreshold`` (a number or INFO/WARNING/ERROR/FATAL), or
  everything with ``-alsologtostderr``;
- ``-v``: V(4) and above are this project's DEBUG records; ``-vmodule=pattern=N,...`` raises the level of
  the modules whose file name (without ``.py``, as klog strips ``.go``) matches the glob, or whose path
  does when the pattern holds a ``/``.

The others (``-log_file_max_size``, ``-skip_headers``, ``-skip_log_headers``, ``-add_dir_header``,
``-log_backtrace_at``, ``-one_output``) are checked as klog checks them and reported once at start as
having no effect here (:func:`no_effect_notes`).
"""

from __future__ import annotations

import datetime
import fnmatch
import getpass
import logging
import os
import socket
import sys
import tempfile
from dataclasses import dataclass

# klog's severities (internal/severity/severity.go) and their Python levels.
SEVERITIES = ("INFO", "WARNING", "ERROR", "FATAL")
_LEVELS = (logging.INFO, logging.WARNING, logging.ERROR, logging.CRITICAL)
# cAdvisor logs at V(4) and above what this project logs at DEBUG.
DEBUG_VERBOSITY = 4
PROGRAM = "pycadvisor"
FORMAT = "%(asctime)s %(levelname).1s %(name)s: %(message)s"


def parse_severity(text: str) -> int:
    """klog ``severityValue.Set``: a severity name (any case) or its number, as a Python level."""
    name = text.strip().upper()
    if name in SEVERITIES:
        return _LEVELS[SEVERITIES.index(name)]
    n = int(text)  # ValueError names the bad text
    if n < 0:
        return logging.DEBUG
    return _LEVELS[min(n, len(_LEVELS) - 1)]


def parse_vmodule(text: str) -> list[tuple[str, int]]:
    """klog ``parseModuleSpec``: ``pattern=N,...``; empty items and N=0 ignored, as there."""
    out: list[tuple[str, int]] = []
    for item in text.split(","):
        if not item:
            continue
        parts = item.split("=")
        if len(parts) != 2 or not parts[0] or not parts[1]:
            raise ValueError("syntax error: expect comma-separated list of filename=N")
        try:
            level = int(parts[1])
        except ValueError:
            raise ValueError("syntax error: expect comma-separated list of filename=N") from None
        if level < 0:
            raise ValueError("negative value for vmodule level")
        if level:
            out.append((parts[0], level))
    return out


def check_backtrace_at(text: str) -> None:
    """klog ``traceLocation.Set``: empty, or ``file.ext:N`` with N > 0."""
    if not text:
        return
    fields = text.split(":")
    if len(fields) != 2 or "." not in fields[0]:
        raise ValueError("syntax error: expect file.go:234")
    try:
        line = int(fields[1])
    except ValueError:
        raise ValueError("syntax error: expect file.go:234") from None
    if line <= 0:
        raise ValueError("negative or zero value for level")


@dataclass(frozen=True, slots=True)
class LogFlags:
    v: int = 2
    vmodule: str = ""
    logtostderr: bool = True
    alsologtostderr: bool = False
    stderrthreshold: str = "2"
    log_dir: str = ""
    log_file: str = ""


class VerbosityFilter(logging.Filter):
    """Lets DEBUG records through only from modules whose klog verbosity (``-v``, raised by a matching
    ``-vmodule`` pattern; klog ``V()`` takes the larger) is at least :data:`DEBUG_VERBOSITY`."""

    def __init__(self, v: int, vmodule: list[tuple[str, int]]) -> None:
        super().__init__()
        self._v = v
        self._vmodule = vmodule
        self._cache: dict[str, int] = {}

    def verbosity(self, module: str, pathname: str) -> int:
        got = self._cache.get(pathname)
        if got is None:
            got = self._v
            for pattern, level in self._vmodule:  # the first matching pattern wins (klog setV)
                subject = os.path.splitext(pathname)[0] if "/" in pattern else module
                if fnmatch.fnmatchcase(subject, pattern):
                    got = max(self._v, level)
                    break
            self._cache[pathname] = got
        return got

    def filter(self, record: logging.LogRecord) -> bool:
        if record.levelno >= logging.INFO:
            return True
        return self.verbosity(record.module, record.pathname) >= DEBUG_VERBOSITY


def _severity_files(log_dir: str) -> list[tuple[int, str]]:
    """klog ``logName``/``create``: one file per severity (all but FATAL, which Python never logs apart
    from CRITICAL), each with a ``<program>.<SEVERITY>`` symlink to it."""
    now = datetime.datetime.now()
    try:
        user = getpass.getuser()
    except (KeyError, OSError):
        user = "unknownuser"
    host = socket.gethostname().split(".")[0] or "unknownhost"
    out = []
    for sev, level in zip(SEVERITIES[:3], _LEVELS[:3], strict=True):
        name = f"{PROGRAM}.{host}.{user}.log.{sev}.{now:%Y%m%d-%H%M%S}.{os.getpid()}"
        path = os.path.join(log_dir, name)
        link = os.path.join(log_dir, f"{PROGRAM}.{sev}")
        try:
            os.remove(link)
        except FileNotFoundError:
            pass
        os.symlink(name, link)
        out.append((level, path))
    return out


def configure(flags: LogFlags) -> list[logging.Handler]:
    """Install the root logger's handlers for ``flags``; returns them. Raises ``OSError`` when a log
    file or directory cannot be written (the CLI exits on it, naming the path)."""
    vmodule = parse_vmodule(flags.vmodule)
    verbosity = VerbosityFilter(flags.v, vmodule)
    fmt = logging.Formatter(FORMAT)
    handlers: list[logging.Handler] = []

    def add(handler: logging.Handler, level: int) -> None:
        handler.setLevel(level)
        handler.setFormatter(fmt)
        handler.addFilter(verbosity)
        handlers.append(handler)

    if flags.logtostderr:
        add(logging.StreamHandler(sys.stderr), logging.DEBUG)
    else:
        if flags.log_file:
            add(logging.FileHandler(flags.log_file, encoding="utf-8"), logging.DEBUG)
        else:
            log_dir = flags.log_dir or tempfile.gettempdir()
            for level, path in _severity_files(log_dir):
                # INFO's file holds every record (V logs are info severity in klog), the others theirs and up.
                add(logging.FileHandler(path, encoding="utf-8"), logging.DEBUG if level == logging.INFO else level)
        threshold = logging.DEBUG if flags.alsologtostderr else parse_severity(flags.stderrthreshold)
        add(logging.StreamHandler(sys.stderr), threshold)
    root = logging.getLogger()
    for h in list(root.handlers):
        root.removeHandler(h)
    for h in handlers:
        root.addHandler(h)
    wants_debug = flags.v >= DEBUG_VERBOSITY or any(level >= DEBUG_VERBOSITY for _, level in vmodule)
    root.setLevel(logging.DEBUG if wants_debug else logging.INFO)
    return handlers
