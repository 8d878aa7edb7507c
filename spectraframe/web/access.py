"""Who may reach the page and its files: the host and port checked before the server starts, the logins, and
each browser's own uploads and results (no Gradio import: the serve command checks these before loading it).

Files: Gradio serves any file of its cache folder to anyone who has its URL (`/gradio_api/file=PATH`). The
`ClientFiles` middleware gives every browser a random cookie, grants it each file under the working folder
that a response to it names (its uploads, its results, its comparison pictures), and answers 404 to a request
for any other file there: a URL copied to another browser, another user or a log gets nothing.
"""

from __future__ import annotations

import contextlib
import ipaddress
import json
import os
import re
import secrets
import socket
import threading
from pathlib import Path
from urllib.parse import parse_qs

from spectraframe.errors import SpectraFrameError
from spectraframe.paths import require_file

COOKIE = "spectraframe-client"
# Bytes of a response kept from one chunk to the next: a path split across two chunks is still seen.
_CARRY = 8192


def is_loopback(host: str) -> bool:
    """Whether `host` is this computer only (127.0.0.0/8, ::1, localhost): no one else can reach the page."""
    if host.lower() == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def check_port(host: str, port: int) -> None:
    """Refuse, before anything is printed or made, a port this server could not listen on."""
    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except socket.gaierror as exc:
        raise SpectraFrameError(f"--host {host} is not an address of this computer ({exc.strerror})") from exc
    family, kind, proto, _, address = infos[0]
    with socket.socket(family, kind, proto) as probe:
        # As the server will listen: a port left in TIME_WAIT by a stopped server may be reused.
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            probe.bind(address)
        except PermissionError as exc:
            raise SpectraFrameError(f"--port {port} needs administrator rights on this system: choose a port above "
                                    "1023, e.g. 7860") from exc
        except OSError as exc:
            raise SpectraFrameError(f"cannot listen on {host}:{port} ({exc.strerror}): another program uses the "
                                    "port, or the address is not this computer's; choose another --port") from exc


def read_logins(pairs: list[str] | None, file: str | None) -> list[tuple[str, str]]:
    """USER:PASSWORD pairs from --auth (each) and --auth-file (one a line; blank and # lines skipped)."""
    lines = [(text, "--auth") for text in pairs or []]
    if file is not None:
        path = require_file(file, "--auth-file")
        numbered = enumerate(path.read_text(encoding="utf-8").splitlines(), start=1)
        lines += [(line.strip(), f"line {n} of {path}") for n, line in numbered
                  if line.strip() and not line.lstrip().startswith("#")]
    logins = []
    for text, where in lines:
        user, sep, password = text.partition(":")
        if not sep or not user.strip() or not password:
            raise SpectraFrameError(f"{where} must be USER:PASSWORD with both parts, e.g. ana:correct-horse")
        logins.append((user.strip(), password))
    return logins


class FileGrants:
    """Which browser (cookie) may fetch which file under `root`, and which page (session) each came to, so that a
    closed page's copies can go at once. Shared by the `ClientFiles` middleware and the page's unload event."""

    def __init__(self, root: Path):
        self.root = os.path.realpath(root)
        self.uploads = os.path.join(self.root, "uploads")
        self._pattern = re.compile(re.escape(self.root.encode()) + rb'(?:[^"\\]|\\.)*')
        self._by_client: dict[str, set[str]] = {}
        self._by_session: dict[str, set[str]] = {}
        self._lock = threading.Lock()

    def granted(self, client: str, path: str) -> bool:
        with self._lock:
            return path in self._by_client.get(client, ())

    def grant(self, client: str, session: str | None, body: bytes) -> None:
        """Grant `client` every path under `root` that `body` (a response to it) names."""
        paths = set()
        for match in self._pattern.finditer(body):
            with contextlib.suppress(ValueError, UnicodeDecodeError):
                paths.add(os.path.realpath(json.loads(b'"' + match.group() + b'"')))
        if paths:
            with self._lock:
                self._by_client.setdefault(client, set()).update(paths)
                if session:
                    self._by_session.setdefault(session, set()).update(paths)

    def forget(self, session: str) -> None:
        """The page closed: remove the copies Gradio made for it (results, pictures) that no other page was sent."""
        with self._lock:
            files = self._by_session.pop(session, set())
            files -= set().union(*self._by_session.values())
        for path in files:
            if path.startswith(self.uploads + os.sep):
                with contextlib.suppress(OSError):
                    os.unlink(path)
                    os.rmdir(os.path.dirname(path))  # Gradio's folder for that one file, when now empty

    def requested_file(self, scope) -> str | None:
        """The file a `/file=PATH` request asks for when it lies under `root`, else None (Gradio's own rules)."""
        path = scope.get("path", "")
        if "/file=" not in path:
            return None
        wanted = os.path.realpath(path.split("/file=", 1)[1])
        return wanted if wanted == self.root or wanted.startswith(self.root + os.sep) else None


class ClientFiles:
    """ASGI middleware: files under the working folder go only to the browser (cookie) a response named them to."""

    def __init__(self, app, grants: FileGrants):
        self.app = app
        self.grants = grants

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        client = _cookie(scope)
        new = client is None
        client = client or secrets.token_urlsafe(24)
        wanted = self.grants.requested_file(scope)
        if wanted is not None and not self.grants.granted(client, wanted):
            return await _not_found(send)
        # The queue's event stream names the page it serves: its files are that page's too.
        session = parse_qs(scope.get("query_string", b"").decode("latin-1")).get("session_hash", [None])[0]
        carry, scan = b"", False

        async def watch(message):
            nonlocal carry, scan
            if message["type"] == "http.response.start":
                # Only what the page reads as data can name files: JSON answers and the queue's event stream.
                kind = dict(message.get("headers", [])).get(b"content-type", b"")
                scan = kind.startswith((b"application/json", b"text/event-stream"))
                if new:
                    cookie = f"{COOKIE}={client}; Path=/; HttpOnly; SameSite=Lax".encode()
                    message = {**message, "headers": [*message.get("headers", []), (b"set-cookie", cookie)]}
            elif message["type"] == "http.response.body" and scan:
                text = carry + message.get("body", b"")
                self.grants.grant(client, session, text)
                carry = text[-_CARRY:]
            await send(message)

        await self.app(scope, receive, watch)


def _cookie(scope) -> str | None:
    for name, value in scope.get("headers", []):
        if name == b"cookie":
            for part in value.decode("latin-1").split(";"):
                key, _, token = part.strip().partition("=")
                if key == COOKIE and token:
                    return token
    return None


async def _not_found(send) -> None:
    body = b"Not found: this file belongs to another browser session, or no longer exists."
    headers = [(b"content-type", b"text/plain; charset=utf-8"), (b"content-length", str(len(body)).encode())]
    await send({"type": "http.response.start", "status": 404, "headers": headers})
    await send({"type": "http.response.body", "body": body})
