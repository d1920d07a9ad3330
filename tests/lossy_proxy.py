"""An HTTP proxy in front of the moto server that loses chosen responses, for the S3 store's tests.

Why: a response lost after S3 did the work (a reset connection, a timeout) makes botocore retry a
write that already happened. The proxy forwards every request to moto and, for the first request
matching a rule, reads moto's answer and then closes the connection without sending it, exactly
what the client sees when a response is lost on the way back. Not a test module.
"""

from __future__ import annotations

import http.client
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import urlsplit

__all__ = ["LossyProxy", "lossy_proxy"]

Rule = Callable[[str, str], bool]  # (method, path) -> lose this response?


class LossyProxy:
    """Counts what it lost in ``lost`` (method, path); each rule fires once."""

    def __init__(self, upstream: str, rules: list[Rule]) -> None:
        self.upstream = urlsplit(upstream)
        self.rules = list(rules)
        self.lost: list[tuple[str, str]] = []
        self._lock = threading.Lock()

    def lose(self, method: str, path: str) -> bool:
        with self._lock:
            for rule in self.rules:
                if rule(method, path):
                    self.rules.remove(rule)
                    self.lost.append((method, path))
                    return True
        return False


def _handler(proxy: LossyProxy) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, format: str, *args: object) -> None:
            pass

        def _forward(self) -> None:
            length = int(self.headers.get("Content-Length") or 0)
            body = self.rfile.read(length) if length else None
            upstream = http.client.HTTPConnection(proxy.upstream.hostname, proxy.upstream.port, timeout=30)
            try:
                headers = {k: v for k, v in self.headers.items() if k.lower() not in ("connection",)}
                upstream.request(self.command, self.path, body=body, headers=headers)
                resp = upstream.getresponse()
                data = resp.read()
                if proxy.lose(self.command, self.path):
                    self.close_connection = True  # moto did the work; the client never hears of it
                    return
                self.send_response(resp.status, resp.reason)
                head = self.command == "HEAD"  # its Content-Length is the object's: pass it on
                hop = {"transfer-encoding", "connection", "date", "server"} | (
                    set() if head else {"content-length"}
                )
                for key, value in resp.getheaders():
                    if key.lower() not in hop:
                        self.send_header(key, value)
                if not head:
                    self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                if self.command != "HEAD":
                    self.wfile.write(data)
            finally:
                upstream.close()

        do_GET = do_PUT = do_POST = do_HEAD = do_DELETE = _forward

    return Handler


@contextmanager
def lossy_proxy(upstream: str, rules: list[Rule]) -> Iterator[tuple[str, LossyProxy]]:
    """Run a proxy to ``upstream`` on 127.0.0.1 (port 0); yields ``(endpoint_url, proxy)``."""
    proxy = LossyProxy(upstream, rules)
    server = ThreadingHTTPServer(("127.0.0.1", 0), _handler(proxy))
    server.daemon_threads = True
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}", proxy
    finally:
        server.shutdown()
        server.server_close()
        thread.join()
