"""benchmarks/speedup_split_spread.py on a tiny calibrated model: the shipped split's ratio is the
one the calibration and unseen rows give, the random splits are reproducible and read 1 where
nothing exits early, and a file or a calibration it cannot use is a one-line error."""
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "benchmarks"))

import speedup_split_spread as sss  # noqa: E402
from fastbert.calibrate import calibrate, select_rows, write_calibration  # noqa: E402
from fastbert.data import load_dataset  # noqa: E402
from fastbert.evaluate import all_layer_outputs, sweep  # noqa: E402
from fastbert.model import FastBert  # noqa: E402
from tiny import tiny_model  # noqa: E402


def calibrated(tmp_path, texts, fraction=0.5):
    m = tiny_model(tmp_path)
    m.save_pretrained(tmp_path / "m")
    path = tmp_path / "dev.tsv"
    path.write_text("sentence\tlabel\n" + "".join(f"{t}\t{i % 2}\n" for i, t in enumerate(texts * 4)))
    cal, rest = select_rows(load_dataset(str(path)), fraction, 0)
    calibrate(m, cal.data, data_info={**cal.info(path), "unseen_rows": rest.rows})
    write_calibration(m, tmp_path / "m")
    return tmp_path / "m", path, cal, rest


def test_spread_table_starts_from_the_shipped_split(tmp_path, texts, capsys):
    model_dir, path, cal, rest = calibrated(tmp_path, texts)
    sss.main(["--model", str(model_dir), "--data", str(path), "--targets", "1:1.5:0.25", "--draws", "5"])
    rows = [line.split("|") for line in capsys.readouterr().out.splitlines() if line.startswith("| 1")]
    model = FastBert.from_pretrained(str(model_dir))
    speeds = [model.curve.for_speedup(t).speed for t in (1, 1.25, 1.5)]
    assert [float(r[2]) for r in rows] == sorted(set(speeds))  # one row per distinct speed
    a, b = (sweep(model, all_layer_outputs(model, part.data), [float(rows[-1][2])])[0] for part in (cal, rest))
    assert rows[-1][3].strip() == f"{b.flops_speedup / a.flops_speedup - 1:+.1%}"


def test_random_splits_are_reproducible_and_even_where_nothing_exits_early(tmp_path, texts):
    model_dir, path, cal, rest = calibrated(tmp_path, texts)
    model = FastBert.from_pretrained(str(model_dir))
    outputs = all_layer_outputs(model, load_dataset(str(path)))
    assert sss.spread(model, outputs, 0.3, 18, 7, seed=1) == sss.spread(model, outputs, 0.3, 18, 7, seed=1)
    # every row runs every layer: the halves differ only by the classifiers' share of their FLOPs
    assert all(abs(r - 1) < 0.01 for r in sss.spread(model, outputs, 0.0, 18, 7))


def test_unusable_input_is_a_one_line_error(tmp_path, texts, capsys):
    model_dir, path, _, _ = calibrated(tmp_path, texts)
    other = tmp_path / "other.tsv"
    other.write_text(path.read_text() + f"{texts[0]}\t0\n")
    for args, message in ((["--data", str(other)], "not the file the model was calibrated on"),
                          (["--data", str(path), "--targets", "3:2:1"], "STEP must be positive")):
        with pytest.raises(SystemExit):
            sss.main(["--model", str(model_dir), *args])
        assert message in capsys.readouterr().err
    all_rows, path, _, _ = calibrated(tmp_path / "all", texts, fraction=1.0)
    with pytest.raises(SystemExit):
        sss.main(["--model", str(all_rows), "--data", str(path)])
    assert "none is left unseen" in capsys.readouterr().err


def test_targets_stop_where_the_steps_reach():
    assert sss.parse_targets("1:1.7:0.25") == [1.0, 1.25, 1.5]
    assert sss.parse_targets("1.5:11.5:0.25")[-1] == 11.5 and sss.parse_targets("2,3") == [2.0, 3.0]
