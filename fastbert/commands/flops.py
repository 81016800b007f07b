"""`python -m fastbert flops`: FLOPs of a layer, a classifier and the full model."""
from __future__ import annotations

import json
from dataclasses import dataclass, field

from .common import add_command


@dataclass
class FlopsOptions:
    bert_base: bool = field(default=False, metadata={"help": "a BERT-base-sized model", "group": "what",
                                                     "group_required": True})
    model: str | None = field(default=None, metadata={"help": "a saved FastBERT model", "group": "what"})
    seq_len: int = field(default=128, metadata={"help": "tokens per sequence"})
    json: bool = field(default=False, metadata={"help": "print one JSON object"})


def run(opts: FlopsOptions) -> int:
    from ..flops import bert_base_report

    if opts.bert_base:
        report = bert_base_report(opts.seq_len)
    else:
        from ..model import FastBert

        model = FastBert.from_pretrained(opts.model)
        n = opts.seq_len
        report = {"model": opts.model, "seq_len": n, "layer_flops": model.cost.layer(n),
                  "classifier_flops": model.cost.classifier(n), "full_flops": model.cost.full_flops(n),
                  "num_layers": model.num_layers}
    if opts.json:
        print(json.dumps(report))
    else:
        for k, v in report.items():
            print(f"{k:>26}: {v:,.0f}" if isinstance(v, (int, float)) and abs(v) > 1 else f"{k:>26}: {v}")
    return 0


def register(subparsers) -> None:
    add_command(subparsers, "flops", run, FlopsOptions, help="FLOPs of a layer, a classifier and the full model")
