"""benchmarks/speedup_split_spread.py on a tiny calibrated model: the shipped split's ratio is the
one `eval --unseen` and a calibration-rows eval give, and every request gets a row."""
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "benchmarks"))

import speedup_split_spread  # noqa: E402
from fastbert.calibrate import calibrate, select_rows, write_calibration  # noqa: E402
from fastbert.data import load_dataset  # noqa: E402
from fastbert.evaluate import all_layer_outputs, sweep  # noqa: E402
from fastbert.model import FastBert  # noqa: E402
from tiny import tiny_model  # noqa: E402


def test_spread_table_starts_from_the_shipped_split(tmp_path, texts, capsys):
    m = tiny_model(tmp_path)
    m.save_pretrained(tmp_path / "m")
    data_path = tmp_path / "dev.tsv"
    data_path.write_text("sentence\tlabel\n" + "".join(f"{t}\t{i % 2}\n" for i, t in enumerate(texts * 4)))
    data = load_dataset(str(data_path))
    cal, rest = select_rows(data, 0.5, 0)
    calibrate(m, cal.data, data_info={**cal.info(data_path), "unseen_rows": rest.rows})
    write_calibration(m, tmp_path / "m")
    speedup_split_spread.main(["--model", str(tmp_path / "m"), "--data", str(data_path), "--targets", "1:1.5:0.25",
                               "--draws", "5"])
    lines = capsys.readouterr().out.splitlines()
    rows = [line for line in lines if line.startswith("| 1")]
    assert [r.split("|")[1].strip() for r in rows] == ["1x", "1.25x", "1.5x"]
    model = FastBert.from_pretrained(str(tmp_path / "m"))
    speed = model.curve.for_speedup(1.5).speed
    a, b = (sweep(model, all_layer_outputs(model, part.data), [speed])[0] for part in (cal, rest))
    assert rows[-1].split("|")[3].strip() == f"{b.flops_speedup / a.flops_speedup - 1:+.1%}"
    with pytest.raises(SystemExit):  # another file than the one it was calibrated on
        other = tmp_path / "other.tsv"
        other.write_text(data_path.read_text() + f"{texts[0]}\t0\n")
        speedup_split_spread.main(["--model", str(tmp_path / "m"), "--data", str(other)])
