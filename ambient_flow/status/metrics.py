"""Prometheus metrics over HTTP (`--metrics-port`, default 9108; 0 turns it off)."""

from __future__ import annotations

import logging
import threading
from typing import Any

from prometheus_client import CollectorRegistry, start_http_server

from ambient_flow.errors import StartupError

__all__ = ["MetricsServer"]

logger = logging.getLogger(__name__)


class MetricsServer:
    """prometheus_client's HTTP server for one registry, with a start-up error a person
    can act on and a clean stop (no thread left behind)."""

    def __init__(self, registry: CollectorRegistry, bind: str, port: int) -> None:
        self._host = "0.0.0.0" if bind == "*" else bind
        self._port = port
        try:
            server, thread = start_http_server(port, addr=self._host, registry=registry)
        except OSError as exc:
            raise StartupError(
                f"cannot serve Prometheus metrics on {self._host}:{port}: {exc.strerror}; "
                "choose another port with --metrics-port / AMBIENT_FLOW_METRICS_PORT, or 0 to "
                "turn metrics off"
            ) from exc
        self._server: Any = server
        self._thread: threading.Thread = thread
        logger.info("Prometheus metrics on http://%s:%d/metrics", self._host, port)

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(timeout=2)
