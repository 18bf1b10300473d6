"""A test site on its own origin (another port of 127.0.0.1), serving pages a test registers."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


class Site:
    def __init__(self, server: ThreadingHTTPServer, pages: dict[str, str]) -> None:
        self._server = server
        self._pages = pages
        self.origin = f"http://127.0.0.1:{server.server_address[1]}"

    def page(self, path: str, html: str) -> str:
        """Serve `html` at `path` (any query string); returns its URL."""
        self._pages[path] = html
        return self.origin + path


@contextmanager
def serve_site() -> Iterator[Site]:
    pages: dict[str, str] = {}

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:  # noqa: N802 (http.server's name)
            if self.path == "/favicon.ico":  # browsers ask; a 404 would log a console error
                self.send_response(204)
                self.end_headers()
                return
            html = pages.get(self.path.split("?", 1)[0].split("#", 1)[0])
            body = (html or "not found").encode()
            self.send_response(200 if html is not None else 404)
            kind = "text/javascript" if self.path.endswith(".js") else "text/html"
            self.send_header("Content-Type", f"{kind}; charset=utf-8")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, format: str, *args: object) -> None:  # noqa: A002 (its signature)
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield Site(server, pages)
    finally:
        server.shutdown()
        server.server_close()
