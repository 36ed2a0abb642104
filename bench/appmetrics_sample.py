"""What application metrics add to one sample: their encoding into the sample's flat array.

    .venv/bin/python bench/appmetrics_sample.py          # 5, 100 and 1,000 series

The poller hands housekeeping the same dict of latest values until an endpoint answers again, so the manager
encodes it once per answer (``Compactor.encode``) and every sample in between appends the encoded values
(``SampleCodec.add_encoded``). Both are timed here in a warm loop (CPU per call, ``time.thread_time_ns``); a
series is one ``MetricVal`` with one label, as a Prometheus sample.
"""

from __future__ import annotations

import argparse
import time

from pycadvisor.host.cgroups.collector import new_codec
from pycadvisor.model.container import MetricVal


def _metrics(series: int) -> dict[str, list[MetricVal]]:
    out: dict[str, list[MetricVal]] = {}
    for i in range(series):
        out.setdefault(f"app_metric_{i // 10}", []).append(
            MetricVal(
                label=f"__name__=app_metric_{i // 10}\xffk={i}", labels={"k": str(i)}, timestamp=1, float_value=1.5
            )
        )
    return out


def _per_call_us(fn: object, loops: int) -> float:
    assert callable(fn)
    t0 = time.thread_time_ns()
    for _ in range(loops):
        fn()
    return (time.thread_time_ns() - t0) / loops / 1e3


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--series", default="5,100,1000")
    args = ap.parse_args()
    codec = new_codec()
    print(f"{'series':>8} {'encode (per answer)':>22} {'append (per sample)':>22}")
    for n in (int(x) for x in args.series.split(",")):
        metrics = _metrics(n)
        loops = max(20, 20_000 // n)
        enc = codec.compactor.encode(metrics)
        encode = _per_call_us(lambda m=metrics: codec.compactor.encode(m), loops)
        append = _per_call_us(lambda e=enc: codec.add_encoded("custom_metrics", e, [], []), loops * 10)
        print(f"{n:>8} {encode:>19.1f} µs {append:>19.2f} µs")


if __name__ == "__main__":
    main()
