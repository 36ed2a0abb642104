"""The kernel-log OOM parser on OOM reports of several kernel versions."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from pycadvisor.errors import ParseError
from pycadvisor.events.kmsg import KmsgOomSource, OomInstance, OomParser, parse_kmsg_record
from pycadvisor.host.paths import HostPaths

FIXTURES = Path(__file__).parent / "fixtures"
BOOT = 1_700_000_000_000_000_000

# cadvisor-interfaces §5.3 (cAdvisor's oomparser_test.go strings).
START_LINE = "ruby invoked oom-killer: gfp_mask=0x201da, order=0, oom_score_adj=0"
END_LINE = "Killed process 19667 (evil-program2) total-vm:1460016kB, anon-rss:1414008kB, file-rss:4kB"
LEGACY_LINE = "Task in /mem2 killed as a result of limit of /mem3"
MODERN_LINE = (
    "oom-kill:constraint=CONSTRAINT_MEMCG,nodemask=(null),"
    "cpuset=ef807430361e6e82b45db92e2e9b6fbec98f419b12c591e655c1a725565e73a8,"
    "mems_allowed=0,oom_memcg=/kubepods/burstable/podfbdfe8e3-1c87-4ff2-907 c-b2ec8e25d012,"
    "task_memcg=/kubepods/burstable/podfbdfe8e3-1c87-4ff2-907c-b2ec8e25d012/"
    "ef807430361e6e82b45db92e2e9b6fbec98f419b12c591e655c1a725565e73a8,task=manager,pid=966,uid=0"
)


def messages(name: str) -> list[str]:
    """Message lines of a fixture (comments starting with '#' dropped)."""
    return [ln for ln in (FIXTURES / name).read_text().splitlines() if ln and not ln.startswith("#")]


def run(lines: list[str], ts: int = 5) -> list[OomInstance]:
    p = OomParser()
    out = []
    for i, line in enumerate(lines):
        inst = p.feed(line, ts + i)
        if inst is not None:
            out.append(inst)
    return out


# ---------------------------------------------------------------- the §5.3 lines


def test_section_5_3_modern_line_finishes_a_report_with_both_cgroups() -> None:
    [inst] = run([START_LINE, MODERN_LINE])
    assert inst.container_name == (
        "/kubepods/burstable/podfbdfe8e3-1c87-4ff2-907c-b2ec8e25d012/"
        "ef807430361e6e82b45db92e2e9b6fbec98f419b12c591e655c1a725565e73a8"
    )
    # The §5.3 string carries a stray space inside oom_memcg; the value is taken as printed.
    assert inst.victim_container_name == "/kubepods/burstable/podfbdfe8e3-1c87-4ff2-907 c-b2ec8e25d012"
    assert (inst.pid, inst.process_name, inst.constraint) == (966, "manager", "CONSTRAINT_MEMCG")
    assert inst.time_ns == 6  # the timestamp of the line that finished the report


def test_section_5_3_legacy_lines() -> None:
    [inst] = run([START_LINE, LEGACY_LINE, "memory: usage 980kB, limit 980kB, failcnt 4152239", END_LINE])
    assert (inst.container_name, inst.victim_container_name) == ("/mem2", "/mem3")
    assert (inst.pid, inst.process_name, inst.constraint) == (19667, "evil-program2", "")
    assert inst.time_ns == 8


def test_lines_outside_a_report_are_ignored() -> None:
    assert run([END_LINE, MODERN_LINE, LEGACY_LINE]) == []


@pytest.mark.parametrize(
    "name",
    ["foo", "python3.4", "foo-bar", "Plex Media Server", "x86_64-pc-linux-gnu-c++-5.4.0", "[", "()", '"with quotes"'],
)
def test_killed_process_names_with_odd_characters(name: str) -> None:
    line = f"Killed process 1234 ({name}) total-vm:1460016kB, anon-rss:1414008kB, file-rss:4kB"
    [inst] = run([START_LINE, line])
    assert (inst.pid, inst.process_name) == (1234, name)


def test_kill_process_or_sacrifice_child_line_does_not_finish() -> None:
    # Linux 3.x-4.x print "Kill process N (x) score S or sacrifice child" before "Killed process".
    lines = [START_LINE, "Memory cgroup out of memory: Kill process 77 (a) score 9 or sacrifice child"]
    assert run(lines) == []
    assert len(run([*lines, "Killed process 77 (a) total-vm:1kB"])) == 1


def test_a_new_report_restarts_an_unfinished_one() -> None:
    lines = [START_LINE, "Task in /old killed as a result of limit of /old", START_LINE, END_LINE]
    [inst] = run(lines)
    assert (inst.container_name, inst.victim_container_name) == ("/", "/")


def test_modern_line_with_commas_in_cgroup_names() -> None:
    line = (
        "oom-kill:constraint=CONSTRAINT_MEMCG,nodemask=(null),cpuset=a,b,mems_allowed=0-1,"
        "oom_memcg=/x,y,task_memcg=/x,y/z,task=w,pid=3,pid=4,uid=0"
    )
    [inst] = run([START_LINE, line])
    assert (inst.container_name, inst.victim_container_name, inst.process_name, inst.pid) == (
        "/x,y/z",
        "/x,y",
        "w,pid=3",
        4,
    )


# ---------------------------------------------------------------- whole reports by kernel version


def test_linux_3_13_memcg_oom() -> None:
    [inst] = run(messages("linux-3.13-memcg.txt"))
    assert inst == OomInstance(
        container_name="/lxc/web",
        victim_container_name="/lxc/web",
        pid=20417,
        process_name="hog",
        constraint="",
        time_ns=inst.time_ns,
    )


def test_linux_3_13_global_oom_is_reported_against_root() -> None:
    [inst] = run(messages("linux-3.13-global.txt"))
    assert (inst.container_name, inst.victim_container_name, inst.pid, inst.process_name) == ("/", "/", 3121, "stress")


def test_linux_4_9_two_docker_ooms() -> None:
    a, b = run(messages("linux-4.9-docker.txt"))
    ida = "5d4f0e6c2a1b8f3e9d7c6b5a4f3e2d1c0b9a8f7e6d5c4b3a2f1e0d9c8b7a6f5e"
    idb = "a0b1c2d3e4f5a6b7c8d9e0f1a2b3c4d5e6f7a8b9c0d1e2f3a4b5c6d7e8f9a0b1"
    assert (a.container_name, a.victim_container_name, a.pid, a.process_name) == (
        f"/docker/{ida}",
        f"/docker/{ida}",
        7712,
        "memhog",
    )
    assert (b.container_name, b.victim_container_name, b.pid, b.process_name) == (
        f"/docker/{idb}",
        f"/docker/{idb}",
        8120,
        "java",
    )
    assert a.time_ns < b.time_ns


def test_linux_5_10_pod_limit_and_container_task() -> None:
    [inst] = run(messages("linux-5.10-kubepods.txt"))
    pod = "/kubepods/burstable/pod3c0e2f4a-7b9d-4e1f-a2c3-d4e5f6a7b8c9"
    assert inst.victim_container_name == pod
    assert inst.container_name == pod + "/9f1e2d3c4b5a69788796a5b4c3d2e1f0a9b8c7d6e5f4a3b2c1d0e9f8a7b6c5d4"
    assert (inst.pid, inst.process_name, inst.constraint) == (966, "manager", "CONSTRAINT_MEMCG")


def test_linux_6_1_global_oom_names_the_task_cgroup() -> None:
    # cAdvisor's regex misses "global_oom" and reports "/"; the task's cgroup is known, so use it.
    [inst] = run(messages("linux-6.1-global.txt"))
    assert inst.container_name == "/user.slice/user-1000.slice/session-4.scope"
    assert inst.victim_container_name == "/"
    assert (inst.pid, inst.process_name, inst.constraint) == (48211, "python3", "CONSTRAINT_NONE")


def test_linux_6_18_kmsg_records_captured_on_a_v1_host() -> None:
    """Raw /dev/kmsg records of a 32 MiB limit on /pycadtest-*/ hit by a task in its child job."""
    raw = (FIXTURES / "kmsg-linux-6.18-v1-nested.txt").read_bytes()
    parser = OomParser()
    found = []
    last_seq = -1
    for rec_bytes in raw.split(b"\n"):
        if not rec_bytes or rec_bytes.startswith(b" "):
            continue
        rec = parse_kmsg_record(rec_bytes + b"\n", BOOT)
        assert rec is not None
        assert rec.seq > last_seq
        last_seq = rec.seq
        inst = parser.feed(rec.message, rec.ts_ns)
        if inst is not None:
            found.append(inst)
    [inst] = found
    assert inst.container_name == "/pycadtest-e4fc71ee/job"
    assert inst.victim_container_name == "/pycadtest-e4fc71ee"
    assert (inst.pid, inst.process_name, inst.constraint) == (5860, "python3", "CONSTRAINT_MEMCG")
    assert inst.time_ns == BOOT + 869028155 * 1000


# ---------------------------------------------------------------- record framing


def test_parse_kmsg_record_fields_and_time() -> None:
    rec = parse_kmsg_record(b"6,5762,869028155,-;hello world\n SUBSYSTEM=x\n", BOOT)
    assert rec is not None
    assert (rec.seq, rec.ts_ns, rec.message) == (5762, BOOT + 869_028_155_000, "hello world")


def test_parse_kmsg_record_with_caller_field() -> None:
    # CONFIG_PRINTK_CALLER adds a fifth header field.
    rec = parse_kmsg_record(b"4,10,20,-,caller=T123;msg\n", 0)
    assert rec is not None and rec.message == "msg"


def test_userspace_records_are_not_kernel_messages() -> None:
    # Written by a process to /dev/kmsg: facility LOG_USER (prio 14 = 1<<3 | 6). A forged report must not count.
    raw = b"14,11,30,-;evil invoked oom-killer: gfp_mask=0x0\n"
    assert parse_kmsg_record(raw, 0) is None
    assert parse_kmsg_record(raw, 0, kernel_only=False) is not None


@pytest.mark.parametrize("raw", [b"no semicolon here", b"4,5;short header", b"x,1,2,-;bad prio"])
def test_malformed_records_raise_parse_error(raw: bytes) -> None:
    with pytest.raises(ParseError):
        parse_kmsg_record(raw, 0)


# ---------------------------------------------------------------- the source


def test_source_without_a_kmsg_device_stays_off(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    import asyncio

    got: list[OomInstance] = []
    src = KmsgOomSource(HostPaths.under(str(tmp_path)), got.append)
    loop = asyncio.new_event_loop()
    try:
        assert src.start(loop) is False
        assert not src.active
    finally:
        loop.close()
    assert any("kmsg" in r.getMessage() for r in caplog.records)


def test_source_reads_records_from_the_end_and_reports_kills(tmp_path: Path) -> None:
    """A FIFO standing in for /dev/kmsg: one record per write, as the device delivers them."""
    import asyncio

    os.mkdir(tmp_path / "dev")
    fifo = tmp_path / "dev" / "kmsg"
    os.mkfifo(fifo)
    got: list[OomInstance] = []

    async def main() -> None:
        wfd = os.open(fifo, os.O_RDWR | os.O_NONBLOCK)  # keep a writer so the reader never sees EOF
        src = KmsgOomSource(HostPaths.under(str(tmp_path)), got.append, boot_ns=BOOT)
        try:
            assert src.start(asyncio.get_running_loop())
            records = [
                f"4,1,100,-;{START_LINE}\n",
                f"4,2,100,-;{LEGACY_LINE}\n SUBSYSTEM=memory\n",
                "12,3,100,-;Killed process 666 (forged)\n",  # written by userspace (LOG_USER): ignored
                f"3,4,100,-;{END_LINE}\n",
            ]
            for r in records:
                os.write(wfd, r.encode())
            for _ in range(200):
                if got:
                    break
                await asyncio.sleep(0.01)
        finally:
            src.stop()
            os.close(wfd)

    asyncio.run(main())
    assert [(g.container_name, g.victim_container_name, g.process_name) for g in got] == [
        ("/mem2", "/mem3", "evil-program2")
    ]
    assert got[0].time_ns == BOOT + 100_000
