"""benchmarks/calibration_report.py on a tiny calibrated model: its figures are the library's own
on the rows the model's calibration.json names (exits on the calibrated probabilities, ECE
before and after), and a section renders from them."""
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "benchmarks"))

import calibration_report  # noqa: E402
from fastbert.calibrate import calibrate, select_rows, write_calibration  # noqa: E402
from fastbert.calibration import layer_ece  # noqa: E402
from fastbert.data import load_dataset  # noqa: E402
from fastbert.evaluate import all_layer_outputs, sweep  # noqa: E402
from fastbert.model import FastBert  # noqa: E402
from tiny import tiny_model  # noqa: E402


def test_report_figures_are_the_librarys_on_the_stored_rows(tmp_path, texts, monkeypatch):
    monkeypatch.chdir(tmp_path)  # the curve stores the data path as given
    models = tmp_path / "models"
    m = tiny_model(tmp_path)
    m.save_pretrained(models / "sst2-minilm")
    Path("dev.tsv").write_text("sentence\tlabel\n" + "".join(f"{t}\t{i % 2}\n" for i, t in enumerate(texts * 6)))
    data = load_dataset("dev.tsv")
    cal, rest = select_rows(data, 0.5, 0)
    calibrate(m, cal.data, data_info={**cal.info("dev.tsv"), "unseen_rows": rest.rows})
    write_calibration(m, models / "sst2-minilm")

    res = calibration_report.measure("sst2-minilm", models)
    model = FastBert.from_pretrained(str(models / "sst2-minilm"))
    unseen = all_layer_outputs(model, rest.data)  # the model's own (calibrated) exits
    for r in res["requested"]:
        assert r["unseen_speedup"] == pytest.approx(sweep(model, unseen, [r["speed"]])[0].flops_speedup)
        assert r["speed"] == model.curve.for_speedup(r["target"]).speed
    raw = all_layer_outputs(model, cal.data, calibrated=False)
    assert res["ece"]["calibration"]["before"] == pytest.approx(layer_ece(raw.layer_probs, raw.labels))
    after = all_layer_outputs(model, cal.data)
    assert res["ece"]["calibration"]["after"] == pytest.approx(layer_ece(after.layer_probs, after.labels), abs=1e-6)
    assert res["rows"] == {"calibration": len(cal.rows), "unseen": len(rest.rows)}
    text = calibration_report.section(res, None)
    assert text.startswith("## SST-2 (`assets/models/sst2-minilm`)")
    assert "–%" not in text  # a speedup beyond the model's range is a bare dash
    assert any(v is None for v in res["equal_speedup"]["raw"])  # (the tiny model's range ends before 5x)
