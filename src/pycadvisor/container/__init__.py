"""Containers: the cgroup collector, and runtime factories that name and describe cgroups."""
