"""The errors that cross module boundaries."""

from __future__ import annotations


class PyCadvisorError(Exception):
    """Base of this project's errors."""


class ContainerNotFound(PyCadvisorError):
    def __init__(self, name: str) -> None:
        super().__init__(f'unknown container "{name}"')
        self.name = name


class ParseError(PyCadvisorError):
    """Malformed content of a kernel file; carries the path it came from."""

    def __init__(self, path: str, detail: str) -> None:
        super().__init__(f"{path}: {detail}")
        self.path = path
        self.detail = detail


class RuntimeUnavailable(PyCadvisorError):
    """A container runtime's API did not answer (absent, stopped or too slow)."""


class BadRequest(PyCadvisorError):
    """A malformed request parameter; the message names the parameter."""

    def __init__(self, param: str, detail: str) -> None:
        super().__init__(f"invalid parameter {param!r}: {detail}")
        self.param = param
