"""`python -m fastbert` subcommands."""
import json
import shlex

import pytest

from fastbert.cli import main
from fastbert.commands import build_parser


def test_eval_json_has_the_documented_keys(model, tmp_path, capsys):
    model.save_pretrained(tmp_path / "m")
    data = tmp_path / "d.tsv"
    data.write_text("text\tlabel\ngood film\tpositive\nawful plot\tnegative\nfun\t1\n")
    assert main(["eval", "--model", str(tmp_path / "m"), "--data", str(data), "--speed", "0.5", "--json"]) == 0
    out = json.loads(capsys.readouterr().out)
    keys = {"accuracy", "mean_exit_layer", "exit_histogram", "flops_per_sample", "full_flops_per_sample",
            "flops_speedup", "seconds"}
    assert keys <= set(out)
    assert sum(out["exit_histogram"]) == 3 and 1 <= out["mean_exit_layer"] <= model.num_layers
    # The command's figures agree with the library's own per-text predictions of the same rows.
    preds = model.predict(["good film", "awful plot", "fun"], speed=0.5)
    assert out["flops_per_sample"] == pytest.approx(sum(p.flops for p in preds) / 3)
    assert out["full_flops_per_sample"] == pytest.approx(sum(p.full_flops for p in preds) / 3)
    assert out["mean_exit_layer"] == pytest.approx(sum(p.exit_layer for p in preds) / 3)


def test_eval_reports_bad_data_without_a_traceback(model, tmp_path, capsys):
    model.save_pretrained(tmp_path / "m")
    assert main(["eval", "--model", str(tmp_path / "m"), "--data", str(tmp_path / "none.tsv")]) == 2
    err = capsys.readouterr().err
    assert "no such file" in err and "Traceback" not in err


def test_flops_bert_base_json(capsys):
    assert main(["flops", "--bert-base", "--seq-len", "128", "--json"]) == 0  # in-process: no second import
    report = json.loads(capsys.readouterr().out)
    assert {"layer_flops", "classifier_flops", "full_flops", "paper_convention_flops"} <= set(report)
    assert abs(report["paper_relative_difference"]) < 0.01


def test_train_then_eval_round_trip(tmp_path, capsys):
    """`train` runs both stages from a backbone directory and saves a loadable model."""
    from tiny import tiny_model

    tiny = tiny_model(tmp_path)
    tiny.encoder.model.save_pretrained(tmp_path / "backbone")
    tiny.tokenizer.save_pretrained(str(tmp_path / "backbone"))
    data = tmp_path / "d.tsv"
    data.write_text("".join(f"{t}\t{y}\n" for t, y in [("good film", 1), ("bad film", 0)] * 8))
    args = ["train", "--backbone", str(tmp_path / "backbone"), "--train", str(data), "--dev-fraction", "0.25",
            "--max-length", "64", "--epochs", "1", "--distill-epochs", "1", "--out", str(tmp_path / "out"), "--quiet"]
    assert main(args) == 0
    record = json.loads((tmp_path / "out" / "training.json").read_text())
    assert set(record["stages"]) == {"finetune", "distill"}
    assert record["data"]["train"]["rows"] == 12 and record["data"]["dev"]["rows"] == 4
    assert main(["eval", "--model", str(tmp_path / "out"), "--data", str(data), "--json"]) == 0


def test_train_resume_points(tmp_path, capsys):
    """--save-every leaves OUT/resume-STAGE.pt while training, --resume continues from it, and
    a finished run removes it; a leftover point without --resume is refused."""
    from tiny import tiny_model

    tiny = tiny_model(tmp_path)
    tiny.encoder.model.save_pretrained(tmp_path / "backbone")
    tiny.tokenizer.save_pretrained(str(tmp_path / "backbone"))
    data = tmp_path / "d.tsv"
    data.write_text("".join(f"{t}\t{y}\n" for t, y in [("good film", 1), ("bad film", 0)] * 8))
    out = tmp_path / "out"
    base = ["train", "--backbone", str(tmp_path / "backbone"), "--train", str(data), "--stages", "finetune",
            "--max-length", "64", "--epochs", "1", "--batch-size", "4", "--out", str(out), "--quiet",
            "--save-every", "2"]
    out.mkdir()
    torch_save_point = out / "resume-finetune.pt"
    torch_save_point.write_bytes(b"")  # a leftover from an interrupted run
    assert main(base) == 2 and "--resume" in capsys.readouterr().err
    torch_save_point.unlink()
    assert main(base + ["--resume"]) == 2 and "no resume" in capsys.readouterr().err
    assert main(base) == 0
    assert not torch_save_point.exists() and (out / "model.safetensors").is_file()


def test_python_dash_m_fastbert_runs_and_reports_a_bad_option_in_one_line():
    import subprocess
    import sys

    done = subprocess.run([sys.executable, "-m", "fastbert", "backbone", "--convert", "model.bin"],
                          capture_output=True, text=True)
    assert done.returncode == 2 and done.stderr.strip() == "error: --convert needs --out DIR"


def test_continued_training_keeps_the_held_out_split_of_its_init_model(tmp_path, capsys):
    """`train --init` with --dev-fraction splits the file as the init model did, whatever --seed,
    so that it never trains on that model's dev rows; another split seed or fraction is refused.
    A record from before the split seed was stored used --seed for it. The new record's commands
    are the init model's chain without its calibration (train --init drops the temperatures)."""
    from tiny import tiny_model

    tiny = tiny_model(tmp_path)
    tiny.encoder.model.save_pretrained(tmp_path / "backbone")
    tiny.tokenizer.save_pretrained(str(tmp_path / "backbone"))
    data = tmp_path / "d.tsv"
    data.write_text("".join(f"film {i} {w}\t{y}\n" for i in range(10) for w, y in [("good", 1), ("bad", 0)]))
    common = ["--train", str(data), "--dev-fraction", "0.25", "--stages", "finetune", "--max-length", "64",
              "--epochs", "1", "--quiet"]
    first = tmp_path / "first"
    assert main(["train", "--backbone", str(tmp_path / "backbone"), "--seed", "3", "--out", str(first)] + common) == 0
    rec = json.loads((first / "training.json").read_text())
    assert rec["data"]["dev"]["split_seed"] == 3
    # the recorded command is the run's own (not pytest's argv): it parses back to these options
    again = build_parser().parse_args(shlex.split(rec["command"])[3:])
    assert (again.command, again.seed, again.out, again.dev_fraction) == ("train", 3, str(first), 0.25)

    from fastbert.data import load_dataset
    def held_out(seed):
        return load_dataset(str(data)).split(0.25, seed)[1].texts
    assert held_out(3) != held_out(1)  # the seeds give different splits, so the check below means something

    second = tmp_path / "second"
    assert main(["train", "--init", str(first), "--seed", "1", "--out", str(second)] + common) == 0
    rec2 = json.loads((second / "training.json").read_text())
    assert rec2["seed"] == 1 and rec2["data"]["dev"]["split_seed"] == 3
    assert rec2["data"]["dev"]["rows"] == 5
    assert main(["train", "--init", str(first), "--split-seed", "1", "--out", str(tmp_path / "x")] + common) == 2
    assert "split seed 3" in capsys.readouterr().err
    wider = [a if a != "0.25" else "0.5" for a in common]
    assert main(["train", "--init", str(first), "--out", str(tmp_path / "y")] + wider) == 2
    assert "held out 5" in capsys.readouterr().err
    # a record written before the split seed was kept: its --seed made the split
    del rec["data"]["dev"]["split_seed"]
    # (and a calibrated init model: its calibrate step is not part of what made the new weights)
    rec["commands"] = [rec["command"], "python -m fastbert calibrate --model first --data d.tsv"]
    (first / "training.json").write_text(json.dumps(rec))
    third = tmp_path / "third"
    assert main(["train", "--init", str(first), "--seed", "0", "--out", str(third)] + common) == 0
    rec3 = json.loads((third / "training.json").read_text())
    assert rec3["data"]["dev"]["split_seed"] == 3
    assert rec3["commands"] == [rec["command"], rec3["command"]]
    # no --init: the split follows --split-seed, else --seed
    fresh = tmp_path / "fresh"
    assert main(["train", "--backbone", str(tmp_path / "backbone"), "--seed", "2", "--split-seed", "1",
                 "--out", str(fresh)] + common) == 0
    assert json.loads((fresh / "training.json").read_text())["data"]["dev"]["split_seed"] == 1
