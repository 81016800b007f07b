"""Serving the app in tests: a free port, the app on 127.0.0.1 as a context manager, and where
Debian's Chromium lives (the browser tests drive it with playwright)."""
from __future__ import annotations

import contextlib
import socket
from pathlib import Path

from demo import ModelRegistry, build_app, launch

CHROMIUM = Path("/usr/bin/chromium")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@contextlib.contextmanager
def running_app(model_dir: Path, models_dir: Path | None = None, **build_kwargs):
    """Serve the app for `model_dir` (and any others in `models_dir`) on 127.0.0.1 and a free
    port; yields its URL."""
    blocks = build_app(ModelRegistry.from_source(model_dir, models_dir=models_dir), **build_kwargs)
    port = free_port()
    launch(blocks, "127.0.0.1", port, prevent_thread_lock=True, quiet=True)
    try:
        yield f"http://127.0.0.1:{port}/"
    finally:
        blocks.close()
