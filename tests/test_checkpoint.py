"""save_pretrained / from_pretrained: self-contained directories, strict loading."""
import json
import sys
import types

import pytest
import torch
from safetensors.torch import load_file, save_file

from fastbert import FastBert
from fastbert.backbone import PACKAGE_BACKBONES
from fastbert.checkpoint import CheckpointError


def _preds(model, texts):
    return [(p.label, p.exit_layer, p.probs) for p in model.predict(texts, speed=0.5)]


def test_round_trip_gives_identical_results(model, texts, tmp_path):
    model.save_pretrained(tmp_path / "m")
    names = {p.name for p in (tmp_path / "m").iterdir()}
    assert {"config.json", "model.safetensors", "tokenizer.json"} <= names
    assert not any(n.endswith((".bin", ".pt", ".pkl")) for n in names)
    loaded = FastBert.from_pretrained(tmp_path / "m")
    assert _preds(loaded, texts) == _preds(model, texts)
    assert loaded.config == model.config


def test_fp16_storage_halves_the_file_and_stays_close(model, texts, tmp_path):
    model.save_pretrained(tmp_path / "f32")
    model.save_pretrained(tmp_path / "f16", dtype=torch.float16)
    s32 = (tmp_path / "f32" / "model.safetensors").stat().st_size
    s16 = (tmp_path / "f16" / "model.safetensors").stat().st_size
    assert s16 < 0.6 * s32
    a = FastBert.from_pretrained(tmp_path / "f16").predict(texts, speed=0.0)
    b = model.predict(texts, speed=0.0)
    for x, y in zip(a, b):
        assert x.probs == pytest.approx(y.probs, abs=5e-3)


@pytest.fixture
def tiny_alias(model, tmp_path, monkeypatch) -> str:
    """The model's own encoder, saved as a backbone and registered as a package alias."""
    model.encoder.model.save_pretrained(tmp_path / "base")
    model.tokenizer.save_pretrained(str(tmp_path / "base"))
    package = types.ModuleType("tiny_base_package")
    package.get_model_path = lambda: tmp_path / "base"
    monkeypatch.setitem(sys.modules, "tiny_base_package", package)
    monkeypatch.setitem(PACKAGE_BACKBONES, "tiny-base", ("tiny_base_package", "get_model_path"))
    return "tiny-base"


def test_base_weights_are_left_out_and_read_back(model, texts, tmp_path, tiny_alias):
    model.save_pretrained(tmp_path / "m", base_weights=tiny_alias)
    stored = load_file(str(tmp_path / "m" / "model.safetensors"))
    spec = json.loads((tmp_path / "m" / "base_weights.json").read_text())
    assert spec["source"] == tiny_alias
    assert "encoder.model.embeddings.word_embeddings.weight" in spec["tensors"]
    assert not set(spec["tensors"]) & set(stored)
    assert all(k.startswith("classifiers.") for k in stored)  # nothing else differs from the base
    assert _preds(FastBert.from_pretrained(tmp_path / "m"), texts) == _preds(model, texts)


def test_base_weights_other_than_an_alias_are_stored_in_the_file(model, texts, tmp_path):
    """Loading reads base weights only from an alias, so saving keeps the directory whole."""
    model.encoder.model.save_pretrained(tmp_path / "base")
    with pytest.warns(UserWarning, match="not one of the backbone aliases"):
        model.save_pretrained(tmp_path / "m", base_weights=str(tmp_path / "base"))
    assert not (tmp_path / "m" / "base_weights.json").exists()
    assert set(load_file(str(tmp_path / "m" / "model.safetensors"))) == set(model.state_dict())
    assert _preds(FastBert.from_pretrained(tmp_path / "m"), texts) == _preds(model, texts)


def _corrupt(directory, edit):
    path = directory / "model.safetensors"
    tensors = load_file(str(path))
    edit(tensors)
    save_file(tensors, str(path))


@pytest.mark.parametrize("edit, message, name", [
    (lambda t: t.pop("classifiers.1.out.bias"), "missing", "classifiers.1.out.bias"),
    (lambda t: t.update({"classifiers.9.out.bias": torch.zeros(2)}), "unexpected", "classifiers.9.out.bias"),
    (lambda t: t.update({"classifiers.0.out.bias": torch.zeros(3)}), "mis-shaped", "classifiers.0.out.bias"),
])
def test_loading_is_strict_and_names_the_weight(model, tmp_path, edit, message, name):
    model.save_pretrained(tmp_path / "m")
    _corrupt(tmp_path / "m", edit)
    with pytest.raises(CheckpointError, match=message) as err:
        FastBert.from_pretrained(tmp_path / "m")
    assert name in str(err.value)


def test_unknown_directory_or_offline_hub_id_is_a_clear_error(tmp_path, monkeypatch):
    with pytest.raises(FileNotFoundError, match="no model directory"):
        FastBert.from_pretrained(tmp_path / "absent")
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    with pytest.raises(FileNotFoundError, match="Hugging Face Hub"):
        FastBert.from_pretrained("someone/not-a-real-fastbert-model")
    (tmp_path / "empty").mkdir()
    with pytest.raises(FileNotFoundError, match="config.json"):
        FastBert.from_pretrained(tmp_path / "empty")


def test_hub_ids_go_through_snapshot_download(model, tmp_path, monkeypatch, texts):
    """A hub id is fetched with huggingface_hub and then loaded like a local directory."""
    model.save_pretrained(tmp_path / "snapshot")
    calls = []

    def fake_snapshot_download(repo_id, **kwargs):
        calls.append(repo_id)
        return str(tmp_path / "snapshot")

    import huggingface_hub

    monkeypatch.setattr(huggingface_hub, "snapshot_download", fake_snapshot_download)
    loaded = FastBert.from_pretrained("user/fastbert-tiny")
    assert calls == ["user/fastbert-tiny"]
    assert _preds(loaded, texts) == _preds(model, texts)


def test_the_tokenizer_loads_without_transformers_mistral_false_alarm(tiny_model_dir, monkeypatch):
    """transformers 5 warns "incorrect regex pattern" for a local tokenizer whose config.json is
    not a transformers config (ours); loading a model drops that one warning, and only while
    it loads."""
    import logging

    import transformers

    name = "transformers.tokenization_utils_tokenizers"
    real = transformers.AutoTokenizer.from_pretrained

    def warning_then_load(*args, **kwargs):
        logging.getLogger(name).warning("The tokenizer you are loading from 'x' with an incorrect regex pattern: ...")
        logging.getLogger(name).warning("another warning")
        return real(*args, **kwargs)

    monkeypatch.setattr(transformers.AutoTokenizer, "from_pretrained", warning_then_load)
    seen = []

    class Catch(logging.Handler):
        def emit(self, record):
            seen.append(record.getMessage())

    logger = logging.getLogger(name)
    catch = Catch(level=logging.WARNING)
    logger.addHandler(catch)
    try:
        FastBert.from_pretrained(tiny_model_dir)
        logger.warning("... an incorrect regex pattern after the load ...")
    finally:
        logger.removeHandler(catch)
    assert seen == ["another warning", "... an incorrect regex pattern after the load ..."]


def test_command_chain_and_its_calibration_steps():
    from fastbert.checkpoint import command_chain, without_calibration

    train, ship = "python -m fastbert train --out a", "python scripts/ship_fp16.py a b"
    calibrate = "python -m fastbert calibrate --model b --data d.tsv"
    assert command_chain({"command": train}) == [train]  # a record from before chains were kept
    assert command_chain({"command": ship, "commands": [train, ship, calibrate]}) == [train, ship, calibrate]
    assert command_chain({}) == []
    assert without_calibration([train, calibrate, ship, calibrate]) == [train, ship]
