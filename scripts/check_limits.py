"""Print library modules over MAX_LINES lines and functions over MAX_FUNC lines (tests excluded).

    python scripts/check_limits.py [--max-lines 350] [--max-func 60] [PATH ...]

Exit status 1 when anything is over, so it can guard CI."""
from __future__ import annotations

import argparse
import ast
import sys
from pathlib import Path

DEFAULT_PATHS = ("fastbert", "demo", "app.py", "benchmarks", "scripts")


def long_functions(path: Path, limit: int) -> list[tuple[str, int]]:
    tree = ast.parse(path.read_text(), str(path))
    return [(f"{path}:{node.lineno} {node.name}", node.end_lineno - node.lineno + 1) for node in ast.walk(tree)
            if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)) and node.end_lineno - node.lineno + 1 > limit]


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("paths", nargs="*", default=list(DEFAULT_PATHS))
    p.add_argument("--max-lines", type=int, default=350, help="per library module (fastbert/, demo/)")
    p.add_argument("--max-func", type=int, default=60)
    args = p.parse_args(argv)
    files = sorted(f for a in args.paths for f in ([Path(a)] if Path(a).is_file() else Path(a).rglob("*.py")))
    over = 0
    for f in files:
        lines = len(f.read_text().splitlines())
        if lines > args.max_lines and f.parts[0] in ("fastbert", "demo"):
            print(f"module   {lines:4d} lines  {f}")
            over += 1
        for name, n in long_functions(f, args.max_func):
            print(f"function {n:4d} lines  {name}")
            over += 1
    return 1 if over else 0


if __name__ == "__main__":
    sys.exit(main())
