"""Training: one loop and the stages that run on it.

- `loop.py`: the loop (Accelerate, AdamW, warm-up, batches, resume points); knows no model;
- `stages.py`: FastBERT's fine-tuning, self-distillation and joint training (`train`), with
  their losses in `losses.py`;
- `pretrain.py` (+ `mlm.py`): masked-LM pre-training of a backbone;
- `student.py` (+ `kd.py`, `students.py`, `student_scores.py`, `distill_run.py`,
  `distill_study.py`): distilling a smaller student with vanilla KD or Universal-KD.

The names below are imported on first use, so that `fastbert.training.distill_options` (read to
build the command line) does not pull in torch.
"""
from importlib import import_module

_EXPORTS = {"LoopConfig": ".loop", "length_grouped_batches": ".loop", "train_loop": ".loop",
            "STAGES": ".stages", "TrainConfig": ".stages", "config_dict": ".stages", "stage_loss": ".stages",
            "train": ".stages"}
__all__ = list(_EXPORTS)


def __getattr__(name: str):
    if name not in _EXPORTS:
        raise AttributeError(f"module 'fastbert.training' has no attribute {name!r}")
    value = getattr(import_module(_EXPORTS[name], __name__), name)
    globals()[name] = value
    return value
