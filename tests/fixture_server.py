"""A real HTTP server on loopback that answers like a remote API from recorded responses.

Routes are ``(path, frozenset of query items) -> body``. ``faults`` is a queue of
``(status, body)`` answers served before the recorded ones, to exercise retries; every
request is logged with its headers so tests can check politeness (User-Agent, spacing).
"""

from __future__ import annotations

import threading
import time
from collections import deque
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qsl, urlsplit

Key = tuple[str, frozenset[tuple[str, str]]]


def route_key(url: str, ignore: tuple[str, ...] = ()) -> Key:
    parts = urlsplit(url)
    query = frozenset(
        (k, v) for k, v in parse_qsl(parts.query, keep_blank_values=True) if k not in ignore
    )
    return parts.path, query


class FixtureServer:
    def __init__(self, routes: dict[Key, bytes], ignore: tuple[str, ...] = ()) -> None:
        self.routes = routes
        self.ignore = ignore
        self.faults: deque[tuple[int, bytes] | tuple[int, bytes, dict[str, str]]] = deque()
        self.delay: dict[Key, float] = {}
        self.requests: list[dict[str, Any]] = []
        server = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                server.requests.append({"path": self.path, "headers": dict(self.headers)})
                headers: dict[str, str] = {}
                key = route_key(self.path, server.ignore)
                if key in server.delay:
                    time.sleep(server.delay[key])
                if server.faults:
                    fault = server.faults.popleft()
                    status, body = fault[0], fault[1]
                    headers = fault[2] if len(fault) > 2 else {}  # type: ignore[misc]
                else:
                    body_or_none = server.routes.get(route_key(self.path, server.ignore))
                    status, body = (
                        (200, body_or_none)
                        if body_or_none is not None
                        else (404, b"no recorded response for this request")
                    )
                self.send_response(status)
                self.send_header("Content-Type", "application/atom+xml; charset=utf-8")
                self.send_header("Content-Length", str(len(body)))
                for name, value in headers.items():
                    self.send_header(name, value)
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *args: object) -> None:
                pass

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}"
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)

    def __enter__(self) -> FixtureServer:
        self.thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()
