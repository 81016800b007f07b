"""The package's layers, read from its source: the core (`fastbert/`) imports neither the tools
nor the commands nor training code; the tools import no command; no library module imports
gradio, plotly or kaleido at module level (figures are drawn inside the functions that draw them)."""
import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
PACKAGE = ROOT / "fastbert"
ENTRY = {"cli", "__main__"}  # the command-line entry points sit above everything
# Training code, moving to fastbert/training/ (a parallel change); until then it is neither core nor tools.
TRAINING = {"training", "distill_cli", "distill", "distill_study", "losses", "students", "pretrain"}
UI = ("gradio", "plotly", "kaleido")


def _module(path: Path) -> str:
    return ".".join(path.relative_to(ROOT).with_suffix("").parts)


def _imports(path: Path, top_level_only: bool = False) -> set[str]:
    return _imports_of(path.read_text(), _module(path), top_level_only)


def _imports_of(source: str, module: str, top_level_only: bool = False) -> set[str]:
    """Absolute names of the modules `source` (the module `module`) imports, relative imports
    resolved; with top_level_only, only the imports run when the module is imported."""
    tree = ast.parse(source)
    package = module.rsplit(".", 1)[0]
    nodes = tree.body if top_level_only else ast.walk(tree)
    names = set()
    for node in nodes:
        if isinstance(node, ast.Import):
            names |= {a.name for a in node.names}
        elif isinstance(node, ast.ImportFrom):
            base = package.rsplit(".", node.level - 1)[0] if node.level else ""
            target = ".".join(p for p in (base, node.module) if p)
            names |= {target} | {f"{target}.{a.name}" for a in node.names}
    return names


def _layer(name: str) -> str:
    parts = name.split(".")
    if parts[0] != "fastbert" or len(parts) == 1:
        return "outside"
    if parts[1] in ("tools", "commands", "training"):
        return parts[1]
    return "entry" if parts[1] in ENTRY else "training" if parts[1] in TRAINING else "core"


def test_arrows_point_one_way():
    allowed = {"core": {"core", "outside"}, "tools": {"core", "tools", "outside"}}
    for path in PACKAGE.rglob("*.py"):
        here = _layer(_module(path))
        if here in allowed:
            wrong = {n for n in _imports(path) if _layer(n) not in allowed[here]}
            assert not wrong, f"{path.relative_to(ROOT)} ({here}) imports {sorted(wrong)}"


def test_no_ui_or_plotting_package_at_module_level():
    for path in PACKAGE.rglob("*.py"):
        ui = {n for n in _imports(path, top_level_only=True) if n.split(".")[0] in UI}
        assert not ui, f"{path.relative_to(ROOT)} imports {sorted(ui)} at module level"


def test_the_checks_see_a_wrong_arrow_and_a_module_level_plot_import():
    names = _imports_of("import plotly.graph_objects as go\nfrom .tools.bench import run_bench\n", "fastbert.model")
    assert {"fastbert.tools.bench", "plotly.graph_objects"} <= names
    assert "fastbert.data" in _imports_of("from ..data import load_dataset\n", "fastbert.tools.bench")
    assert "fastbert.commands" in _imports_of("def f():\n    from .commands import main\n", "fastbert.model")
    assert _imports_of("def f():\n    import plotly\n", "fastbert.x", top_level_only=True) == set()
    assert [_layer(n) for n in ("fastbert.tools.bench", "fastbert.model", "fastbert.distill_cli", "torch")] == [
        "tools", "core", "training", "outside"]
