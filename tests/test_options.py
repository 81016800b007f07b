"""Options written once (fastbert.options): each command's options follow from dataclass fields,
and the documented command lines still parse to the same values."""
import argparse
import shlex
from dataclasses import dataclass, field

import pytest

from fastbert.commands import build_parser
from fastbert.commands.backbone import BackboneOptions
from fastbert.commands.eval import EvalOptions
from fastbert.options import add_options, command_line, from_args
from fastbert.tools.bench_config import BenchConfig
from fastbert.tools.report_config import ReportConfig


def parse(*argv):
    return build_parser().parse_args(list(argv))


def test_every_command_is_listed_once():
    sub = next(a for a in build_parser()._actions if isinstance(a, argparse._SubParsersAction))
    assert {"train", "eval", "export", "flops", "bench", "report", "calibrate", "backbone"} <= set(sub.choices)


def test_types_switches_and_lists_follow_the_fields():
    a = parse("bench", "--speeds", "0,0.5", "--batch-sizes", "1", "--lengths", "", "--no-calibration",
              "--no-app", "--data", "none")
    cfg = from_args(BenchConfig, a)
    assert cfg.speeds == [0.0, 0.5] and cfg.batch_sizes == [1] and cfg.lengths == []
    assert cfg.calibrated is False and cfg.app is False and cfg.pipeline is True and cfg.data is None
    with pytest.raises(SystemExit):
        parse("bench", "--speeds", "fast")


def test_required_exclusive_and_positional_options(capsys):
    with pytest.raises(SystemExit):
        parse("eval", "--data", "d.tsv")  # --model is required
    with pytest.raises(SystemExit):
        parse("eval", "--model", "m", "--data", "d", "--speed", "0.3", "--target-speedup", "2")
    with pytest.raises(SystemExit):
        parse("flops")  # one of --bert-base / --model
    opts = from_args(EvalOptions, parse("eval", "--model", "m", "--data", "d", "--target-speedup", "2"))
    assert (opts.speed, opts.target_speedup, opts.no_calibration) == (0.5, 2.0, False)
    assert from_args(BackboneOptions, parse("backbone")).name == "multilingual-e5-small"
    assert from_args(BackboneOptions, parse("backbone", "other")).name == "other"
    assert "--text-columns" in build_parser()._subparsers._group_actions[0].choices["eval"].format_help()


def test_command_line_parses_back_to_the_same_options():
    cfg = ReportConfig("m", "d.tsv", "r.md", baseline=["b1", "b2"], png=False, calibrated=False, dev_fraction=0.1)
    line = command_line("report", cfg)
    assert "--baseline b1 --baseline b2" in line and "--no-png" in line and "--no-calibration" in line
    assert from_args(ReportConfig, parse(*line.split()[3:])) == cfg


def test_command_lines_of_train_calibrate_and_pretrain_parse_back(tmp_path):
    """The commands a model's training.json records are rebuilt from the options (list options
    spelled the way each parses: comma-separated, repeated, or one flag with several values)."""
    from fastbert.commands.calibrate import CalibrateOptions
    from fastbert.commands.common import DataColumns
    from fastbert.commands.pretrain import PretrainOptions
    from fastbert.commands.train import TrainOptions

    cases = {"train": ([TrainOptions, DataColumns], ["--train", "t.tsv", "--out", "o", "--dev-fraction", "0.2",
                                                     "--labels", "a,b", "--text-columns", "x,y", "--quiet"]),
             "calibrate": ([CalibrateOptions, DataColumns], ["--model", "m", "--data", "d.tsv", "--holdout-fraction",
                                                             "0.1", "--fraction", "0.5", "--unlabeled"]),
             "pretrain": ([PretrainOptions], ["--corpus", "a.tsv", "b.txt", "--exclude", "c.tsv", "--hold-out",
                                              "d.tsv=0.2", "--out", "o", "--max-steps", "5"])}
    for name, (classes, argv) in cases.items():
        first = [from_args(c, parse(name, *argv)) for c in classes]
        line = command_line(name, *first)
        assert [from_args(c, parse(*shlex.split(line)[3:])) for c in classes] == first, line
    assert "--corpus a.tsv b.txt" in line


def test_the_dataclass_checks_the_parsed_values():
    @dataclass
    class Opts:
        n: int = field(default=1, metadata={"help": "a count"})

        def __post_init__(self):
            if self.n < 1:
                raise ValueError("n: at least 1")

    p = argparse.ArgumentParser()
    add_options(p, Opts)
    with pytest.raises(ValueError, match="n: at least 1"):
        from_args(Opts, p.parse_args(["--n", "0"]))
