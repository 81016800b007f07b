"""The shipped Chinese model: loads from its own directory alone (no backbone directory, no
../shared data), is small, gets the app's Chinese examples, and classifies them."""
import shutil


from demo.examples import examples_for
from demo.models import MODELS_DIR, find_models
from fastbert.model import FastBert

MODEL = MODELS_DIR / "chnsenticorp-zh"


def test_chinese_model_is_listed_and_small():
    assert find_models()["chnsenticorp-zh"] == MODEL
    assert sum(f.stat().st_size for f in MODEL.iterdir()) <= 8 * 1024 * 1024


def test_chinese_model_loads_alone_and_classifies_the_examples(tmp_path, monkeypatch):
    copy = tmp_path / "model"
    shutil.copytree(MODEL, copy)
    monkeypatch.chdir(tmp_path)  # the backbone path in its config (runs/...) does not exist here
    model = FastBert.from_pretrained(str(copy))
    assert model.config.labels == ["负面", "正面"]
    examples = examples_for(model.config.labels)
    assert examples.task == "zh-sentiment"
    preds = model.predict(examples.batch.texts, speed=0.0)
    accuracy = sum(p.label == y for p, y in zip(preds, examples.batch.raw_labels)) / len(preds)
    assert accuracy >= 0.75, accuracy
    # Early exit changes the cost, not the interface: every text gets a label and an exit layer.
    fast = model.predict(examples.batch.texts, speed=0.5)
    assert all(1 <= p.exit_layer <= model.num_layers for p in fast)
