"""Property-based fuzzing of the live REST API from its OpenAPI document (issue 14).

Every documented operation gets schema-valid and schema-violating requests (schemathesis); every
answer must be documented (status and content type), no 5xx but the documented one, and JSON bodies
validate strictly against the document. The example count is bounded and derandomized for CI;
``bench/torture.py`` runs more, with random seeds.
"""

from __future__ import annotations

from typing import Any

from reliability.scenarios import fuzz_api

EXAMPLES_PER_OPERATION = 2  # per operation and data mode (positive, negative): about 300 requests


def test_fuzzed_api_answers_only_as_documented(fast_daemon: Any, api_document: dict[str, Any]) -> None:
    result = fuzz_api(fast_daemon.url, api_document, max_examples=EXAMPLES_PER_OPERATION)
    assert result.operations == sum(len(item) for item in api_document["paths"].values())
    assert result.requests >= result.operations  # every operation was really exercised
    assert result.server_errors == 0, result.failures
    assert not result.failures, "\n".join(result.failures)
    assert fast_daemon.get("/healthz") == (200, b"ok")


def test_names_with_line_breaks_reach_the_api(fast_daemon: Any) -> None:
    # Found by the fuzzer: aiohttp's route pattern `.*` stops at a newline, so such a name got aiohttp's
    # own undocumented "404: Not Found" instead of the API's answer.
    for name in ("a%0Ab", "a%0Db", "%0A", "a%09b%0B%0C"):
        assert fast_daemon.get(f"/api/v2.0/events/{name}?all_events=true") == (200, b"[]"), name
        status, body = fast_daemon.get(f"/api/v1.3/containers/{name}")
        assert status == 404 and body.startswith(b"failed to get container"), (name, status, body)
