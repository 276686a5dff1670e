"""A preview of the built site over HTTP, on 127.0.0.1 only (never another interface), until interrupted.

The pages are the files in the folder as a static host would serve them, with the pages' own
Content-Security-Policy also sent as a header.
"""

from __future__ import annotations

import errno
import functools
import http.server
import sys
from pathlib import Path
from typing import Any

from gitmodelver import advice
from gitmodelver.errors import UsageError
from gitmodelver.site.page import CSP

HOST = "127.0.0.1"


class Handler(http.server.SimpleHTTPRequestHandler):
    def end_headers(self) -> None:
        self.send_header("Content-Security-Policy", CSP)
        self.send_header("X-Content-Type-Options", "nosniff")
        self.send_header("Cache-Control", "no-cache")
        super().end_headers()

    def log_message(self, format: str, *args: Any) -> None:
        sys.stderr.write(f"{self.address_string()} {format % args}\n")


def server(folder: Path, port: int) -> http.server.ThreadingHTTPServer:
    handler = functools.partial(Handler, directory=str(folder))
    try:
        return http.server.ThreadingHTTPServer((HOST, port), handler)
    except OSError as exc:
        if exc.errno == errno.EADDRINUSE:
            raise UsageError(
                f"cannot preview on {HOST}:{port}: the port is in use",
                fix=advice.modelver("site", "-o", str(folder), "--serve", "0"),
            ) from exc
        raise UsageError(f"cannot preview on {HOST}:{port}: {exc.strerror}") from exc


def serve(folder: Path, port: int) -> None:
    """Serve until Ctrl-C; the address goes to stderr."""
    httpd = server(folder, port)
    with httpd:
        bound = httpd.server_address[1]
        sys.stderr.write(f"serving {folder} at http://{HOST}:{bound}/ (Ctrl-C to stop)\n")
        sys.stderr.flush()
        try:
            httpd.serve_forever()
        except KeyboardInterrupt:
            sys.stderr.write("stopped\n")
