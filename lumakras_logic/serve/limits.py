"""Two ASGI middlewares of the service: a bound on the request body, and the headers every response
carries.

The bound is checked on the Content-Length before a byte is read, and counted as the body arrives (a
chunked body has no length), so a body past it is refused with a 413 without being held in memory. The
request document inside (a body, an upload) is then held to --max-bytes by the reader, with the CLI's
message; the bound here leaves room for a form's encoding around it.
"""

from __future__ import annotations

from typing import Any

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from ..core.html import CSP
from ..core.stream import dumps

FORM_ROOM = 64 * 1024  # a form's boundaries and other fields, around the document it carries


class _TooLarge(Exception):
    pass


class BodyLimit:
    """A body of more than `limit` bytes is answered 413, as soon as it is known to be."""

    def __init__(self, app: ASGIApp, limit: int) -> None:
        self.app, self.document, self.limit = app, limit, limit + FORM_ROOM

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        length = dict(scope.get("headers") or []).get(b"content-length")
        if length is not None and (not length.isdigit() or int(length) > self.limit):
            await self._refuse(send)
            return
        seen, started = 0, False

        async def counted() -> Message:
            nonlocal seen
            message = await receive()
            if message["type"] == "http.request":
                seen += len(message.get("body", b""))
                if seen > self.limit:
                    raise _TooLarge
            return message

        async def watched(message: Message) -> None:
            nonlocal started
            started = started or message["type"] == "http.response.start"
            await send(message)

        try:
            await self.app(scope, counted, watched)
        except _TooLarge:
            if not started:
                await self._refuse(send)

    async def _refuse(self, send: Send) -> None:
        message = (f"request body: larger than {self.limit:,} bytes (a request document of at most "
                   f"{self.document:,} bytes, --max-bytes, with {FORM_ROOM:,} bytes of room for a form)")
        body = (dumps({"error": message, "problems": [message], "status": 413}) + "\n").encode()
        await send({"type": "http.response.start", "status": 413,
                    "headers": [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode()),
                                (b"connection", b"close")]})
        await send({"type": "http.response.body", "body": body})


class SecurityHeaders:
    """Every response: no script anywhere (the pages need none), no framing, no sniffing, no referrer."""

    HEADERS = [(b"content-security-policy", f"{CSP}; frame-ancestors 'none'".encode()),
               (b"x-content-type-options", b"nosniff"), (b"referrer-policy", b"no-referrer"),
               (b"x-frame-options", b"DENY"), (b"cache-control", b"no-store")]

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return

        async def with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers: list[Any] = list(message.get("headers") or [])
                names = {name.lower() for name, _value in headers}
                headers += [(k, v) for k, v in self.HEADERS if k not in names]
                message = {**message, "headers": headers}
            await send(message)

        await self.app(scope, receive, with_headers)
