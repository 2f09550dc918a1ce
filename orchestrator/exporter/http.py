"""The exporter's HTTP side: prometheus_client's WSGI app behind a server
that a slow or hostile client cannot exhaust.  Each connection has a read
timeout, at most MAX_CLIENTS are served at once (the others are closed at
once), and HEAD is answered as GET without the body.

The listening socket is made apart from the server (listen), so that the
process that binds it (root, for a port below 1024) need not be the one
that accepts and parses requests (exporter/privsep.py)."""

from __future__ import annotations

import signal
import socket
import threading
from socketserver import ThreadingMixIn
from wsgiref.simple_server import WSGIRequestHandler, WSGIServer

from prometheus_client import CollectorRegistry, make_wsgi_app

from orchestrator import signals

MAX_CLIENTS = 32
TIMEOUT_S = 10.0
BACKLOG = 128


class Unavailable(Exception):
    """Raised by a collector that has no reading to give: the client gets
    503 instead of a traceback on stderr and a 500."""


class _Handler(WSGIRequestHandler):
    timeout = TIMEOUT_S  # a client that stops sending is dropped

    def log_message(self, *_) -> None:
        pass  # Prometheus scrapes every few seconds: no line each


class _Server(ThreadingMixIn, WSGIServer):
    daemon_threads = True

    def __init__(self, sock: socket.socket, app):
        self._slots = threading.BoundedSemaphore(MAX_CLIENTS)
        super().__init__(sock.getsockname(), _Handler, bind_and_activate=False)
        self.socket.close()  # socketserver made one of its own: `sock` is the one bound
        self.socket = sock
        # what WSGIServer.server_bind would set, without binding again or
        # looking the address up in DNS
        self.server_name, self.server_port = str(self.server_address[0]), \
            self.server_address[1]
        self.setup_environ()
        self.set_app(app)

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


def _unavailable_as_503(app):
    def serve(environ, start_response):
        try:
            return app(environ, start_response)
        except Unavailable as err:
            start_response("503 Service Unavailable", [("Content-Type", "text/plain")])
            return [f"{err}\n".encode()]
    return serve


def listen(host: str, port: int) -> socket.socket:
    """A socket bound to host:port and listening; raises OSError."""
    sock = socket.socket(socket.AF_INET6 if ":" in host else socket.AF_INET)
    try:
        # as http.server does: a restart binds while the last run's
        # connections are in TIME_WAIT; and no IPV6_V6ONLY, so that [::]
        # takes IPv4 clients too, as the kernel's default has it
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind((host, port))
        sock.listen(BACKLOG)
    except OSError:
        sock.close()
        raise
    return sock


def serve_in_background(sock: socket.socket, registry: CollectorRegistry) -> _Server:
    """Answer scrapes on the listening `sock` in a daemon thread."""
    httpd = _Server(sock, _with_head(_unavailable_as_503(make_wsgi_app(registry))))
    threading.Thread(target=_serve_without_stops, args=(httpd,), daemon=True).start()
    return httpd


def _serve_without_stops(httpd: _Server) -> None:
    # Stops (SIGINT, SIGTERM, SIGHUP) go to the main thread, which waits for
    # them: one delivered to this thread, or to a request's (they inherit
    # the mask), would not wake it.
    signal.pthread_sigmask(signal.SIG_BLOCK, signals.STOPPING)
    httpd.serve_forever()
