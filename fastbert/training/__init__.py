"""Training: one loop (`loop.py`) and the stages that run on it.

- `stages.py`: FastBERT's fine-tuning, self-distillation and joint training (`train`);
- `losses.py`: their losses, plain functions of tensors;
- `pretrain.py`: masked-LM pre-training of a backbone;
- `student.py`, `students.py`, `kd.py`: distilling a smaller student (vanilla KD, Universal-KD).
"""
from .loop import LoopConfig, length_grouped_batches, train_loop
from .stages import STAGES, TrainConfig, config_dict, stage_loss, train

__all__ = ["LoopConfig", "STAGES", "TrainConfig", "config_dict", "length_grouped_batches", "stage_loss",
           "train", "train_loop"]
