"""Prometheus exposition of containers and the machine in cAdvisor's families."""
