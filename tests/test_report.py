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
                   "without self-distillation", "without adaptive inference", "fig3.html", "fig4_luha.html", "fig6.html",
                   "The static baselines are the same backbone"):
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
    assert "Static:" not in text and "static baselines" not in text  # none given, so none described
    assert raw == curve("plain")[1]
    assert curve("cal")[1] != raw


def test_compare_rows_are_the_other_models_own_numbers(model, tmp_path, data_file):
    from tiny import tiny_model

    model.save_pretrained(tmp_path / "m")
    other = tiny_model(tmp_path / "o", seed=7, layers=2)  # fewer FLOPs: its two speedups differ
    other.save_pretrained(tmp_path / "shallower")
    out = tmp_path / "r" / "r.md"
    text = build_report(ReportConfig(str(tmp_path / "m"), str(data_file), str(out), compare=[str(tmp_path / "shallower")],
                                     timing=True, png=False))
    assert "## Compared models (same data)" in text and "shallower: FastBERT speed=0.5" in text
    assert (out.parent / "r_depth.html").is_file()
    numbers = json.loads((out.parent / "r.json").read_text())
    rec = numbers["compare"]["shallower"]
    assert rec["calibrated"] is False and len(rec["curve"]) == 101
    data = load_dataset(str(data_file))
    full = evaluate(other, data, 0.0)
    report_full = numbers["table"][0]["flops"]
    assert full.full_flops_per_sample < report_full
    assert rec["table"][0]["flops"] == pytest.approx(full.full_flops_per_sample)
    assert rec["table"][0]["speedup_vs_report"] == pytest.approx(report_full / full.full_flops_per_sample)
    for row in rec["table"][1:]:
        res = evaluate(other, data, row["speed"])
        assert row["accuracy"] == pytest.approx(res.accuracy) and row["flops"] == pytest.approx(res.flops_per_sample)
        assert row["speedup_own"] == pytest.approx(full.full_flops_per_sample / res.flops_per_sample)
        assert row["speedup_vs_report"] == pytest.approx(report_full / res.flops_per_sample)
        assert row["ms_b1"] > 0 and row["ms_b32"] > 0
    # At each budget: the lowest grid speed that fits it, so the next lower speed does not fit.
    for eq, budget_row in zip(rec["equal_flops"], numbers["table"]):
        assert eq["budget_flops"] == budget_row["flops"] and eq["report_accuracy"] == budget_row["accuracy"]
        if eq["speed"] is None:
            assert evaluate(other, data, 1.0).flops_per_sample > eq["budget_flops"]
            continue
        hit = evaluate(other, data, eq["speed"])
        assert hit.flops_per_sample <= eq["budget_flops"] and hit.accuracy == pytest.approx(eq["accuracy"])
        if eq["speed"] > 0:
            assert evaluate(other, data, round(eq["speed"] - 0.01, 2)).flops_per_sample > eq["budget_flops"]


def test_compare_follows_the_calibration_flag_and_refuses_equal_names(model, tmp_path, data_file, texts):
    from fastbert.calibrate import calibrate
    from tiny import tiny_model

    model.save_pretrained(tmp_path / "m")
    cal = tiny_model(tmp_path / "tok", seed=3)
    calibrate(cal, TextDataset(texts * 3, ["positive", "negative", "positive"] * 9))
    cal.save_pretrained(tmp_path / "cal")

    def compared(**kwargs):
        out = tmp_path / str(len(kwargs)) / "r.md"
        text = build_report(ReportConfig(str(tmp_path / "m"), str(data_file), str(out), compare=[str(tmp_path / "cal")],
                                         timing=False, png=False, **kwargs))
        return text, json.loads((out.parent / "r.json").read_text())["compare"]["cal"]

    text, on = compared()
    assert on["calibrated"] is True and "with its calibrated temperatures" in text
    text, off = compared(calibrated=False)
    assert off["calibrated"] is False and "uncalibrated: the paper's exits" in text
    plain = tiny_model(tmp_path / "tok2", seed=3)  # the same weights without temperatures
    data = load_dataset(str(data_file))
    assert [r["accuracy"] for r in off["curve"]] == [r.accuracy for r in sweep(plain, all_layer_outputs(plain, data), [0.01 * i for i in range(101)])]
    (tmp_path / "x").mkdir()
    model.save_pretrained(tmp_path / "x" / "m")
    with pytest.raises(ValueError, match="different names"):
        build_report(ReportConfig(str(tmp_path / "m"), str(data_file), str(tmp_path / "e.md"),
                                  compare=[str(tmp_path / "x" / "m")], timing=False, png=False))


def test_at_budget_takes_the_lowest_fitting_speed():
    from fastbert.evaluate import EvalResult
    from fastbert.tools.report_compare import at_budget

    def r(speed, flops, acc):
        return EvalResult(speed, 10, acc, 1.0, [10], flops, 100.0, 100.0 / flops, None)

    curve = [r(0.5, 40.0, 0.7), r(0.0, 110.0, 0.9), r(0.2, 60.0, 0.8), r(0.9, 20.0, 0.95)]
    assert at_budget(curve, 60.0).speed == 0.2  # not 0.9, although it is more accurate
    assert at_budget(curve, 59.0).speed == 0.5
    assert at_budget(curve, 10.0) is None


def test_previous_keeps_baseline_and_ablation_rows_marked(model, tmp_path, data_file):
    from tiny import tiny_model

    model.save_pretrained(tmp_path / "m")
    tiny_model(tmp_path / "j", seed=7).save_pretrained(tmp_path / "joint")
    tiny_model(tmp_path / "s", seed=5, layers=2).save_pretrained(tmp_path / "small")  # another full-model cost
    first = tmp_path / "a" / "r.md"
    build_report(ReportConfig(str(tmp_path / "m"), str(data_file), str(first), [str(tmp_path / "joint")],
                              str(tmp_path / "joint"), timing=False, png=False))
    old = json.loads((first.parent / "r.json").read_text())
    second = tmp_path / "b" / "r.md"
    previous = str(first.parent / "r.json")
    text = build_report(ReportConfig(str(tmp_path / "small"), str(data_file), str(second), timing=False, png=False,
                                     previous=previous))
    new = json.loads((second.parent / "r.json").read_text())
    ref = new["table"][0]["flops"]
    assert ref != old["table"][0]["flops"]
    for key, prefix in (("table", "Static:"), ("ablation", "without self-distillation")):
        before = [r for r in old[key] if r["name"].startswith(prefix)]
        after = [r for r in new[key] if r["name"].startswith(prefix)]
        assert before and len(after) == len(before)
        for b, a in zip(before, after):
            assert a["name"] == b["name"] + " (kept from the previous report, not re-measured)"
            assert (a["accuracy"], a["flops"], a["kept_from"]) == (b["accuracy"], b["flops"], previous)
            assert a["speedup"] == pytest.approx(ref / b["flops"])  # against this run's full model
    assert f"are copied from `{previous}`" in text and "--previous" in text
    # Re-keeping neither stacks the mark nor forgets the first source; given models replace kept rows.
    third = tmp_path / "c" / "r.md"
    build_report(ReportConfig(str(tmp_path / "small"), str(data_file), str(third), timing=False, png=False,
                              previous=str(second.parent / "r.json")))
    again = json.loads((third.parent / "r.json").read_text())["table"]
    assert [r["name"] for r in again] == [r["name"] for r in new["table"]]
    assert {r["kept_from"] for r in again if "kept_from" in r} == {previous}
    fourth = tmp_path / "d" / "r.md"
    build_report(ReportConfig(str(tmp_path / "m"), str(data_file), str(fourth), [str(tmp_path / "joint")],
                              timing=False, png=False, previous=str(second.parent / "r.json")))
    assert "not re-measured" not in "".join(r["name"] for r in json.loads((fourth.parent / "r.json").read_text())["table"])
    # Rows measured on other data are refused.
    with pytest.raises(ValueError, match="measured on"):
        build_report(ReportConfig(str(tmp_path / "m"), str(data_file), str(tmp_path / "e" / "r.md"), timing=False,
                                  png=False, dev_fraction=0.5, previous=previous))
