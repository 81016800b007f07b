"""What one client may ask of the server: request and file sizes, queue and batch sizes, and
how long uploads are kept. `BodyLimit` refuses an over-long request before it is read."""
from __future__ import annotations

import json

MAX_REQUEST_BYTES = 24 * 1024 * 1024  # a 10 MB text fits; a 30 MB one does not
MAX_FILE_BYTES = 20 * 1024 * 1024  # per uploaded file (Gradio's own check)
DELETE_CACHE = (300, 900)  # every 5 minutes, delete uploads older than 15 minutes
QUEUE_SIZE = 512  # calls waiting at once; more are refused with "queue is full"
MAX_BATCH_SIZE = 32  # /classify calls run through the model together, at most
CLASSIFY_CONCURRENCY = 64  # /classify calls in progress at once (waiting ones share model runs)
MAX_THREADS = 96  # Gradio's worker threads: the /classify calls plus the page's callbacks


class BodyLimit:
    """ASGI middleware: a request whose body is longer than `max_bytes` gets a 413 answer, by
    its Content-Length header before anything is read, or as soon as it is read past the limit.

    >>> BodyLimit(app=None, max_bytes=10).max_bytes
    10
    """

    def __init__(self, app, max_bytes: int = MAX_REQUEST_BYTES):
        self.app = app
        self.max_bytes = max_bytes

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        declared = dict(scope.get("headers", [])).get(b"content-length")
        if declared is not None and declared.isdigit() and int(declared) > self.max_bytes:
            return await self._refuse(send, int(declared))
        seen = 0
        started = False

        async def counted_receive():
            nonlocal seen
            message = await receive()
            if message["type"] == "http.request":
                seen += len(message.get("body", b""))
                if seen > self.max_bytes:
                    raise _TooLarge
            return message

        async def tracked_send(message):
            nonlocal started
            started = started or message["type"] == "http.response.start"
            await send(message)

        try:
            await self.app(scope, counted_receive, tracked_send)
        except _TooLarge:
            if not started:
                await self._refuse(send, seen)

    async def _refuse(self, send, size: int) -> None:
        detail = (f"The request is {size / 2**20:.1f} MB; this server accepts at most "
                  f"{self.max_bytes / 2**20:.0f} MB per request. Texts longer than the model reads are "
                  "truncated anyway: send the beginning.")
        body = json.dumps({"detail": detail}).encode()
        await send({"type": "http.response.start", "status": 413,
                    "headers": [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode())]})
        await send({"type": "http.response.body", "body": body})


class _TooLarge(Exception):
    pass


def app_kwargs() -> dict:
    """FastAPI options for `Blocks.launch(app_kwargs=...)`: the request-size limit."""
    from starlette.middleware import Middleware

    return {"middleware": [Middleware(BodyLimit, max_bytes=MAX_REQUEST_BYTES)]}
