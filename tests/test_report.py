"""The evaluation report on the tiny model: tables, curves and figure files."""
import json

import pytest

from fastbert.data import TextDataset, load_dataset
from fastbert.evaluate import all_layer_outputs, evaluate, luha_bins, sweep
from fastbert.tools.report import ReportConfig, build_report


@pytest.fixture
def data_file(tmp_path, texts):
    f = tmp_path / "dev.tsv"
    f.write_text("text\tlabel\n" + "".join(f"{t}\t{i % 2}\n" for i, t in enumerate(texts * 3)))
    return f


def test_report_has_every_row_and_figure(model, tmp_path, data_file):
    from tiny import tiny_model

    model.save_pretrained(tmp_path / "m")
    joint = tiny_model(tmp_path / "j", seed=7)  # another model, so its rows must come from it
    joint.save_pretrained(tmp_path / "joint")
    out = tmp_path / "reports" / "tiny.md"
    text = build_report(ReportConfig(str(tmp_path / "m"), str(data_file), str(out), [str(tmp_path / "m")],
                                     str(tmp_path / "joint"), timing=True, png=False))
    for needle in ("Full model", "FastBERT speed=0.1", "FastBERT speed=0.5", "FastBERT speed=0.8", "Static: first",
                   "without self-distillation", "without adaptive inference", "fig3.html", "fig4_luha.html", "fig6.html"):
        assert needle in text
    for stem in ("fig3", "fig4_luha", "fig6"):
        assert (out.parent / f"tiny_{stem}.html").is_file()
    assert not (out.parent / "plotly.min.js").exists()  # the HTML loads plotly.js from its CDN
    numbers = json.loads((out.parent / "tiny.json").read_text())
    assert [r["speed"] for r in numbers["curve"]][:3] == [0.0, 0.05, 0.1] and len(numbers["curve"]) == 21
    assert numbers["table"][0]["speedup"] == 1.0 and numbers["table"][0]["ms_b1"] > 0
    # Each ablation row holds what that model gives when evaluated on its own.
    data = load_dataset(str(data_file))
    expected = {"FastBERT, speed 0.5": evaluate(model, data, 0.5),
                "without adaptive inference": evaluate(model, data, 0.0),
                "without self-distillation (students on labels, joint), speed 0.5": evaluate(joint, data, 0.5),
                "without self-distillation (students on labels, joint), speed 0": evaluate(joint, data, 0.0)}
    for prefix, res in expected.items():
        row = next(r for r in numbers["ablation"] if r["name"].startswith(prefix))
        assert row["accuracy"] == pytest.approx(res.accuracy)
        assert row["flops"] == pytest.approx(res.flops_per_sample)
    # (the two models differ, so rows taken from the wrong one would fail above)
    assert expected["FastBERT, speed 0.5"].flops_per_sample != pytest.approx(
        expected["without self-distillation (students on labels, joint), speed 0.5"].flops_per_sample)


def test_luha_bins_match_a_direct_count(model, texts):
    outputs = all_layer_outputs(model, TextDataset(texts, [str(i % 2) for i in range(len(texts))], "t"))
    u, correct = outputs.uncertainties, outputs.layer_probs.argmax(-1) == outputs.labels  # (L, N)
    one = luha_bins(outputs, 1, bins=4)
    for i in range(4):  # bin i: [i/4, (i+1)/4), the last one closed
        inside = (u[1] >= i / 4) & ((u[1] < (i + 1) / 4) | (i == 3))
        assert one.counts[i] == int(inside.sum())
        assert one.accuracy[i] == (pytest.approx(float(correct[1][inside].double().mean())) if inside.any() else None)
    pooled = luha_bins(outputs, None, bins=4)
    assert pooled.counts == [sum(luha_bins(outputs, k, bins=4).counts[i] for k in range(model.num_layers)) for i in range(4)]
    assert pooled.reference == "labels" and one.centers == [0.125, 0.375, 0.625, 0.875]


def test_sweep_speed_zero_is_the_teacher_and_speedup_rises(model, texts):
    data = TextDataset(texts, [str(i % 2) for i in range(len(texts))], "t")
    outputs = all_layer_outputs(model, data)
    results = sweep(model, outputs, [0.0, 0.5, 1.0])
    assert results[0].mean_exit_layer == model.num_layers
    assert [r.flops_speedup for r in results] == sorted(r.flops_speedup for r in results)


def test_report_without_calibration_is_the_uncalibrated_models(model, tmp_path, data_file, texts):
    from fastbert.calibrate import calibrate
    from tiny import tiny_model

    cal = tiny_model(tmp_path / "tok")
    calibrate(cal, TextDataset(texts * 3, ["positive", "negative", "positive"] * 9))
    cal.save_pretrained(tmp_path / "cal")
    model.save_pretrained(tmp_path / "plain")  # the same seeded weights, no temperatures

    def curve(directory, **kwargs):
        out = tmp_path / directory / "r.md"
        text = build_report(ReportConfig(str(tmp_path / directory), str(data_file), str(out), timing=False, png=False,
                                         **kwargs))
        return text, json.loads((out.parent / "r.json").read_text())["curve"]

    text, raw = curve("cal", calibrated=False)
    assert "--no-calibration" in text
    assert raw == curve("plain")[1]
    assert curve("cal")[1] != raw
