"""The shipped 12-layer Chinese model (assets/models/chnsenticorp-12l): listed by the app, gets
the Chinese examples, and, loaded, gives the figures that assets/reports/chinese.json states for
it (full model, FastBERT at the paper's speeds, exit layers) to within one review: accuracy to one
row, speedup to 0.2%, exit histograms as if one review moved. The tolerance is for float rounding
that differs with the thread count and the CPU's kernels, which can move a review whose
uncertainty sits at the threshold. The last needs the dev set under ../shared/data (present in
CI); about a minute on one thread."""
import json
from pathlib import Path

import pytest

from demo.examples import examples_for
from demo.models import MODELS_DIR, find_models
from fastbert.data import load_dataset
from fastbert.evaluate import all_layer_outputs, sweep
from fastbert.model import FastBert

from conftest import SHARED_DATA

ROOT = Path(__file__).resolve().parents[1]
MODEL = MODELS_DIR / "chnsenticorp-12l"
REPORT = ROOT / "assets" / "reports" / "chinese.json"
DEV = SHARED_DATA / "chnsenticorp" / "dev.tsv"


@pytest.fixture(scope="module")
def model():
    return FastBert.from_pretrained(str(MODEL))


def test_listed_with_chinese_examples(model):
    assert find_models()["chnsenticorp-12l"] == MODEL
    assert model.num_layers == 12 and model.config.labels == ["负面", "正面"]
    examples = examples_for(model.config.labels)
    assert examples.task == "zh-sentiment"
    preds = model.predict(examples.batch.texts, speed=0.0)
    assert sum(p.label == y for p, y in zip(preds, examples.batch.raw_labels)) / len(preds) >= 0.8


@pytest.mark.skipif(not DEV.is_file(), reason="needs ../shared/data (CI has it)")
def test_gives_the_reports_figures(model):
    section = next(s for s in json.loads(REPORT.read_text())["sections"] if s["key"] == "chnsenticorp-12l")
    assert not section["calibrated"]  # the report's exits are the paper's (raw probabilities)
    outputs = all_layer_outputs(model, load_dataset(str(DEV)), calibrated=False)
    full, *fast = sweep(model, outputs, [0.0] + [e["speed"] for e in section["exits"]])
    rows = {r["name"]: r for r in section["table"]}
    one = 1.01 / section["dev_rows"]
    assert full.accuracy == pytest.approx(rows["Full model (12 layers, teacher only)"]["accuracy"], abs=one)
    for result, exits in zip(fast, section["exits"]):
        row = rows[f"FastBERT speed={exits['speed']:g}"]
        assert result.accuracy == pytest.approx(row["accuracy"], abs=one)
        assert result.flops_speedup == pytest.approx(row["speedup"], rel=2e-3)
        assert sum(abs(a - b) for a, b in zip(result.exit_histogram, exits["histogram"])) <= 2
