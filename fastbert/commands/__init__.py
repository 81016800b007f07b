"""`python -m fastbert COMMAND`: one module per command in this package.

Each module defines `register(subparsers)`, which adds its subcommand and sets `func`, the
function that runs it. Modules are found here automatically; `LEGACY` names the library
modules that still register a command themselves, until their command moves into this package.
"""
from __future__ import annotations

import argparse
import importlib
import pkgutil
import sys

FIRST = ("train", "eval", "export", "flops")  # the order `--help` lists them in; the rest follow by name
LEGACY = ()  # every command has its module here now


def _command_modules() -> list:
    names = sorted((m.name for m in pkgutil.iter_modules(__path__) if m.name != "common"),
                   key=lambda n: (FIRST.index(n) if n in FIRST else len(FIRST), n))
    modules = [importlib.import_module(f"{__name__}.{n}") for n in names]
    for name in LEGACY:
        try:
            modules.append(importlib.import_module(f"fastbert.{name}"))
        except ModuleNotFoundError as err:
            if err.name != f"fastbert.{name}":
                raise
    return [m for m in modules if hasattr(m, "register")]


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m fastbert",
                                     description="FastBERT: train, evaluate, export and measure early-exit models.")
    sub = parser.add_subparsers(dest="command", required=True)
    for module in _command_modules():
        module.register(sub)
    return parser


def main(argv=None) -> int:
    args = build_parser().parse_args(argv)
    from ..checkpoint import CheckpointError
    from ..data import DataError

    try:
        return args.func(args)
    except (DataError, CheckpointError, FileNotFoundError, ValueError) as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
