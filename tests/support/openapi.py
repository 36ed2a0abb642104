"""Strict validation of API answers against the OpenAPI document (``/api/openapi.json``).

schemathesis's ``response_schema_conformance`` checks types but lets undeclared members through
(``additionalProperties: false`` is relaxed for responses); this validates the JSON body against the
documented schema as written, with jsonschema-rs (a schemathesis dependency), so a stray or renamed
key is caught as well.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

import jsonschema_rs


class StrictResponses:
    """Validators for every documented JSON response of ``doc``, built on first use."""

    def __init__(self, doc: Mapping[str, Any]) -> None:
        self.doc = doc
        self._validators: dict[tuple[str, str, str], Any] = {}

    def _validator(self, path: str, method: str, status: str) -> Any | None:
        key = (path, method.lower(), status)
        if key not in self._validators:
            responses = self.doc["paths"][path][method.lower()]["responses"]
            resp = responses.get(status)
            content = (resp or {}).get("content", {}).get("application/json")
            if content is None:
                self._validators[key] = None
            else:
                root = {**content["schema"], "components": self.doc["components"]}
                self._validators[key] = jsonschema_rs.Draft202012Validator(root)
        return self._validators[key]

    def errors(self, path: str, method: str, status: int, content_type: str, body: bytes) -> list[str]:
        """Why ``body`` (a ``status`` answer of ``method path``) does not match the document; [] if it does."""
        responses = self.doc["paths"][path][method.lower()]["responses"]
        if str(status) not in responses:
            return [f"status {status} is not documented for {method.upper()} {path}"]
        media = content_type.split(";")[0].strip()
        documented = responses[str(status)].get("content", {})
        if media not in documented:
            return [f"{media!r} is not a documented content type of {status} ({sorted(documented)})"]
        if media != "application/json":
            return []
        v = self._validator(path, method, str(status))
        assert v is not None  # a documented JSON answer has a schema
        try:
            value = json.loads(body)
        except ValueError as e:
            return [f"not JSON: {e}"]
        return [str(e).splitlines()[0] + f" at {list(e.instance_path)}" for e in v.iter_errors(value)][:5]

    def response_errors(self, path: str, method: str, response: Any) -> list[str]:
        """:meth:`errors` of a schemathesis ``Response`` (headers map to lists of values)."""
        ctype = (response.headers.get("content-type") or [""])[0]
        return self.errors(path, method, response.status_code, ctype, response.content)
