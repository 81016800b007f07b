"""Options written once (used by `fastbert/commands/`): a command's options are the fields of a dataclass, each with its help
in `metadata`, and the command line follows from them.

    @dataclass
    class ExportOptions:
        model: str = field(metadata={"help": "a saved model directory"})        # required: no default
        out: str | None = field(default=None, metadata={"help": "default: MODEL/onnx"})
        fusions: bool = field(default=False, metadata={"help": "apply the BERT fusions"})

    def register(subparsers):
        add_command(subparsers, "export", run, ExportOptions, help="write the model as ONNX")

    def run(opts: ExportOptions) -> int: ...

`--model` is required, `--out` optional, `--fusions` a switch. The field's type decides the rest:
`bool` with default False is a switch `--name`; with default True it is `--no-name` (or the
flag named in metadata) and stores False; `list[T]` is one comma-separated value
("--speeds 0,0.1,0.5"); `T | None` is an optional T. Metadata keys besides `help`:
`flag` (the option string), `group` (a mutually exclusive group; `group_required` on one
field makes the group required), `positional`, and any `add_argument` keyword (`choices`,
`action`...), which is passed through.

Why not `transformers.HfArgumentParser`: it accepts subparsers (`parser_class=HfArgumentParser`,
then `add_parser(name, dataclass_types=...)`), but it spells lists as `--speeds 0 0.5`, negated
switches as `--no_calibrated`, and has no positional or mutually exclusive options, so the
documented command lines (`--speeds 0,0.5`, `--no-calibration`) would change.
"""
from __future__ import annotations

import argparse
import dataclasses
import shlex
import types
import typing
from dataclasses import dataclass, field  # noqa: F401 (the examples use them)
from typing import Callable

_OWN_KEYS = ("flag", "group", "group_required", "positional")


def _unwrap(tp) -> tuple[type, bool]:
    """(the type an option parses to, whether it is a list); `T | None` -> T."""
    args = [a for a in typing.get_args(tp) if a is not type(None)]
    if typing.get_origin(tp) in (typing.Union, types.UnionType) and len(args) == 1:
        tp = args[0]
    if typing.get_origin(tp) is list:
        return typing.get_args(tp)[0], True
    return tp, False


def _comma_list(item: type) -> Callable[[str], list]:
    def parse(text: str) -> list:
        return [item(x) for x in text.split(",") if x.strip()]
    parse.__name__ = f"comma-separated {item.__name__}"  # argparse names the type in its errors
    return parse


def flag_of(f: dataclasses.Field) -> str:
    """The option string of a field: `--name-with-dashes`, `--no-name` for a switch that is on
    by default, or the metadata's `flag`."""
    if "flag" in f.metadata:
        return f.metadata["flag"]
    name = f.name.replace("_", "-")
    return f"--no-{name}" if f.default is True else f"--{name}"


def _text(value) -> str:
    """A value as the command line spells it: floats short, lists comma-separated."""
    if isinstance(value, list):
        return ",".join(_text(v) for v in value)
    return f"{value:g}" if isinstance(value, float) else str(value)


def _default(f: dataclasses.Field):
    if f.default is not dataclasses.MISSING:
        return f.default
    return f.default_factory() if f.default_factory is not dataclasses.MISSING else dataclasses.MISSING


def add_options(parser: argparse.ArgumentParser, cls: type) -> None:
    """Add one option per init field of the dataclass `cls` (see the module docstring)."""
    hints = typing.get_type_hints(cls)
    groups: dict[str, argparse._MutuallyExclusiveGroup] = {}
    for f in dataclasses.fields(cls):
        if not f.init:
            continue
        meta = dict(f.metadata)
        kwargs = {k: v for k, v in meta.items() if k not in _OWN_KEYS}
        default = _default(f)
        tp, is_list = _unwrap(hints[f.name])
        if tp is bool and "action" not in kwargs:
            kwargs["action"] = "store_false" if default is True else "store_true"
        elif "action" not in kwargs:
            kwargs["type"] = _comma_list(tp) if is_list else tp
        if default is dataclasses.MISSING:
            kwargs["required"] = True
        else:
            kwargs["default"] = default
            if default is not None and not isinstance(default, bool) and "help" in kwargs:
                kwargs["help"] += f" (default: {_text(default) or chr(39) * 2})"
        target = parser
        if "group" in meta:
            group = groups.get(meta["group"])
            if group is None:
                required = any(g.metadata.get("group") == meta["group"] and g.metadata.get("group_required")
                               for g in dataclasses.fields(cls))
                group = groups[meta["group"]] = parser.add_mutually_exclusive_group(required=required)
            target = group
        if meta.get("positional"):
            kwargs.pop("required", None)
            target.add_argument(f.name, nargs="?" if default is not dataclasses.MISSING else None, **kwargs)
        else:
            target.add_argument(flag_of(f), dest=f.name, **kwargs)


def from_args(cls: type, args: argparse.Namespace):
    """The dataclass `cls` built from parsed options (its `__post_init__` checks them)."""
    return cls(**{f.name: getattr(args, f.name) for f in dataclasses.fields(cls) if f.init})


def add_command(subparsers, name: str, run: Callable, *classes: type, help: str) -> argparse.ArgumentParser:
    """A subcommand whose options are the fields of `classes`; `run(*instances)` runs it.

    >>> @dataclass
    ... class Cols:
    ...     text_columns: list[str] | None = field(default=None, metadata={"help": "names"})
    >>> p = argparse.ArgumentParser(); sub = p.add_subparsers()
    >>> _ = add_command(sub, "cols", lambda c: c, Cols, help="demo")
    >>> a = p.parse_args(["cols", "--text-columns", "a,b"]); a.func(a)
    Cols(text_columns=['a', 'b'])
    """
    p = subparsers.add_parser(name, help=help, description=help)
    for cls in classes:
        add_options(p, cls)
    p.set_defaults(func=lambda args: run(*(from_args(c, args) for c in classes)))
    return p


def command_line(name: str, *options) -> str:
    """The `python -m fastbert NAME ...` line that repeats a run, every option spelled out.

    >>> @dataclass
    ... class Cols:
    ...     text_columns: list[str] | None = field(default=None, metadata={"help": "names"})
    ...     fast: bool = field(default=False, metadata={"help": "a switch"})
    >>> command_line("cols", Cols(["a", "b"], True))
    'python -m fastbert cols --text-columns a,b --fast'
    """
    parts = ["python", "-m", "fastbert", name]
    for opts in options:
        for f in dataclasses.fields(opts):
            value = getattr(opts, f.name)
            if isinstance(value, bool):
                parts += [flag_of(f)] if value != _default(f) and f.init else []
            elif not f.init or (value is None and _default(f) is None):
                continue
            elif value is None:  # None where the default is not: spelled 'none' (the field reads it so)
                parts += [flag_of(f), "none"]
            elif f.metadata.get("action") == "append":
                for v in value:
                    parts += [flag_of(f), str(v)]
            elif f.metadata.get("action") == "extend":  # --flag a b c (nothing for an empty list)
                parts += [flag_of(f), *map(_text, value)] if value else []
            else:
                parts += [_text(value)] if f.metadata.get("positional") else [flag_of(f), _text(value)]
    return shlex.join(parts)


def option(default=dataclasses.MISSING, help: str = "", **metadata) -> dataclasses.Field:
    """A field that is an option: `lr: float = option(5e-5, "learning rate")` (no default: required)."""
    if isinstance(default, (list, dict)):
        return field(default_factory=lambda: type(default)(default), metadata={"help": help, **metadata})
    return field(default=default, metadata={"help": help, **metadata})
