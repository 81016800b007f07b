"""The Gradio app: a per-layer explainer of FastBERT's early exit.

`build_app(registry)` wires the UI; `launch(app, host, port)` serves it offline. The numbers come
from `demo.views` (library results at any speed) and the figures from `demo.charts` (plain
functions, testable without a server).

Example:
    >>> from demo import ModelRegistry, build_app, launch                   # doctest: +SKIP
    >>> launch(build_app(ModelRegistry.from_source("assets/models/sst2-minilm")))  # doctest: +SKIP
"""
from .models import DEFAULT_MODEL, MODELS_DIR, ModelRegistry, find_models
from .ui import build_app, launch

__all__ = ["build_app", "launch", "ModelRegistry", "find_models", "DEFAULT_MODEL", "MODELS_DIR"]
