"""HTTP serving: cAdvisor's REST API, /metrics, /healthz, /validate/ and the web UI."""
