"""The gRPC bootstrap every Tessera service uses: ``GrpcService`` and :func:`serve`.

One style for all services: servicers are ``async`` (grpc.aio) and hand blocking work to
:meth:`GrpcService.run_blocking`, which runs it on the service's thread pool. The bootstrap adds
the health and reflection services, the metrics/auth/error interceptors, the Prometheus HTTP
endpoint, message-size limits, and graceful shutdown on SIGTERM: health goes NOT_SERVING,
new calls are refused, in-flight calls get ``shutdown_grace_s`` to finish, then the
``on_shutdown`` hooks run (stop consumers, commit what is done).
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import inspect
import logging
import signal
from collections.abc import Awaitable, Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any, TypeVar

import grpc
from grpc_health.v1 import health_pb2, health_pb2_grpc
from grpc_health.v1._async import HealthServicer
from grpc_reflection.v1alpha import reflection
from prometheus_client import start_http_server

from tessera.core.server.interceptors import (
    BearerAuthInterceptor,
    ErrorMappingInterceptor,
    MetricsInterceptor,
    ServerMetrics,
)
from tessera.core.settings import TesseraSettings

log = logging.getLogger(__name__)
T = TypeVar("T")
ShutdownHook = Callable[[], Awaitable[None] | None]


@dataclass(frozen=True)
class ServiceRegistration:
    """One gRPC service to mount: its full name (for health/reflection), adder and servicer."""

    full_name: str
    add_to_server: Callable[[Any, grpc.aio.Server], None]
    servicer: Any


class GrpcService:
    """A configured grpc.aio server with Tessera's cross-cutting concerns."""

    def __init__(
        self,
        settings: TesseraSettings,
        registrations: Sequence[ServiceRegistration] = (),
        *,
        metrics: ServerMetrics | None = None,
        executor: ThreadPoolExecutor | None = None,
    ):
        self.settings = settings
        self.registrations: list[ServiceRegistration] = list(registrations)
        self.metrics = metrics or ServerMetrics(settings.service_name)
        self.executor = executor or ThreadPoolExecutor(
            settings.executor_workers, thread_name_prefix=f"{settings.service_name}-work"
        )
        self.health = HealthServicer()
        self.port: int | None = None
        self.metrics_port: int | None = None
        self._server: grpc.aio.Server | None = None
        self._metrics_httpd: Any = None
        self._shutdown_hooks: list[ShutdownHook] = []
        self._stopping: asyncio.Task[None] | None = None

    def add(self, registration: ServiceRegistration) -> None:
        if self._server is not None:
            raise RuntimeError("add services before start()")
        self.registrations.append(registration)

    def on_shutdown(self, hook: ShutdownHook) -> None:
        """Run ``hook`` after in-flight calls drained (e.g. stop an event consumer)."""
        self._shutdown_hooks.append(hook)

    async def run_blocking(self, fn: Callable[..., T], *args: Any, **kwargs: Any) -> T:
        """Run blocking ``fn`` on the service's thread pool without stalling the event loop."""
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(self.executor, functools.partial(fn, *args, **kwargs))

    def _interceptors(self) -> list[grpc.aio.ServerInterceptor]:
        chain: list[grpc.aio.ServerInterceptor] = [MetricsInterceptor(self.metrics)]
        if self.settings.auth_token is not None:
            chain.append(BearerAuthInterceptor(self.settings.auth_token.get_secret_value()))
        chain.append(ErrorMappingInterceptor())
        return chain

    async def start(self) -> int:
        """Bind and start serving; returns the gRPC port (useful with ``grpc_port=0``)."""
        s = self.settings
        options = [
            ("grpc.max_send_message_length", s.max_message_bytes),
            ("grpc.max_receive_message_length", s.max_message_bytes),
        ]
        server = grpc.aio.server(interceptors=self._interceptors(), options=options)
        for reg in self.registrations:
            reg.add_to_server(reg.servicer, server)
        health_pb2_grpc.add_HealthServicer_to_server(self.health, server)
        names = [r.full_name for r in self.registrations]
        reflection.enable_server_reflection(
            [*names, health_pb2.DESCRIPTOR.services_by_name["Health"].full_name, reflection.SERVICE_NAME], server
        )
        self.port = server.add_insecure_port(f"{s.grpc_host}:{s.grpc_port}")
        if self.port == 0:
            raise OSError(f"cannot bind gRPC port {s.grpc_host}:{s.grpc_port} (TESSERA_GRPC_PORT)")
        await server.start()
        self._server = server
        for name in ["", *names]:
            await self.health.set(name, health_pb2.HealthCheckResponse.SERVING)
        self._metrics_httpd, _ = start_http_server(s.metrics_port, addr=s.grpc_host, registry=self.metrics.registry)
        self.metrics_port = int(self._metrics_httpd.server_port)
        log.info("serving", extra={"grpc_port": self.port, "metrics_port": self.metrics_port, "services": names})
        return self.port

    def install_signal_handlers(self) -> None:
        """SIGTERM/SIGINT start a graceful stop (call from the serving event loop)."""
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(sig, self.request_stop)

    def request_stop(self) -> None:
        if self._stopping is None:
            log.info("shutdown requested: draining in-flight calls")
            self._stopping = asyncio.ensure_future(self.stop())

    async def stop(self, grace_s: float | None = None) -> None:
        """Refuse new calls, let in-flight ones finish within the grace period, run shutdown hooks."""
        server = self._server
        if server is None:
            return
        await self.health.enter_graceful_shutdown()
        await server.stop(self.settings.shutdown_grace_s if grace_s is None else grace_s)
        for hook in self._shutdown_hooks:
            try:
                result = hook()
                if inspect.isawaitable(result):
                    await result
            except Exception:
                log.exception("shutdown hook failed")
        if self._metrics_httpd is not None:
            self._metrics_httpd.shutdown()
            self._metrics_httpd.server_close()
        # Work still on the pool was told to stop by the hooks (JobManager.shutdown); don't wait
        # for hours-long jobs here: their records are left resumable.
        self.executor.shutdown(wait=False, cancel_futures=True)
        self._server = None
        log.info("stopped")

    async def wait_for_termination(self) -> None:
        server = self._server
        if server is not None:
            await server.wait_for_termination()
        if self._stopping is not None:
            with contextlib.suppress(asyncio.CancelledError):
                await self._stopping


async def serve(service: GrpcService) -> None:
    """Start ``service``, stop gracefully on SIGTERM/SIGINT, return when fully stopped."""
    await service.start()
    service.install_signal_handlers()
    await service.wait_for_termination()
