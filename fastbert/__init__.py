"""FastBERT: self-distilling BERT with adaptive inference time (Liu et al., ACL 2020).

The names below are imported on first use (PEP 562), so `import fastbert` does not pull in
torch or transformers until a model, config or function is touched.
"""
from importlib import import_module

# Light (no torch), and imported now so that the function, not its submodule, is `fastbert.speedup`.
from .config import FastBertConfig
from .speedup import speedup

_EXPORTS = {
    "FastBert": ".model",
    "FastBertOutput": ".outputs",
    "Prediction": ".outputs",
    "decide_exits": ".uncertainty",
    "get_criterion": ".uncertainty",
    "normalized_entropy": ".uncertainty",
}
__all__ = ["FastBertConfig", "speedup", *_EXPORTS]
__version__ = "0.1.0"


def __getattr__(name: str):
    if name not in _EXPORTS:
        raise AttributeError(f"module 'fastbert' has no attribute {name!r}")
    value = getattr(import_module(_EXPORTS[name], __name__), name)
    globals()[name] = value  # later look-ups skip this function
    return value


def __dir__() -> list[str]:
    return sorted(list(globals()) + __all__)
