"""Kept for `from fastbert.cli import main` and the `fastbert-cli` script: the commands live in
`fastbert/commands/`, one module each."""
from .commands import build_parser, main

__all__ = ["build_parser", "main"]
