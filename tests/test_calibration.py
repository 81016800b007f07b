"""Per-layer temperatures, ECE, the speed curve and its strict storage (fastbert.calibration)."""
import json
import shlex

import pytest
import torch

from fastbert import FastBert, FastBertConfig
from fastbert.calibrate import calibrate, select_rows
from fastbert.calibration import (Curve, CurvePoint, apply_temperatures, fit_temperature, load_curve,
                                  reliability)
from fastbert.checkpoint import CheckpointError
from fastbert.cli import main
from fastbert.commands import build_parser
from fastbert.data import TextDataset
from fastbert.evaluate import all_layer_outputs
from tiny import tiny_model

LABELS = ["negative", "positive"]


@pytest.mark.parametrize("true_t", [0.5, 2.5])
def test_fitting_recovers_a_known_temperature(true_t):
    g = torch.Generator().manual_seed(0)
    logits = 3.0 * torch.randn(20000, 4, generator=g)
    labels = torch.multinomial((logits / true_t).softmax(-1), 1, generator=g).squeeze(1)
    assert fit_temperature(logits, labels) == pytest.approx(true_t, rel=0.05)


def test_temperatures_from_probabilities_equal_dividing_the_logits():
    logits = torch.randn(3, 50, 4, generator=torch.Generator().manual_seed(1)) * 4
    temps = [0.7, 1.0, 2.3]
    expected = torch.stack([(logits[i] / t).softmax(-1) for i, t in enumerate(temps)])
    assert torch.allclose(apply_temperatures(logits.softmax(-1), temps), expected, atol=1e-6)
    assert apply_temperatures(logits.softmax(-1), None) is not None


def test_reliability_and_ece_by_hand():
    probs = torch.tensor([[0.95, 0.05], [0.85, 0.15], [0.35, 0.65], [0.25, 0.75]])
    targets = torch.tensor([0, 1, 1, 0])  # right, wrong, right, wrong
    rel = reliability(probs, targets, bins=5)  # bins of width 0.2
    assert rel.counts == [0, 0, 0, 2, 2]
    assert rel.accuracy[3:] == [0.5, 0.5] and rel.confidence[3:] == pytest.approx([0.7, 0.9])
    assert rel.accuracy[0] is None
    assert rel.ece == pytest.approx(0.5 * 0.2 + 0.5 * 0.4)


def _curve(speedups, accs=None):
    accs = accs or [0.9] * len(speedups)
    return Curve([CurvePoint(round(0.1 * i, 2), s, a) for i, (s, a) in enumerate(zip(speedups, accs))], 0.9)


def test_target_speedup_picks_the_closest_and_is_monotone():
    curve = _curve([1.0, 1.2, 1.9, 1.9, 2.6, 3.4, 4.1, 4.1, 5.3, 6.0])
    for target in (1.0, 1.5, 2.0, 3.0, 4.1, 4.7, 5.0, 9.0):
        got = curve.for_speedup(target)
        assert abs(got.speedup - target) == min(abs(p.speedup - target) for p in curve.points)
    chosen = [curve.for_speedup(0.5 + 0.01 * k).speed for k in range(700)]
    assert chosen == sorted(chosen) and len(set(chosen)) == 8  # ties: the lower speed
    with pytest.raises(ValueError, match="positive"):
        curve.for_speedup(0)


def test_target_accuracy_drop_is_the_fastest_within_the_budget():
    curve = _curve([1.0, 2.0, 3.0, 4.0], [0.90, 0.895, 0.897, 0.85])
    assert curve.for_accuracy_drop(0.5).speed == 0.2  # 0.3 points at 3x; 4x loses 5
    assert curve.for_accuracy_drop(0.0).speed == 0.0
    assert curve.for_accuracy_drop(10).speed == 0.3


@pytest.fixture
def calibrated(tmp_path, texts):
    m = tiny_model(tmp_path)
    data = TextDataset(texts * 3, ["positive", "negative", "positive"] * 9)
    result = calibrate(m, data)
    return m, result, data


def test_calibrate_sets_temperatures_and_a_curve(calibrated):
    m, result, data = calibrated
    assert m.config.temperatures == result.temperatures and len(result.temperatures) == m.num_layers
    assert all(t != 1.0 for t in result.temperatures)
    assert len(result.ece_before) == len(result.ece_after) == m.num_layers

    def nll(calibrated_):
        out = all_layer_outputs(m, data, calibrated=calibrated_)
        picked = out.layer_probs[:, torch.arange(len(data)), out.labels]  # (L, N)
        return (-picked.log()).mean(1)

    assert (nll(True) < nll(False)).all()  # the fit lowers every layer's NLL
    speedups = [p.speedup for p in m.curve.points]
    assert speedups == sorted(speedups) and speedups[-1] > speedups[0]


def test_calibrated_probabilities_are_the_logits_over_t(calibrated, texts):
    m = calibrated[0]
    enc = m.tokenize(texts)
    ids, mask, types = m.collate(enc, range(len(texts)))
    with torch.no_grad():
        logits = m(ids, mask, types).layer_logits  # (L, B, C)
    temps = torch.tensor(m.config.temperatures).view(-1, 1, 1)
    for calibrated_, expected in ((True, (logits / temps).softmax(-1)), (False, logits.softmax(-1))):
        preds = m.predict(texts, speed=0.0, compute_all=True, calibrated=calibrated_)
        got = torch.tensor([p.all_layer_probs for p in preds]).transpose(0, 1)
        assert torch.allclose(got, expected, atol=1e-5)


def test_uncalibrated_model_behaves_exactly_as_before(tmp_path, texts, calibrated):
    plain = tiny_model(tmp_path / "a")
    ones = tiny_model(tmp_path / "b", temperatures=[1.0, 1.0, 1.0])
    m = calibrated[0]
    for speed in (0.1, 0.3, 0.6):
        ref = [(p.exit_layer, p.probs, p.uncertainties) for p in plain.predict(texts, speed=speed)]
        assert [(p.exit_layer, p.probs, p.uncertainties) for p in ones.predict(texts, speed=speed)] == ref
        # a calibrated model with calibrated=False is the same model without temperatures
        assert [(p.exit_layer, p.probs, p.uncertainties)
                for p in m.predict(texts, speed=speed, calibrated=False)] == ref
    assert any(p.exit_layer != q.exit_layer or p.probs != q.probs
               for p, q in zip(m.predict(texts, speed=0.3), plain.predict(texts, speed=0.3)))


def test_old_config_without_calibration_loads_uncalibrated(model):
    data = model.config.to_dict()
    del data["temperatures"], data["calibration_curve"]
    cfg = FastBertConfig.from_dict(data)
    assert cfg.temperatures is None and cfg.calibration_curve is None
    with pytest.raises(ValueError, match="temperatures"):
        FastBertConfig.from_dict({**data, "temperatures": [1.0, -2.0, 1.0]})
    with pytest.raises(ValueError, match="calibration_curve"):
        FastBertConfig.from_dict({**data, "calibration_curve": "../x.json"})


def test_predict_with_a_target_uses_the_curve_and_says_which_speed(calibrated, texts, model):
    m = calibrated[0]
    for target in (1.2, 2.0):
        point = m.curve.for_speedup(target)
        preds = m.predict(texts, target_speedup=target)
        assert all(p.speed == point.speed for p in preds)
        assert [p.exit_layer for p in preds] == [p.exit_layer for p in m.predict(texts, speed=point.speed)]
    assert m.predict(texts, target_accuracy_drop=100.0)[0].speed == m.curve.for_accuracy_drop(100.0).speed
    with pytest.raises(ValueError, match="no calibration curve"):
        model.predict(texts, target_speedup=2.0)
    with pytest.raises(ValueError, match="exactly one"):
        m.predict(texts, target_speedup=2.0, target_accuracy_drop=1.0)
    with pytest.raises(ValueError, match="measured with calibration"):
        m.predict(texts, target_speedup=2.0, calibrated=False)


def test_a_saved_curve_loads_strictly(calibrated, tmp_path, texts):
    m = calibrated[0]
    m.save_pretrained(tmp_path / "m")
    back = FastBert.from_pretrained(tmp_path / "m")
    assert back.curve == m.curve and back.config.temperatures == m.config.temperatures
    assert [p.probs for p in back.predict(texts)] == [p.probs for p in m.predict(texts)]
    path = tmp_path / "m" / "calibration.json"
    path.write_text("{not json")
    with pytest.raises(CheckpointError, match="calibration.json"):
        FastBert.from_pretrained(tmp_path / "m")
    path.write_text(json.dumps({"format": "something else"}))
    with pytest.raises(CheckpointError, match="calibration.json"):
        FastBert.from_pretrained(tmp_path / "m")
    path.unlink()
    with pytest.raises(CheckpointError, match="calibration.json.*missing"):
        FastBert.from_pretrained(tmp_path / "m")


def test_select_rows_keeps_the_unseen_part_apart():
    data = TextDataset([f"t{i}" for i in range(40)], ["0", "1"] * 20)
    cal, rest = select_rows(data, fraction=0.5, seed=3, holdout_fraction=0.25, holdout_seed=0)
    assert len(cal.rows) == len(rest.rows) == 5 and not set(cal.rows) & set(rest.rows)
    assert cal.data.texts == [f"t{i}" for i in cal.rows]
    held_out = data.split(0.25, 0)[1]  # the rows `train --dev-fraction 0.25` did not train on
    assert set(cal.rows + rest.rows) == {int(t[1:]) for t in held_out.texts}


def test_cli_calibrate_then_eval_with_a_target(tmp_path, texts, capsys):
    m = tiny_model(tmp_path)
    m.save_pretrained(tmp_path / "m", metadata={"command": "python -m fastbert train --out m"})
    weights = (tmp_path / "m" / "model.safetensors").read_bytes()
    data = tmp_path / "dev.tsv"
    data.write_text("sentence\tlabel\n" + "".join(f"{t}\t{i % 2}\n" for i, t in enumerate(texts * 4)))
    argv = ["calibrate", "--model", str(tmp_path / "m"), "--data", str(data), "--fraction", "0.5"]
    for seed in ("1", "0"):  # a second calibration replaces the first in the record
        assert main(argv + ["--seed", seed]) == 0
    assert "ECE before" in capsys.readouterr().out
    # the model's record of how it was made now ends with its calibration: a command that parses
    # to the options this one ran with (whatever started the process)
    train, calibration = json.loads((tmp_path / "m" / "training.json").read_text())["commands"]
    assert train == "python -m fastbert train --out m"
    assert shlex.split(calibration)[:3] == ["python", "-m", "fastbert"]
    assert vars(build_parser().parse_args(shlex.split(calibration)[3:])).items() >= {
        "model": str(tmp_path / "m"), "data": str(data), "fraction": 0.5, "seed": 0}.items()
    assert (tmp_path / "m" / "model.safetensors").read_bytes() == weights
    curve = load_curve(tmp_path / "m" / "calibration.json")
    assert len(curve.data["rows"]) == 18 and len(curve.data["unseen_rows"]) == 18
    assert main(["eval", "--model", str(tmp_path / "m"), "--data", str(data), "--target-speedup", "1.5", "--json"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert out["speed"] == curve.for_speedup(1.5).speed
    for drop in (0, 100):  # no loss allowed, and any loss allowed (the fastest point of the curve)
        assert main(["eval", "--model", str(tmp_path / "m"), "--data", str(data), "--target-accuracy-drop",
                     str(drop), "--json"]) == 0
        out = json.loads(capsys.readouterr().out)
        assert out["speed"] == curve.for_accuracy_drop(drop).speed
    assert curve.for_accuracy_drop(100).speedup == max(p.speedup for p in curve.points)
    # --unseen scores only the rows the calibration left out: the same as a file of those rows
    unseen = tmp_path / "unseen.tsv"
    lines = data.read_text().splitlines()
    unseen.write_text("\n".join([lines[0]] + [lines[1 + i] for i in curve.data["unseen_rows"]]) + "\n")
    outs = []
    for args in (["--data", str(data), "--unseen"], ["--data", str(unseen)]):
        assert main(["eval", "--model", str(tmp_path / "m"), *args, "--speed", "0.3", "--json"]) == 0
        outs.append({k: v for k, v in json.loads(capsys.readouterr().out).items() if k != "seconds"})
    assert outs[0]["num_samples"] == 18 and outs[0] == outs[1]
    assert main(["eval", "--model", str(tmp_path / "m"), "--data", str(unseen), "--unseen"]) == 2
    assert "not the file the model was calibrated on" in capsys.readouterr().err
    assert main(["eval", "--model", str(tmp_path / "m"), "--data", str(data), "--target-speedup", "1.5",
                 "--no-calibration"]) == 2
    assert "measured with calibration" in capsys.readouterr().err


def test_unlabeled_calibration_fits_the_students_to_the_teacher(tmp_path, texts):
    m = tiny_model(tmp_path)
    result = calibrate(m, TextDataset(texts * 3))
    assert result.curve.metric == "agreement" and result.temperatures[-1] == 1.0
    assert result.curve.full_accuracy == 1.0  # the teacher agrees with itself
    assert all(t != 1.0 for t in result.temperatures[:-1])


def test_every_shipped_model_records_the_calibrate_command_behind_its_curve():
    """A shipped model's training.json ends with the `calibrate` command that wrote its
    temperatures and calibration.json, with the data file and split its curve records."""
    from demo.models import MODELS_DIR

    shipped = sorted(p for p in MODELS_DIR.iterdir() if (p / "calibration.json").is_file())
    assert len(shipped) >= 4
    for d in shipped:
        args = shlex.split(json.loads((d / "training.json").read_text(encoding="utf-8"))["commands"][-1])
        assert args[:4] == ["python", "-m", "fastbert", "calibrate"]
        opts = build_parser().parse_args(args[3:])
        curve = load_curve(d / "calibration.json")
        assert opts.model.endswith(f"models/{d.name}") and opts.data == curve.data["path"]
        assert f"fraction {opts.fraction:g}, seed {opts.seed})" in curve.data["selection"]
        if opts.holdout_fraction is not None:
            assert f"--dev-fraction {opts.holdout_fraction:g} --seed {opts.holdout_seed}`" in curve.data["selection"]
        assert curve.calibrated == (not opts.no_calibration)


def test_stored_split_says_why_it_cannot_give_the_rows(tmp_path, texts):
    from fastbert.calibrate import stored_split

    m = tiny_model(tmp_path)
    data = tmp_path / "d.tsv"
    data.write_text("sentence\tlabel\n" + "".join(f"{t}\t{i % 2}\n" for i, t in enumerate(texts)))
    with pytest.raises(ValueError, match="no calibration curve"):
        stored_split(m, data)
    calibrate(m, TextDataset(texts * 3))  # from the library, without data_info: no file recorded
    with pytest.raises(ValueError, match="records no data file"):
        stored_split(m, data)


def test_a_calibration_from_code_removes_the_earlier_calibrate_command(tmp_path, texts):
    """write_calibration without a command cannot say what ran, but the earlier calibrate
    command no longer describes the directory: it leaves the record."""
    from fastbert.calibrate import write_calibration

    m = tiny_model(tmp_path)
    train = "python -m fastbert train --out m"
    m.save_pretrained(tmp_path / "m", metadata={"command": train,
                                                "commands": [train, "python -m fastbert calibrate --model m --data d"]})
    calibrate(m, TextDataset(texts * 3))
    write_calibration(m, tmp_path / "m")
    assert json.loads((tmp_path / "m" / "training.json").read_text())["commands"] == [train]
