"""remote_write driver against a local receiver: the wire format, retries and drops, credentials, TLS, bad flags.

The end-to-end check against a real Prometheus is ``test_remote_write_prometheus.py``.
"""

from __future__ import annotations

import asyncio
import re
import ssl
import subprocess
import sys
from pathlib import Path

import pytest

from metrics.expo_fixtures import SCRAPE_TIME, fixture_machine, fixture_snapshots
from pycadvisor.app import sample_series
from pycadvisor.metrics.options import ExpositionOptions
from pycadvisor.metrics.render import ExpositionRenderer
from pycadvisor.metrics.series import SampleSeries
from pycadvisor.metrics.sets import ALL_METRIC_SETS, MetricSets
from pycadvisor.metrics.source import ContainerSnapshot
from pycadvisor.model.container import MetricVal
from pycadvisor.model.machine import MachineInfo
from pycadvisor.storage import remote_write
from pycadvisor.storage.base import Sample
from pycadvisor.storage.options import StorageOptions
from pycadvisor.storage.registry import build_drivers
from pycadvisor.storage.remote_write import RemoteWriteDriver
from storage._helpers import MS, TS0, add_all, burst, full_sample, options, poll
from storage._remote_write import Decoded, decode, driver, parse_exposition, receiver

REPO = Path(__file__).resolve().parents[2]
PYTHON = str(REPO / ".venv" / "bin" / "python") if (REPO / ".venv" / "bin" / "python").exists() else sys.executable


def rw_options(url: str, **kw: object) -> StorageOptions:
    return options("remote_write", storage_driver_host=url, **kw)


def expected_series() -> dict[tuple[tuple[str, str], ...], float]:
    """The series of :func:`full_sample` as ``/metrics`` would name them (default metric sets)."""
    ref, spec, stats = full_sample()
    snap = ContainerSnapshot(
        name=ref.name, id=ref.id, aliases=tuple(ref.aliases), namespace=ref.namespace, spec=spec, stats=stats
    )
    return dict(SampleSeries(ExpositionOptions()).series(snap))


def test_every_family_of_every_metric_set_is_pushed_as_the_exposition_renders_it() -> None:
    """The series builder against the renderer, over the exposition's fixture containers (Docker, containerd,
    a slice, the root: per-CPU, per-device, per-interface, escaped label values, application metrics) and its
    machine (DIMMs, NVM, NUMA topology) with every metric set on."""
    opts = ExpositionOptions(metric_sets=MetricSets.of(ALL_METRIC_SETS), runtime_metrics=False, self_metrics=False)
    snaps = fixture_snapshots()
    machine = fixture_machine()
    text = ExpositionRenderer(opts).render(snaps, machine=machine, version=None, now_ns=SCRAPE_TIME).decode()
    sampled = {s.name for s in snaps if s.stats is not None}  # a stored sample always has stats
    assert len(sampled) == 3
    scraped: dict[frozenset[tuple[str, str]], float] = {}
    scraped_machine: dict[frozenset[tuple[str, str]], float] = {}
    for name, scraped_labels, value, _ in parse_exposition(text):
        as_stored = frozenset({("__name__", name), *((k, v) for k, v in scraped_labels.items() if v != "")})
        # container_last_seen: the scrape's time in /metrics, the sample's when pushed
        if scraped_labels.get("id") in sampled and name != "container_last_seen":
            scraped[as_stored] = value
        elif name.startswith("machine_") and name != "machine_scrape_error":
            scraped_machine[as_stored] = value
    builder = SampleSeries(opts)
    pushed: dict[frozenset[tuple[str, str]], float] = {}
    for snap in snaps:
        for labels, value in builder.series(snap):
            assert [k for k, _ in labels] == sorted(k for k, _ in labels)
            if dict(labels)["__name__"] != "container_last_seen":
                pushed[frozenset(labels)] = value
    assert len(scraped) > 500
    assert pushed == scraped
    app = {dict(lab)["__name__"] for lab in pushed if any(k.startswith("app_") for k, _ in lab)}
    assert app >= {"nginx_requests_total", "container_custom_app_metric_1"}
    assert [v for lab, v in pushed.items() if ("__name__", "nginx_active_connections") in lab] == [7.0]
    machine_series = builder.machine_series(machine)
    assert all([k for k, _ in labels] == sorted(k for k, _ in labels) for labels, _ in machine_series)
    assert {frozenset(labels): value for labels, value in machine_series} == scraped_machine
    assert {dict(lab)["__name__"] for lab in scraped_machine} >= {"machine_cpu_cores", "machine_memory_bytes"}
    assert builder.machine_series(machine) is machine_series  # built once per MachineInfo


def test_a_sample_arrives_as_a_snappy_write_request_of_its_metrics_series() -> None:
    async def main() -> None:
        async with receiver() as rec:
            d = driver(rw_options(rec.url))
            await d.start()
            add_all(d, burst(full_sample(), 2))
            await poll(lambda: d.stats().written == 2, timeout=20, what="2 samples written")
            await d.close()
        [(_, headers, body)] = rec.requests  # both samples in one request
        assert headers["Content-Encoding"] == "snappy"
        assert headers["Content-Type"] == "application/x-protobuf"
        assert headers["X-Prometheus-Remote-Write-Version"] == "0.1.0"
        assert "Authorization" not in headers  # cAdvisor's default root/root is not sent
        got = decode(body)
        want = expected_series()
        assert set(got) == set(want)
        for labels, samples in got.items():
            names = [k for k, _ in labels]
            assert names == sorted(names) and len(set(names)) == len(names) and "__name__" in names
            assert all(v != "" for _, v in labels)
            # one sample per series per container sample, in time order, at the sample's time in ms
            assert samples == [(want[labels], TS0 // MS), (want[labels], TS0 // MS + 1)]
        by_name = {dict(labels)["__name__"]: dict(labels) for labels in got}
        mem = by_name["container_memory_usage_bytes"]
        assert mem["id"] == "/docker/" + "f" * 64 and mem["name"] == "web-1"
        assert mem["image"] == "registry.example/pycad/busybox:1.36"
        assert mem["container_label_com_example_team"] == "storage tests"
        assert got[tuple(sorted(mem.items()))][0][0] == 4096.0
        assert any(dict(lab).get("cpu") == "cpu01" for lab in got)  # per-CPU series, extra labels slotted in

    asyncio.run(main())


def test_each_request_carries_the_machine_families_and_a_sample_its_application_metrics() -> None:
    """What /metrics has beside the container families: ``machine_*`` with its labels and values (at the request's
    newest sample time), and the container's application metrics with its labels plus ``app_<label>``."""
    machine = fixture_machine()
    known: list[MachineInfo] = []  # the manager has not read the machine yet at the first request
    builder = SampleSeries(ExpositionOptions())
    ref, spec, stats = full_sample()
    stats.custom_metrics = {
        "http_requests_total": [MetricVal(labels={"code": "200"}, timestamp=TS0, float_value=17.0)],
        "queue_depth": [MetricVal(timestamp=TS0, int_value=3)],  # a generic collector's int metric
    }
    snap = ContainerSnapshot(
        name=ref.name, id=ref.id, aliases=tuple(ref.aliases), namespace=ref.namespace, spec=spec, stats=stats
    )
    text = ExpositionRenderer(ExpositionOptions()).render([snap], machine=machine, version=None).decode()
    scraped = {
        frozenset({("__name__", name), *((k, v) for k, v in labels.items() if v)}): (value, ts)
        for name, labels, value, ts in parse_exposition(text)
    }

    async def main() -> list[Decoded]:
        async with receiver() as rec:
            [d] = build_drivers(
                rw_options(rec.url),
                machine_name="n",
                series=sample_series(ExpositionOptions(), lambda name: 0, builder),
                machine_series=lambda: [s for m in known for s in builder.machine_series(m)],
            )
            await d.start()
            add_all(d, [(ref, spec, stats)])
            await poll(lambda: d.stats().written == 1, timeout=20, what="the first sample written")
            known.append(machine)
            add_all(d, burst((ref, spec, stats), 3)[1:])
            await poll(lambda: d.stats().written == 3, timeout=20, what="two more samples written")
            await d.close()
        return [decode(body) for _, _, body in rec.requests]

    first, *later = asyncio.run(main())
    assert not [lab for lab in first if dict(lab)["__name__"].startswith("machine_")]  # none before it is known
    pushed_machine: dict[frozenset[tuple[str, str]], list[tuple[float, int]]] = {}
    for got in later:
        for labels, samples in got.items():
            if dict(labels)["__name__"].startswith("machine_"):
                pushed_machine.setdefault(frozenset(labels), []).extend(samples)
    newest = TS0 // MS + 2  # the newest sample of the burst
    assert pushed_machine == {
        lab: [(value, newest)] * len(later)
        for lab, (value, _) in scraped.items()
        if dict(lab)["__name__"].startswith("machine_") and dict(lab)["__name__"] != "machine_scrape_error"
    }
    cores = frozenset(
        {
            ("__name__", "machine_cpu_cores"),
            ("boot_id", "boot-id-test"),
            ("machine_id", "machine-id-test"),
            ("system_uuid", "system-uuid-test"),
        }
    )
    assert pushed_machine[cores][0][0] == 4.0
    assert {dict(lab)["__name__"] for lab in pushed_machine} >= {"machine_memory_bytes", "machine_dimm_count"}
    for name, value in (("http_requests_total", 17.0), ("queue_depth", 3.0)):
        [(labels, samples)] = [(lab, s) for lab, s in first.items() if dict(lab)["__name__"] == name]
        assert samples == [(value, TS0 // MS)] and scraped[frozenset(labels)][0] == value
        assert dict(labels)["name"] == "web-1" and dict(labels)["container_label_com_example_team"] == "storage tests"
    assert ("app_code", "200") in next(lab for lab in first if dict(lab)["__name__"] == "http_requests_total")


def test_external_labels_tell_hosts_apart_without_replacing_a_series_label() -> None:
    async def main() -> None:
        async with receiver() as rec:
            labels = "instance=host-a:8080,job=cadvisor,id=not-the-cgroup"
            d = driver(rw_options(rec.url, storage_driver_remote_write_external_labels=labels))
            await d.start()
            add_all(d, burst(full_sample(), 1))
            await poll(lambda: d.stats().written == 1, timeout=20, what="written")
            await d.close()
        got = decode(rec.requests[0][2])
        want = expected_series()
        assert len(got) == len(want)
        for sent in got:
            names = [k for k, _ in sent]
            assert names == sorted(names)
            labels_of = dict(sent)
            assert labels_of["instance"] == "host-a:8080" and labels_of["job"] == "cadvisor"
            original = tuple((k, v) for k, v in sent if k not in ("instance", "job"))
            assert original in want  # the cgroup's own id kept

    asyncio.run(main())
    for bad in ("instance", "__name__=x", "1a=b", "a=1,a=2", "a="):
        with pytest.raises(ValueError, match="-storage_driver_remote_write_external_labels="):
            driver(rw_options("http://127.0.0.1:9/api/v1/write", storage_driver_remote_write_external_labels=bad))


def test_samples_arriving_within_the_buffer_duration_go_in_one_request() -> None:
    async def main() -> None:
        async with receiver() as rec:
            d = driver(rw_options(rec.url, storage_driver_buffer_duration=1500 * MS))
            await d.start()
            for sample in burst(full_sample(), 3):  # housekeeping adds samples one container at a time
                add_all(d, [sample])
                await asyncio.sleep(0.1)
            await poll(lambda: d.stats().written == 3, timeout=20, what="3 samples written")
            await d.close()
        [(_, _, body)] = rec.requests
        assert {len(samples) for samples in decode(body).values()} == {3}

    asyncio.run(main())


def test_a_backlog_is_encoded_in_pieces_with_the_event_loop_running_between_them(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    async def main() -> None:
        async with receiver() as rec:
            d = driver(rw_options(rec.url))
            assert isinstance(d, RemoteWriteDriver)
            ticks = 0
            seen: list[int] = []

            async def ticker() -> None:  # stands for housekeeping and the API
                nonlocal ticks
                while True:
                    ticks += 1
                    await asyncio.sleep(0)

            encode = d.encode

            def watched(sample: Sample) -> list[bytes]:
                seen.append(ticks)
                return encode(sample)

            monkeypatch.setattr(d, "encode", watched)
            task = asyncio.create_task(ticker())
            add_all(d, burst(full_sample(), 64))  # a backlog, as after an outage
            await d.start()
            await poll(lambda: d.stats().written == 64, timeout=20, what="64 samples written")
            task.cancel()
            await d.close()
        assert len(rec.requests) == 1 and len(seen) == 64
        assert len(set(seen)) == 4  # four pieces of 16 samples, the loop ran between them

    asyncio.run(main())


def test_5xx_and_429_are_retried_other_4xx_dropped_and_counted() -> None:
    async def main() -> None:
        async with receiver([503, 429, 204, 400, 204]) as rec:
            d = driver(rw_options(rec.url))
            await d.start()
            first, second, third = burst(full_sample(), 3)
            add_all(d, [first])
            await poll(lambda: d.stats().written == 1, timeout=20, what="delivered after 503 and 429")
            assert [s for s, _, _ in rec.requests] == [503, 429, 204]
            assert d.stats().errors == 2 and d.stats().dropped == 0
            assert decode(rec.requests[0][2]) == decode(rec.requests[2][2])  # the same batch, resent
            add_all(d, [second])
            await poll(lambda: d.stats().dropped == 1, timeout=20, what="the 400 batch dropped")
            add_all(d, [third])
            await poll(lambda: d.stats().written == 2, timeout=20, what="the next sample delivered")
            stats = d.stats()
            await d.close()
        assert [s for s, _, _ in rec.requests] == [503, 429, 204, 400, 204]  # a 400 is not sent again
        assert (stats.written, stats.dropped, stats.errors, stats.buffered) == (2, 1, 3, 0)
        stamps = sorted(t for samples in rec.accepted().values() for _, t in samples)
        assert set(stamps) == {TS0 // MS, TS0 // MS + 2}  # first and third; the refused one is gone

    asyncio.run(main())


def test_a_receiver_that_hangs_then_answers_garbage_is_retried_until_one_answers(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(remote_write, "TIMEOUT_S", 0.5)  # Prometheus' remote_timeout default is 30 s
    connections: list[str] = []
    bodies: list[bytes] = []

    async def serve(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        head = await reader.readuntil(b"\r\n\r\n")
        length = int(re.search(rb"(?i)content-length: *(\d+)", head).group(1))  # type: ignore[union-attr]
        body = await reader.readexactly(length)
        connections.append("hang" if not connections else "garbage" if len(connections) == 1 else "ok")
        if connections[-1] == "hang":
            await asyncio.Event().wait()  # until the client gives up and the server closes
        elif connections[-1] == "garbage":
            writer.write(b"SSH-2.0-OpenSSH_9.2\r\n\r\n")
        else:
            bodies.append(body)
            writer.write(b"HTTP/1.1 204 No Content\r\nContent-Length: 0\r\n\r\n")
        await writer.drain()
        writer.close()

    async def main() -> None:
        server = await asyncio.start_server(serve, "127.0.0.1", 0)
        port = server.sockets[0].getsockname()[1]
        d = driver(rw_options(f"http://127.0.0.1:{port}/api/v1/write"))
        await d.start()
        add_all(d, burst(full_sample(), 1))
        await poll(lambda: d.stats().written == 1, timeout=20, what="written once a receiver answers")
        stats = d.stats()
        await d.close()
        server.close()
        assert connections[:3] == ["hang", "garbage", "ok"]
        assert (stats.errors, stats.dropped) == (2, 0)
        assert set(decode(bodies[0])) == set(expected_series())

    asyncio.run(main())


def test_basic_auth_from_the_url_or_the_flags_and_a_bearer_token_reread_at_each_request(tmp_path: Path) -> None:
    token = tmp_path / "token"
    token.write_text("first-token\n")

    async def one_request(opts: StorageOptions) -> None:
        d = driver(opts)
        await d.start()
        add_all(d, burst(full_sample(), 1))
        await poll(lambda: d.stats().written == 1, timeout=20, what="written")
        await d.close()

    async def main() -> None:
        async with receiver() as rec:
            user_url = rec.url.replace("http://", "http://al%40ice:s3cr%3At@")
            await one_request(rw_options(user_url))
            await one_request(rw_options(rec.url, storage_driver_user="bob", storage_driver_password="pw"))
            d = driver(rw_options(rec.url, storage_driver_remote_write_bearer_token_file=str(token)))
            await d.start()
            add_all(d, burst(full_sample(), 1))
            await poll(lambda: d.stats().written == 1, timeout=20, what="written with the first token")
            token.write_text("rotated-token")
            add_all(d, burst(full_sample(), 2)[1:])  # a later sample
            await poll(lambda: d.stats().written == 2, timeout=20, what="written with the rotated token")
            await d.close()
        auth = [h.get("Authorization") for _, h, _ in rec.requests]
        assert auth == [
            "Basic YWxAaWNlOnMzY3I6dA==",  # al@ice:s3cr:t, percent-decoded from the URL
            "Basic Ym9iOnB3",  # bob:pw
            "Bearer first-token",
            "Bearer rotated-token",
        ]

    asyncio.run(main())


def _self_signed(tmp: Path) -> tuple[str, str]:
    cert, key = str(tmp / "cert.pem"), str(tmp / "key.pem")
    subprocess.run(
        ["openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes",
         "-keyout", key, "-out", cert, "-days", "1", "-subj", "/CN=127.0.0.1",
         "-addext", "subjectAltName=IP:127.0.0.1"],
        check=True, capture_output=True, timeout=60,
    )  # fmt: skip
    return cert, key


def test_https_is_verified_against_the_ca_file(tmp_path: Path) -> None:
    cert, key = _self_signed(tmp_path)
    tls = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    tls.load_cert_chain(cert, key)

    async def main() -> None:
        async with receiver(tls=tls) as rec:
            untrusted = driver(rw_options(rec.url, storage_driver_close_timeout=100 * MS))  # nothing to flush
            await untrusted.start()
            add_all(untrusted, burst(full_sample(), 1))
            await poll(lambda: untrusted.stats().errors >= 2, timeout=20, what="certificate refused, retried")
            assert untrusted.stats().written == 0 and not rec.requests
            await untrusted.close()
            trusted = driver(rw_options(rec.url, storage_driver_remote_write_ca_file=cert))
            await trusted.start()
            add_all(trusted, burst(full_sample(), 1))
            await poll(lambda: trusted.stats().written == 1, timeout=20, what="written over verified TLS")
            await trusted.close()
        assert len(rec.requests) == 1

    asyncio.run(main())


def test_unusable_settings_fail_at_start_naming_the_flag(tmp_path: Path) -> None:
    def build(**kw: object) -> None:
        build_drivers(options("remote_write", **kw), machine_name="n")

    with pytest.raises(ValueError, match="-storage_driver_host=localhost:8086: remote_write needs the full write URL"):
        build()  # cAdvisor's default host is not a URL
    with pytest.raises(ValueError, match=r"-storage_driver_remote_write_bearer_token_file=.*missing"):
        build(
            storage_driver_host="http://127.0.0.1:9/api/v1/write",
            storage_driver_remote_write_bearer_token_file=str(tmp_path / "missing"),
        )
    (tmp_path / "empty").write_text("\n")
    with pytest.raises(ValueError, match="the file is empty"):
        build(
            storage_driver_host="http://127.0.0.1:9/api/v1/write",
            storage_driver_remote_write_bearer_token_file=str(tmp_path / "empty"),
        )
    (tmp_path / "token").write_text("t")
    with pytest.raises(ValueError, match="cannot both be set"):
        build(
            storage_driver_host="http://u:p@127.0.0.1:9/api/v1/write",
            storage_driver_remote_write_bearer_token_file=str(tmp_path / "token"),
        )
    (tmp_path / "bad.pem").write_text("not a certificate")
    with pytest.raises(ValueError, match=r"-storage_driver_remote_write_ca_file=.*bad\.pem"):
        build(
            storage_driver_host="https://127.0.0.1:9/api/v1/write",
            storage_driver_remote_write_ca_file=str(tmp_path / "bad.pem"),
        )
    r = subprocess.run(
        [PYTHON, "-m", "pycadvisor", "-storage_driver=remote_write", "-storage_driver_host=127.0.0.1:9090"],
        capture_output=True, text=True, timeout=60, cwd=REPO,
    )  # fmt: skip
    assert r.returncode == 2
    assert "-storage_driver_host=127.0.0.1:9090: remote_write needs the full write URL" in r.stderr


def test_a_missing_snappy_library_is_named_at_start() -> None:
    code = (
        "import sys; sys.modules['cramjam'] = None\n"
        "from pycadvisor.storage.options import StorageOptions\n"
        "from pycadvisor.storage.registry import build_drivers\n"
        "build_drivers(StorageOptions(storage_driver='remote_write', storage_driver_host='http://h/w'),"
        " machine_name='n')\n"
    )
    r = subprocess.run([PYTHON, "-c", code], capture_output=True, text=True, timeout=60, cwd=REPO)
    assert r.returncode != 0
    assert "storage driver remote_write needs a library that is not installed" in r.stderr
    assert "pip install 'pycadvisor[remote_write]'" in r.stderr
