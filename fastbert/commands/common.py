"""What several commands share: the option mechanism (`fastbert.options`: a command's options
are the fields of dataclasses; see its docstring for an example) and `DataColumns`, which columns
of a data file hold the text and the label."""
from __future__ import annotations

import argparse
from dataclasses import dataclass, field

from ..options import add_command, add_options, command_line, from_args

__all__ = ["DataColumns", "add_command", "add_options", "columns", "command_line", "data_args", "from_args"]


@dataclass
class DataColumns:
    """Which columns of a data file hold the text and the label."""

    text_columns: list[str] | None = field(default=None, metadata={"help": "comma-separated names or 0-based indices"})
    label_column: str | None = field(default=None, metadata={"help": "name or 0-based index"})

    def kwargs(self) -> dict:
        """Keyword arguments of `fastbert.data.load_dataset`."""
        return dict(text_columns=self.text_columns, label_column=self.label_column)


def data_args(p: argparse.ArgumentParser) -> None:
    """`--text-columns` and `--label-column` (for commands not yet written as a dataclass)."""
    add_options(p, DataColumns)


def columns(args) -> dict:
    return from_args(DataColumns, args).kwargs()
