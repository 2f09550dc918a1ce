"""The exporter's HTTP side: prometheus_client's WSGI app behind a server
that a slow or hostile client cannot exhaust.  A client has REQUEST_S to
send its whole request (not per read: one header line every few seconds
would keep a per-read timeout waiting for ever), at most MAX_CLIENTS are
served at once, and when all are taken a newcomer takes the place of the
oldest client still sending its request: slow clients cannot hold the
slots against a scrape, whose request comes whole at once.  HEAD is
answered as GET without the body, with the body's length.

The listening socket is made apart from the server (listen), so that the
process that binds it (root, for a port below 1024) need not be the one
that accepts and parses requests (exporter/privsep.py)."""

from __future__ import annotations

import signal
import socket
import threading
import time
from socketserver import ThreadingMixIn
from wsgiref.simple_server import WSGIRequestHandler, WSGIServer

from prometheus_client import CollectorRegistry, make_wsgi_app

from orchestrator import signals

MAX_CLIENTS = 32
TIMEOUT_S = 10.0   # a client that stops reading its answer is dropped
REQUEST_S = 5.0    # the time a client has to send its whole request
BACKLOG = 128


class Unavailable(Exception):
    """Raised by a collector that has no reading to give: the client gets
    503 instead of a traceback on stderr and a 500."""


class _Handler(WSGIRequestHandler):
    timeout = TIMEOUT_S

    def parse_request(self) -> bool:
        # A client sent away leaves a request line cut short ("GET /metr"),
        # which HTTP/0.9 would take whole: it is not answered (answering the
        # 268 of a flood of 300 took seconds of readings, one at a time).
        if self.server.sent_away(self.request):
            self.close_connection = True
            return False
        whole = super().parse_request()  # the request line and every header read
        if whole:
            self.server.answering(self.request)
        return whole

    def log_message(self, *_) -> None:
        pass  # Prometheus scrapes every few seconds: no line each


class _Server(ThreadingMixIn, WSGIServer):
    daemon_threads = True

    def __init__(self, sock: socket.socket, app):
        self._slots = threading.BoundedSemaphore(MAX_CLIENTS)
        self._lock = threading.Lock()
        # clients still sending their request, by connection: when each came
        self._sending: dict[socket.socket, float] = {}
        self._handed: set[socket.socket] = set()  # sent away: their slot is another's now
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
        # full: the oldest client still sending its request hands its slot over
        if not self._slots.acquire(blocking=False) and not self._send_away_oldest():
            self.shutdown_request(request)  # all are being answered: closed at once
            return
        with self._lock:
            self._sending[request] = time.monotonic()
        super().process_request(request, client_address)

    def process_request_thread(self, request, client_address) -> None:
        try:
            super().process_request_thread(request, client_address)
        finally:
            with self._lock:
                self._sending.pop(request, None)
                handed = request in self._handed
                self._handed.discard(request)
            if not handed:
                self._slots.release()

    def watch(self) -> None:
        """In a thread of its own: send away every client that has not sent
        its whole request within REQUEST_S, however slowly it trickles in."""
        while True:
            time.sleep(REQUEST_S / 10)
            now = time.monotonic()
            with self._lock:
                late = [r for r, came in self._sending.items() if now - came > REQUEST_S]
                for request in late:
                    del self._sending[request]
            for request in late:
                _cut(request)

    def sent_away(self, request) -> bool:
        with self._lock:
            return request in self._handed or request not in self._sending

    def answering(self, request) -> None:
        """Its request came whole: it is answered, and cannot be sent away."""
        with self._lock:
            self._sending.pop(request, None)

    def _send_away_oldest(self) -> bool:
        """Cut the oldest client still sending, whose slot the newcomer takes
        at once (its thread, ending, gives none back): no wait for it to end."""
        with self._lock:
            if not self._sending:
                return False
            oldest = min(self._sending, key=self._sending.__getitem__)
            del self._sending[oldest]
            self._handed.add(oldest)
        _cut(oldest)
        return True

    def handle_error(self, request, client_address) -> None:
        pass  # a client that went away mid-answer is not the exporter's failure


def _cut(request: socket.socket) -> None:
    """End a connection from outside its thread: its reads return at once."""
    try:
        request.shutdown(socket.SHUT_RDWR)
    except OSError:
        pass  # it ended meanwhile


def _with_head(app):
    """HEAD as GET without the body: the same headers, and the length the
    body has (wsgiref would count an empty one)."""
    def serve(environ, start_response):
        if environ.get("REQUEST_METHOD") != "HEAD":
            return app(environ, start_response)
        said = []
        body_parts = app({**environ, "REQUEST_METHOD": "GET"},
                         lambda status, headers, exc_info=None: said.append((status, headers)))
        try:
            length = sum(len(part) for part in body_parts)
        finally:
            if hasattr(body_parts, "close"):
                body_parts.close()
        status, headers = said[-1]
        headers = [(k, v) for k, v in headers if k.lower() != "content-length"]
        start_response(status, [*headers, ("Content-Length", str(length))])
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
    threading.Thread(target=_without_stops, args=(httpd.watch,), daemon=True).start()
    return httpd


def _serve_without_stops(httpd: _Server) -> None:
    _without_stops(httpd.serve_forever)


def _without_stops(run) -> None:
    # Stops (SIGINT, SIGTERM, SIGHUP) go to the main thread, which waits for
    # them: one delivered to this thread, or to a request's (they inherit
    # the mask), would not wake it.
    signal.pthread_sigmask(signal.SIG_BLOCK, signals.STOPPING)
    run()
