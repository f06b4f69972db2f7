"""Domain exceptions. Services raise these; the gRPC error interceptor maps each to a status code.

Modelled on KServe's ``InferenceError``/``InvalidInput``/``ModelNotFound`` family: the code
deciding *what* went wrong never touches gRPC, the server decides *how* to say it.
"""

from __future__ import annotations

from dataclasses import dataclass

import grpc


@dataclass(frozen=True)
class FieldViolation:
    """One bad field of a request: ``field`` in dotted proto path form, ``description`` says why."""

    field: str
    description: str


class TesseraError(Exception):
    """Base of every domain error; ``code`` is the gRPC status it maps to."""

    code: grpc.StatusCode = grpc.StatusCode.INTERNAL


class InvalidArgument(TesseraError):
    """Bad input: carries one :class:`FieldViolation` per bad field."""

    code = grpc.StatusCode.INVALID_ARGUMENT

    def __init__(self, violations: list[FieldViolation] | FieldViolation, message: str | None = None):
        self.violations = [violations] if isinstance(violations, FieldViolation) else list(violations)
        text = message or "; ".join(f"{v.field}: {v.description}" for v in self.violations)
        super().__init__(text)

    @classmethod
    def field(cls, field: str, description: str) -> InvalidArgument:
        return cls(FieldViolation(field, description))


class NotFound(TesseraError):
    code = grpc.StatusCode.NOT_FOUND


class AlreadyExists(TesseraError):
    code = grpc.StatusCode.ALREADY_EXISTS


class FailedPrecondition(TesseraError):
    code = grpc.StatusCode.FAILED_PRECONDITION


class Unavailable(TesseraError):
    """A dependency (broker, store, Triton) cannot be reached; the caller may retry."""

    code = grpc.StatusCode.UNAVAILABLE


class IntegrityError(TesseraError):
    """Stored bytes do not match their recorded SHA-256."""

    code = grpc.StatusCode.DATA_LOSS
