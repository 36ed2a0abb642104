"""Parts of the overhead benchmark (``bench/overhead.py``): cgroups, process meters, services, probes.

Standalone on purpose: nothing here imports ``pycadvisor`` or the test helpers, so the benchmark
measures the daemon from the outside, the way a person would (``/proc`` and HTTP).
"""
