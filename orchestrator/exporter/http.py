"""The exporter's HTTP side: prometheus_client's WSGI app behind a server
that a slow or hostile client cannot exhaust.  Each connection has a read
timeout, at most MAX_CLIENTS are served at once (the others are closed at
once), and HEAD is answered as GET without the body."""

from __future__ import annotations

import signal
import socket
import threading
from socketserver import ThreadingMixIn
from wsgiref.simple_server import WSGIRequestHandler, WSGIServer, make_server

from prometheus_client import CollectorRegistry, make_wsgi_app

from orchestrator import signals

MAX_CLIENTS = 32
TIMEOUT_S = 10.0
BACKLOG = 128


class _Handler(WSGIRequestHandler):
    timeout = TIMEOUT_S  # a client that stops sending is dropped

    def log_message(self, *_) -> None:
        pass  # Prometheus scrapes every few seconds: no line each


class _Server(ThreadingMixIn, WSGIServer):
    daemon_threads = True
    request_queue_size = BACKLOG

    def __init__(self, *args, **kwargs):
        self._slots = threading.BoundedSemaphore(MAX_CLIENTS)
        super().__init__(*args, **kwargs)

    def process_request(self, request, client_address) -> None:
        if not self._slots.acquire(blocking=False):
            self.shutdown_request(request)  # full: the client sees the connection closed
            return
        super().process_request(request, client_address)

    def process_request_thread(self, request, client_address) -> None:
        try:
            super().process_request_thread(request, client_address)
        finally:
            self._slots.release()

    def handle_error(self, request, client_address) -> None:
        pass  # a client that went away mid-answer is not the exporter's failure


def _with_head(app):
    def serve(environ, start_response):
        if environ.get("REQUEST_METHOD") != "HEAD":
            return app(environ, start_response)
        body = app({**environ, "REQUEST_METHOD": "GET"}, start_response)
        if hasattr(body, "close"):
            body.close()
        return []
    return serve


def serve_in_background(host: str, port: int, registry: CollectorRegistry) -> _Server:
    """Listen on host:port and answer scrapes in a daemon thread."""
    server_class = type("Server", (_Server,), {
        "address_family": socket.AF_INET6 if ":" in host else socket.AF_INET})
    httpd = make_server(host, port, _with_head(make_wsgi_app(registry)), server_class,
                        handler_class=_Handler)
    threading.Thread(target=_serve_without_stops, args=(httpd,), daemon=True).start()
    return httpd


def _serve_without_stops(httpd: _Server) -> None:
    # Stops (SIGINT, SIGTERM, SIGHUP) go to the main thread, which waits for
    # them: one delivered to this thread, or to a request's (they inherit
    # the mask), would not wake it.
    signal.pthread_sigmask(signal.SIG_BLOCK, signals.STOPPING)
    httpd.serve_forever()
