"""Cgroup v1/v2 detection and per-controller parsers."""
