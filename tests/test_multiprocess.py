"""`accelerate launch` with two CPU processes takes the same optimisation steps as one process
with the same global batch: each process trains on its half of every batch.

With accelerate 1.15, `accelerate launch --cpu --num_processes 2` starts ONE process unless an
MPI host file is given; two CPU processes come from torch's launcher with Accelerate's CPU flag:
`ACCELERATE_USE_CPU=1 accelerate launch --multi_gpu --num_processes 2 -m fastbert train ...`.
"""
import json
import os
import socket
import subprocess
import sys
from pathlib import Path

import torch
from safetensors.torch import load_file

from fastbert.cli import main
from tiny import WORDS, tiny_model

ROOT = Path(__file__).resolve().parents[1]


def _setup(tmp_path: Path) -> list[str]:
    model = tiny_model(tmp_path / "tok", labels=("0", "1"))
    for name in ("hidden_dropout_prob", "attention_probs_dropout_prob"):
        model.config.backbone_config[name] = 0.0  # dropout masks depend on the batch's split
    model.save_pretrained(tmp_path / "init")
    g = torch.Generator().manual_seed(0)
    rows = [f"{k % 2}\t" + " ".join(WORDS[int(i)] for i in torch.randint(len(WORDS), (2 + k % 5,), generator=g))
            for k in range(45)]
    (tmp_path / "train.tsv").write_text("label\ttext\n" + "\n".join(rows) + "\n")
    # 6 steps per stage: 5 batches of 8 rows and one of 5 (split 3 + 2: the weighting matters).
    return ["train", "--init", str(tmp_path / "init"), "--train", str(tmp_path / "train.tsv"),
            "--stages", "finetune,distill", "--epochs", "1", "--distill-epochs", "1", "--batch-size", "8",
            "--lr", "1e-2", "--distill-lr", "1e-2", "--quiet", "--threads", "1"]


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _weights(directory: Path) -> dict:
    return load_file(str(directory / "model.safetensors"))


def _gap(a: dict, b: dict, scale: float) -> float:
    """The largest weight difference, relative to `scale`. An attention key bias adds the same
    score to every key of a query, so its true gradient is 0 and Adam turns the rounding noise
    left in it into steps that no two summation orders share: those are left out."""
    return max((a[k] - b[k]).abs().max().item() for k in a if not k.endswith("attention.self.key.bias")) / scale


def test_two_processes_train_like_one_with_the_same_global_batch(tmp_path):
    args = _setup(tmp_path)
    assert main(args + ["--out", str(tmp_path / "one")]) == 0
    # What two processes that each took whole batches of 8 would do: batches of 16.
    assert main(args + ["--out", str(tmp_path / "one-16"), "--batch-size", "16"]) == 0
    env = {**os.environ, "ACCELERATE_USE_CPU": "1", "OMP_NUM_THREADS": "1", "PYTHONPATH": str(ROOT),
           "HF_HUB_OFFLINE": "1"}
    launch = [sys.executable, "-m", "accelerate.commands.launch", "--multi_gpu", "--num_processes", "2",
              "--num_machines", "1", "--mixed_precision", "no", "--dynamo_backend", "no",
              "--main_process_port", str(_free_port()), "-m", "fastbert"]
    done = subprocess.run(launch + args + ["--out", str(tmp_path / "two")], env=env, capture_output=True,
                          text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-3000:]
    assert json.loads((tmp_path / "two" / "training.json").read_text())["processes"] == 2
    one, two, init = _weights(tmp_path / "one"), _weights(tmp_path / "two"), _weights(tmp_path / "init")
    moved = _gap(one, init, 1.0)
    assert moved > 1e-2  # the runs trained
    assert _gap(two, one, moved) < 1e-4
    assert _gap(_weights(tmp_path / "one-16"), one, moved) > 1e-2  # the check tells batch sizes apart
