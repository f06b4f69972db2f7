"""gRPC bootstrap: server, interceptors (metrics, auth, errors), health, reflection, shutdown."""

from tessera.core.server.bootstrap import GrpcService, ServiceRegistration, serve
from tessera.core.server.errors import field_violations, status_for
from tessera.core.server.interceptors import ServerMetrics

__all__ = ["GrpcService", "ServerMetrics", "ServiceRegistration", "field_violations", "serve", "status_for"]
