"""Options shared by several commands: which columns of a data file hold the text and the label."""
from __future__ import annotations

import argparse


def data_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("--text-columns", default=None, help="comma-separated names or 0-based indices")
    p.add_argument("--label-column", default=None, help="name or 0-based index")


def columns(args):
    cols = args.text_columns.split(",") if args.text_columns else None
    return dict(text_columns=cols, label_column=args.label_column)


def add_options(subparsers, name: str, options, help: str, func) -> argparse.ArgumentParser:
    """Add the subcommand `name` whose options are the fields of the dataclass `options` (help
    and choices in each field's metadata), as `transformers.HfArgumentParser` writes them: an
    option is written once, as a field. `func(options_instance) -> int` runs the command."""
    from transformers import HfArgumentParser

    fields_parser = HfArgumentParser(options, add_help=False)
    p = subparsers.add_parser(name, parents=[fields_parser], help=help, description=help)
    p.set_defaults(func=lambda args: func(parse_options(args, options)))
    return p


def parse_options(args: argparse.Namespace, options):
    """The `options` dataclass from parsed arguments."""
    import dataclasses

    return options(**{f.name: getattr(args, f.name) for f in dataclasses.fields(options) if f.init})


def option(default=None, help: str = "", **metadata):
    """A dataclass field that is a command-line option: `lr: float = option(5e-5, "learning rate")`."""
    import dataclasses

    if isinstance(default, (list, dict)):
        return dataclasses.field(default_factory=lambda: type(default)(default), metadata={"help": help, **metadata})
    return dataclasses.field(default=default, metadata={"help": help, **metadata})
