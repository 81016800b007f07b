"""Options shared by several commands: which columns of a data file hold the text and the label."""
from __future__ import annotations

import argparse


def data_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("--text-columns", default=None, help="comma-separated names or 0-based indices")
    p.add_argument("--label-column", default=None, help="name or 0-based index")


def columns(args):
    cols = args.text_columns.split(",") if args.text_columns else None
    return dict(text_columns=cols, label_column=args.label_column)
