"""A webhook receiver on loopback for the tests: records every delivery (headers and body),
answers each with the status ``answer`` gives it (200 by default)."""

from __future__ import annotations

import json
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any


@dataclass
class Received:
    headers: dict[str, str]
    raw: bytes
    status: int

    @property
    def body(self) -> dict[str, Any]:
        return json.loads(self.raw)  # type: ignore[no-any-return]


@dataclass
class Receiver:
    url: str
    answer: Callable[[dict[str, Any]], int] = lambda body: 200
    got: list[Received] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def taken(self) -> dict[str, dict[str, Any]]:
        """The bodies answered 2xx, by notice id."""
        with self.lock:
            return {r.body["id"]: r.body for r in self.got if 200 <= r.status < 300}


@contextmanager
def receiver(answer: Callable[[dict[str, Any]], int] | None = None) -> Iterator[Receiver]:
    server = ThreadingHTTPServer(("127.0.0.1", 0), BaseHTTPRequestHandler)
    rec = Receiver(f"http://127.0.0.1:{server.server_address[1]}/hook")
    if answer is not None:
        rec.answer = answer

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            raw = self.rfile.read(int(self.headers.get("Content-Length", "0")))
            status = rec.answer(json.loads(raw))
            with rec.lock:
                rec.got.append(Received(dict(self.headers.items()), raw, status))
            self.send_response(status)
            self.send_header("Content-Length", "0")
            self.end_headers()

        def log_message(self, *args: object) -> None:
            pass

    server.RequestHandlerClass = Handler
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield rec
    finally:
        server.shutdown()
        server.server_close()
