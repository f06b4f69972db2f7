"""Server interceptors (grpc.aio): Prometheus metrics, bearer-token auth, domain-error mapping.

Each wraps the RPC's behaviour the same way, through :func:`wrap_handler`, so one interceptor
serves unary and streaming methods alike. Order in the server (outermost first): metrics, auth,
errors; so a rejected token is still counted.
"""

from __future__ import annotations

import hmac
import logging
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import grpc
from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram

from tessera.core.errors import TesseraError
from tessera.core.server.errors import status_for

log = logging.getLogger(__name__)

Behaviour = Callable[[Any, grpc.aio.ServicerContext], Any]
Continuation = Callable[[grpc.HandlerCallDetails], Awaitable[grpc.RpcMethodHandler | None]]
UNARY_RESPONSE = ("unary_unary", "stream_unary")
STREAM_RESPONSE = ("unary_stream", "stream_stream")
# Health probes and reflection are infrastructure, not API: no auth, so kubelets can probe.
PUBLIC_SERVICES = ("/grpc.health.v1.Health/", "/grpc.reflection.v1alpha.ServerReflection/",
                   "/grpc.reflection.v1.ServerReflection/")


def wrap_handler(
    handler: grpc.RpcMethodHandler,
    around_unary: Callable[[Behaviour], Behaviour],
    around_stream: Callable[[Behaviour], Behaviour],
) -> grpc.RpcMethodHandler:
    """A copy of ``handler`` whose behaviour is wrapped by ``around_unary``/``around_stream``."""
    for kind in UNARY_RESPONSE + STREAM_RESPONSE:
        behaviour = getattr(handler, kind)
        if behaviour is None:
            continue
        wrapped = around_unary(behaviour) if kind in UNARY_RESPONSE else around_stream(behaviour)
        return handler._replace(**{kind: wrapped})  # type: ignore[attr-defined]
    return handler


def _context_code(context: grpc.aio.ServicerContext) -> str:
    code = context.code()
    if code is None:
        return "OK"
    return code.name if isinstance(code, grpc.StatusCode) else str(code)


class ErrorMappingInterceptor(grpc.aio.ServerInterceptor):
    """Turns a :class:`tessera.core.errors.TesseraError` into its status (with field violations);
    any other exception becomes INTERNAL without leaking its message, and is logged."""

    async def intercept_service(
        self, continuation: Continuation, details: grpc.HandlerCallDetails
    ) -> grpc.RpcMethodHandler | None:
        handler = await continuation(details)
        if handler is None:
            return None
        method = details.method

        async def abort_for(exc: Exception, context: grpc.aio.ServicerContext) -> None:
            if not isinstance(exc, TesseraError):
                log.exception("unhandled error in %s", method)
            await context.abort_with_status(status_for(exc))

        def around_unary(behaviour: Behaviour) -> Behaviour:
            async def call(request: Any, context: grpc.aio.ServicerContext) -> Any:
                try:
                    return await behaviour(request, context)
                except grpc.aio.AbortError:
                    raise
                except Exception as exc:
                    await abort_for(exc, context)

            return call

        def around_stream(behaviour: Behaviour) -> Behaviour:
            async def call(request: Any, context: grpc.aio.ServicerContext) -> AsyncIterator[Any]:
                try:
                    async for item in behaviour(request, context):
                        yield item
                except grpc.aio.AbortError:
                    raise
                except Exception as exc:
                    await abort_for(exc, context)

            return call

        return wrap_handler(handler, around_unary, around_stream)


class BearerAuthInterceptor(grpc.aio.ServerInterceptor):
    """Rejects calls without ``authorization: Bearer <token>`` with UNAUTHENTICATED."""

    def __init__(self, token: str):
        self._expected = f"Bearer {token}".encode()

    def _authorised(self, details: grpc.HandlerCallDetails) -> bool:
        for key, value in details.invocation_metadata or ():
            if key == "authorization":
                given = value.encode() if isinstance(value, str) else value
                return hmac.compare_digest(given, self._expected)
        return False

    async def intercept_service(
        self, continuation: Continuation, details: grpc.HandlerCallDetails
    ) -> grpc.RpcMethodHandler | None:
        handler = await continuation(details)
        if handler is None or details.method.startswith(PUBLIC_SERVICES) or self._authorised(details):
            return handler

        async def deny(request: Any, context: grpc.aio.ServicerContext) -> Any:
            await context.abort(grpc.StatusCode.UNAUTHENTICATED, "missing or invalid bearer token")

        async def deny_stream(request: Any, context: grpc.aio.ServicerContext) -> AsyncIterator[Any]:
            await context.abort(grpc.StatusCode.UNAUTHENTICATED, "missing or invalid bearer token")
            yield  # pragma: no cover - abort raises

        return wrap_handler(handler, lambda _: deny, lambda _: deny_stream)


class ServerMetrics:
    """The server's Prometheus metrics, in their own registry (no hidden global state)."""

    def __init__(self, service: str, registry: CollectorRegistry | None = None):
        self.registry = registry or CollectorRegistry()
        self.requests = Counter(
            "tessera_grpc_server_handled", "gRPC calls handled, by service, method and status code",
            ["service", "method", "code"], registry=self.registry,
        )
        self.latency = Histogram(
            "tessera_grpc_server_handling_seconds", "gRPC call latency in seconds (until the last message)",
            ["service", "method"], registry=self.registry,
            buckets=(0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60),
        )
        self.in_flight = Gauge(
            "tessera_grpc_server_in_flight", "gRPC calls in progress", ["service"], registry=self.registry
        )
        self.jobs = Gauge(
            "tessera_jobs", "Jobs known to this process, by state", ["service", "state"], registry=self.registry
        )
        self.service = service

    def observe(self, method: str, code: str, seconds: float) -> None:
        service = self.service
        self.requests.labels(service, method, code).inc()
        self.latency.labels(service, method).observe(seconds)


class MetricsInterceptor(grpc.aio.ServerInterceptor):
    """Counts calls by method and final code, observes latency, tracks calls in flight."""

    def __init__(self, metrics: ServerMetrics):
        self.metrics = metrics

    async def intercept_service(
        self, continuation: Continuation, details: grpc.HandlerCallDetails
    ) -> grpc.RpcMethodHandler | None:
        handler = await continuation(details)
        if handler is None:
            return None
        method, metrics = details.method, self.metrics
        in_flight = metrics.in_flight.labels(metrics.service)

        def around_unary(behaviour: Behaviour) -> Behaviour:
            async def call(request: Any, context: grpc.aio.ServicerContext) -> Any:
                start, code = time.perf_counter(), "OK"
                in_flight.inc()
                try:
                    response = await behaviour(request, context)
                    code = _context_code(context)
                    return response
                except BaseException:
                    code = _context_code(context) if context.code() is not None else "UNKNOWN"
                    raise
                finally:
                    in_flight.dec()
                    metrics.observe(method, code, time.perf_counter() - start)

            return call

        def around_stream(behaviour: Behaviour) -> Behaviour:
            async def call(request: Any, context: grpc.aio.ServicerContext) -> AsyncIterator[Any]:
                start, code = time.perf_counter(), "OK"
                in_flight.inc()
                try:
                    async for item in behaviour(request, context):
                        yield item
                    code = _context_code(context)
                except BaseException:
                    code = _context_code(context) if context.code() is not None else "CANCELLED"
                    raise
                finally:
                    in_flight.dec()
                    metrics.observe(method, code, time.perf_counter() - start)

            return call

        return wrap_handler(handler, around_unary, around_stream)
