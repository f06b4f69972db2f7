"""Map domain exceptions to gRPC statuses, with google.rpc.BadRequest details for bad input."""

from __future__ import annotations

import logging

import grpc
from google.protobuf import any_pb2
from google.rpc import code_pb2, error_details_pb2, status_pb2
from grpc_status import rpc_status

from tessera.core.errors import InvalidArgument, TesseraError

log = logging.getLogger(__name__)


def status_for(exc: BaseException) -> grpc.Status:
    """The rich status a client receives for ``exc`` (INTERNAL, with no detail, for unknown errors)."""
    if isinstance(exc, TesseraError):
        code, message = exc.code, str(exc) or exc.__class__.__name__
    else:
        code, message = grpc.StatusCode.INTERNAL, f"internal error ({exc.__class__.__name__})"
    status = status_pb2.Status(code=getattr(code_pb2, code.name), message=message)
    if isinstance(exc, InvalidArgument):
        detail = any_pb2.Any()
        detail.Pack(
            error_details_pb2.BadRequest(
                field_violations=[
                    error_details_pb2.BadRequest.FieldViolation(field=v.field, description=v.description)
                    for v in exc.violations
                ]
            )
        )
        status.details.append(detail)
    return rpc_status.to_status(status)


def field_violations(err: grpc.RpcError) -> list[tuple[str, str]]:
    """Client side: the (field, description) pairs of an INVALID_ARGUMENT error, [] if none."""
    status = rpc_status.from_call(err)  # type: ignore[arg-type]
    if status is None:
        return []
    out: list[tuple[str, str]] = []
    for detail in status.details:
        if detail.Is(error_details_pb2.BadRequest.DESCRIPTOR):
            bad = error_details_pb2.BadRequest()
            detail.Unpack(bad)
            out.extend((v.field, v.description) for v in bad.field_violations)
    return out
