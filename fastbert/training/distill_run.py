"""One student distillation run from its options (`DistillOptions`): load the frozen teacher and
its cached outputs, build the config, train, score and save."""
from __future__ import annotations

import json
import shlex
import sys
import time
from dataclasses import asdict, dataclass
from pathlib import Path

from ..data import TextDataset, load_dataset
from .distill_options import DistillOptions
from .kd import DistillWeights
from .student import DistillConfig, TeacherOutputs, cache_path, teacher_outputs, train_and_validation
from .student_scores import distil_one, save_bert_student, teacher_scores


@dataclass
class Loaded:
    """The frozen teacher and its cached outputs on train, dev and (optionally) a tuning slice."""

    teacher: object
    train: TeacherOutputs
    dev: TeacherOutputs
    dev_data: TextDataset
    note: str
    val: TeacherOutputs | None = None


def load_distillation(opts: DistillOptions) -> Loaded:
    """The frozen teacher and its outputs on the training subset, dev and (for the study) the
    tuning slice, read from / written to the cache."""
    import torch

    from ..model import FastBert

    torch.set_num_threads(opts.threads)
    teacher = FastBert.from_pretrained(opts.teacher).eval()
    for p in teacher.parameters():
        p.requires_grad_(False)
    train_data, val_data = train_and_validation(load_dataset(opts.train), opts.train_size,
                                                opts.val_size if opts.report else 0, opts.subset_seed)
    dev_data = load_dataset(opts.dev)
    t0 = time.perf_counter()
    outputs = [None if d is None else teacher_outputs(teacher, d, cache_path(opts.cache_dir, opts.teacher, d))
               for d in (train_data, dev_data, val_data)]
    print(f"teacher outputs cached: {len(train_data)} train + {len(dev_data)} dev rows "
          f"in {time.perf_counter() - t0:.0f}s", file=sys.stderr, flush=True)
    note = (f"train: {len(train_data)} rows of {opts.train} (seeded subset, seed {opts.subset_seed}), "
            f"{opts.epochs:g} epoch; dev: {opts.dev} ({len(dev_data)} rows)")
    if val_data is not None:
        note += f"; tuning on {len(val_data)} other rows of {opts.train} (held out from training)"
    return Loaded(teacher, outputs[0], outputs[1], dev_data, note, outputs[2])


def distill_config(opts: DistillOptions, student: str, method: str, seed: int, space: str | None = None,
                   gamma: float | None = None, temperature: float | None = None,
                   tau: float | None = None) -> DistillConfig:
    """The config of one run of the options (the study overrides the student, method, seed and weights)."""
    return DistillConfig(
        student=student, method=method, space=space or opts.space, layers=[int(x) for x in opts.layers.split(",")],
        num_layers=opts.num_layers, width=opts.width, embeddings=opts.embeddings,
        weights=DistillWeights(opts.alpha, opts.beta, opts.gamma if gamma is None else gamma,
                               opts.temperature if temperature is None else temperature,
                               opts.lambda_temperature if tau is None else tau),
        epochs=opts.epochs, batch_size=opts.batch_size, lr=opts.lr, seed=seed,
        max_steps=opts.max_steps, progress=not opts.quiet)


def distill_and_save(opts: DistillOptions) -> dict:
    """Distil, score and save one student into `opts.out`; returns its dev scores."""
    if not opts.out:
        raise ValueError("--out: where to save the student (or use --report)")
    loaded = load_distillation(opts)
    cfg = distill_config(opts, opts.student, opts.method, opts.seed)
    student, result = distil_one(loaded.teacher, loaded.train, loaded.dev, cfg)
    tscores = teacher_scores(loaded.teacher, loaded.dev)
    out = Path(opts.out)
    record = {"command": "python -m fastbert " + shlex.join(sys.argv[1:]), "teacher": opts.teacher,
              "data": loaded.note, "distill": asdict(cfg), "dev": result.to_dict(), "teacher_dev": tscores}
    if cfg.student == "bert":
        save_bert_student(student, loaded.teacher, out, cfg, result, tscores, loaded.note, record, loaded.dev_data,
                          share_base=not opts.no_share_base, fp16=not opts.fp32)
    else:  # no loader for these yet: keep the scores only
        out.mkdir(parents=True, exist_ok=True)
        (out / "distill_run.json").write_text(json.dumps(record, indent=2) + "\n")
    return {k: v for k, v in result.to_dict().items() if k != "train_log"}
