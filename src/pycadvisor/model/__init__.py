"""cAdvisor's JSON model as dataclasses (info/v1, info/v2)."""
