"""Kernel readers: pure ``parse_*`` functions plus thin ``read_*`` functions taking a root."""
