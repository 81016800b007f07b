"""`python -m fastbert flops`: FLOPs of a layer, a classifier and the full model."""
from __future__ import annotations

import json


def cmd_flops(args) -> int:
    from ..flops import bert_base_report

    if args.bert_base:
        report = bert_base_report(args.seq_len)
    else:
        from ..model import FastBert

        model = FastBert.from_pretrained(args.model)
        n = args.seq_len
        report = {"model": args.model, "seq_len": n, "layer_flops": model.cost.layer(n),
                  "classifier_flops": model.cost.classifier(n), "full_flops": model.cost.full_flops(n),
                  "num_layers": model.num_layers}
    if args.json:
        print(json.dumps(report))
    else:
        for k, v in report.items():
            print(f"{k:>26}: {v:,.0f}" if isinstance(v, (int, float)) and abs(v) > 1 else f"{k:>26}: {v}")
    return 0


def register(subparsers) -> None:
    p = subparsers.add_parser("flops", help="FLOPs of a layer, a classifier and the full model")
    g = p.add_mutually_exclusive_group(required=True)
    g.add_argument("--bert-base", action="store_true", help="a BERT-base-sized model")
    g.add_argument("--model", help="a saved FastBERT model")
    p.add_argument("--seq-len", type=int, default=128)
    p.add_argument("--json", action="store_true")
    p.set_defaults(func=cmd_flops)
