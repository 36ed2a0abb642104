"""Shared helpers for the test suite (real cgroups, processes, services)."""
