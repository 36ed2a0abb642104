"""``-profiling``: profiles of the running daemon at Go's ``net/http/pprof`` paths (cAdvisor ``cmd/cadvisor.go``).

cAdvisor mounts Go's pprof handlers; their protobuf profiles describe Go programs, so this serves what
the same questions need of a Python daemon, as text (``?format=speedscope`` gives speedscope's JSON):

- ``/debug/pprof/profile?seconds=N`` (default 30, as Go): a sampled CPU profile of the event-loop thread,
  where all collection and serving run, taken for N seconds by pyinstrument (1 ms sampling interval);
- ``/debug/pprof/heap``: the Python memory allocated and still held, by source line, from tracemalloc,
  which runs from the start when ``-profiling`` is set (it costs CPU on every allocation, hence the flag);
  ``?group=traceback`` shows whole stacks when the daemon was started with ``PYTHONTRACEMALLOC=N``;
- ``/debug/pprof/cmdline``: the command line, NUL-separated as Go's; ``/debug/pprof/``: an index.

Without ``-profiling`` these paths answer 404. They are behind the UI's credentials with ``-auth_protect_api``
(api/auth.py ``API_PATHS``).
"""

from __future__ import annotations

import asyncio
import sys
import tracemalloc
from collections.abc import Awaitable, Callable

from aiohttp import web

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]

# Frames kept per allocation. One (the allocating line) keeps tracing affordable: at a 200 ms housekeeping
# interval over 38 cgroups, 1.0 s of CPU per 10 s against 0.5 s untraced; 16 frames took a whole core.
# PYTHONTRACEMALLOC=N at start gives N-frame stacks (tracing then began before this module looks, and
# is left as it is).
TRACEMALLOC_FRAMES = 1
MAX_SECONDS = 3600
INDEX = """\
pycadvisor profiles (-profiling)

/debug/pprof/profile?seconds=30   sampled CPU profile of the event-loop thread (&format=speedscope for JSON)
/debug/pprof/heap?top=50          Python memory held, by line (&group=traceback for stacks)
/debug/pprof/cmdline              the command line
"""


def _int_param(request: web.Request, name: str, default: int, low: int, high: int) -> int:
    raw = request.query.get(name, "")
    if raw == "":
        return default
    try:
        value = int(raw)
    except ValueError:
        raise web.HTTPBadRequest(text=f"invalid parameter {name!r}: {raw!r} is not an integer\n") from None
    if not low <= value <= high:
        raise web.HTTPBadRequest(text=f"invalid parameter {name!r}: must be between {low} and {high}\n")
    return value


def add_profiling_routes(app: web.Application, mounts: tuple[str, ...], *, enabled: bool) -> None:
    """Serve the profiles under each mount; when not ``enabled``, the same paths answer 404 (Go's mux would
    redirect them to the UI, which hides that profiling is off)."""
    r = app.router
    if not enabled:

        async def disabled(_: web.Request) -> web.StreamResponse:
            raise web.HTTPNotFound(text="profiling is disabled: start with -profiling\n")

        for mount in mounts:
            r.add_get(mount + "/debug/pprof", disabled)
            r.add_get(mount + "/debug/pprof/{tail:.*}", disabled)
        return

    if not tracemalloc.is_tracing():
        tracemalloc.start(TRACEMALLOC_FRAMES)
    busy = asyncio.Lock()  # one sampler per thread: pyinstrument refuses a second

    async def index(_: web.Request) -> web.StreamResponse:
        return web.Response(text=INDEX)

    async def cmdline(_: web.Request) -> web.StreamResponse:
        return web.Response(text="\x00".join(sys.argv))

    async def profile(request: web.Request) -> web.StreamResponse:
        # Lazy: only with -profiling; pyinstrument's import costs the daemons that never profile.
        from pyinstrument import Profiler
        from pyinstrument.renderers import SpeedscopeRenderer

        seconds = _int_param(request, "seconds", 30, 1, MAX_SECONDS)
        fmt = request.query.get("format", "text")
        if fmt not in ("text", "speedscope"):
            raise web.HTTPBadRequest(text=f"invalid parameter 'format': {fmt!r} is not text or speedscope\n")
        if busy.locked():
            # Go's pprof: 500 "Could not enable CPU profiling: cpu profiling already in use".
            raise web.HTTPConflict(text="a CPU profile is already being taken; retry when it is done\n")
        async with busy:
            # async_mode="disabled": sample the whole thread, every task on the loop, not just this one.
            profiler = Profiler(interval=0.001, async_mode="disabled")
            profiler.start()
            try:
                await asyncio.sleep(seconds)
            finally:
                profiler.stop()
        # Rendering a long profile takes a while: off the event loop, which keeps collecting and serving.
        loop = asyncio.get_running_loop()
        if fmt == "speedscope":
            body = await loop.run_in_executor(None, profiler.output, SpeedscopeRenderer())
            return web.Response(text=body, content_type="application/json")
        # The loop idles most of the time, so pyinstrument's default cut (frames under 1 % of the wall time)
        # would hide the housekeeping itself; 0.1 % keeps it.
        options = {"filter_threshold": 0.001}
        text = await loop.run_in_executor(None, lambda: profiler.output_text(unicode=True, processor_options=options))
        return web.Response(text=text)

    async def heap(request: web.Request) -> web.StreamResponse:
        top = _int_param(request, "top", 50, 1, 10_000)
        group = request.query.get("group", "lineno")
        if group not in ("lineno", "filename", "traceback"):
            raise web.HTTPBadRequest(
                text=f"invalid parameter 'group': {group!r} is not lineno, filename or traceback\n"
            )
        snapshot = tracemalloc.take_snapshot().filter_traces(
            (
                tracemalloc.Filter(False, tracemalloc.__file__),
                tracemalloc.Filter(False, "<frozen importlib._bootstrap>"),
            )
        )
        stats = snapshot.statistics(group)
        current, peak = tracemalloc.get_traced_memory()
        lines = [
            f"Python memory traced: {current / 1024:.1f} KiB held, {peak / 1024:.1f} KiB peak, "
            f"in {sum(s.count for s in stats)} blocks; the top {min(top, len(stats))} by size ({group}):",
            "",
        ]
        for s in stats[:top]:
            frames = list(reversed(s.traceback))  # tracemalloc orders them oldest first
            lines.append(f"{s.size / 1024:10.1f} KiB {s.count:8d} blocks  {frames[0]}")
            if group == "traceback":
                lines.extend(f"{'':31}{frame}" for frame in frames[1:])
        return web.Response(text="\n".join(lines) + "\n")

    for mount in mounts:
        r.add_get(mount + "/debug/pprof", index)
        r.add_get(mount + "/debug/pprof/", index)
        r.add_get(mount + "/debug/pprof/cmdline", cmdline)
        r.add_get(mount + "/debug/pprof/profile", profile)
        r.add_get(mount + "/debug/pprof/heap", heap)
