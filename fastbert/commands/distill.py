"""`python -m fastbert distill`: train a student from a FastBERT teacher with labels only,
vanilla KD or Universal-KD (IL, CG, CA), or run the Universal-KD study (`--report`); the
options are the fields of `fastbert.training.distill_options.DistillOptions`."""
from __future__ import annotations

import json

from .common import add_command


def cmd_distill(opts) -> int:
    if opts.report:
        from ..training.distill_study import run_study

        return run_study(opts)
    from ..training.distill_run import distill_and_save

    print(json.dumps(distill_and_save(opts)))
    print(f"saved to {opts.out}")
    return 0


def register(subparsers) -> None:
    from ..training.distill_options import DistillOptions

    add_command(subparsers, "distill", cmd_distill, DistillOptions, help="distil a student (BERT-style, BiLSTM, "
                "gated CNN) from a FastBERT teacher: labels only, vanilla KD or Universal-KD")
