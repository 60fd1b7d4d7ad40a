"""The package's layout rules, checked on the source: no import cycle between modules (lazy
imports inside functions count too), and no package reaching into another's private
modules or names. The graph is read with `ast`, so nothing is imported to check it."""

from __future__ import annotations

import ast
from pathlib import Path

import mlpnas

PACKAGE = Path(mlpnas.__file__).parent


def _modules(root: Path) -> dict[str, tuple[Path, bool]]:
    out = {}
    for f in root.rglob("*.py"):
        parts = list(f.relative_to(root.parent).with_suffix("").parts)
        is_pkg = parts[-1] == "__init__"
        out[".".join(parts[:-1] if is_pkg else parts)] = (f, is_pkg)
    return out


def import_graph(root: Path = PACKAGE) -> dict[str, dict[str, set[str]]]:
    """module -> {imported module -> names imported from it} (names empty for `import x`).
    Importing `pkg.sub` from outside `pkg` also imports `pkg` (its `__init__` runs first)."""
    mods = _modules(root)
    graph: dict[str, dict[str, set[str]]] = {m: {} for m in mods}
    for mod, (f, is_pkg) in mods.items():
        pkg = mod if is_pkg else mod.rsplit(".", 1)[0]
        for n in ast.walk(ast.parse(f.read_text())):
            if isinstance(n, ast.ImportFrom):
                if n.level:
                    base = pkg.split(".")[: len(pkg.split(".")) - (n.level - 1)]
                    target = ".".join(base + ([n.module] if n.module else []))
                else:
                    target = n.module or ""
                names = [a.name for a in n.names]
                for name in names:  # `from . import sub` imports a module
                    if f"{target}.{name}" in mods and f"{target}.{name}" != mod:
                        graph[mod].setdefault(f"{target}.{name}", set())
                if target in mods and target != mod:
                    graph[mod].setdefault(target, set()).update(
                        x for x in names if f"{target}.{x}" not in mods)
            elif isinstance(n, ast.Import):
                for a in n.names:
                    if a.name in mods and a.name != mod:
                        graph[mod].setdefault(a.name, set())
    for mod, targets in graph.items():  # importing pkg.sub runs pkg/__init__.py first
        for target in list(targets):
            parts = target.split(".")
            for i in range(2, len(parts)):
                parent = ".".join(parts[:i])
                if parent in mods and not (mod + ".").startswith(parent + "."):
                    targets.setdefault(parent, set())
    return graph


def cycles(graph: dict[str, dict[str, set[str]]]) -> list[list[str]]:
    """The strongly connected components of more than one module (Tarjan)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []

    def visit(v: str) -> None:
        index[v] = low[v] = len(index)
        stack.append(v)
        on_stack.add(v)
        for w in graph[v]:
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on_stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            comp = []
            while True:
                w = stack.pop()
                on_stack.discard(w)
                comp.append(w)
                if w == v:
                    break
            if len(comp) > 1:
                found.append(sorted(comp))

    for v in graph:
        if v not in index:
            visit(v)
    return found


def _package_of(module: str) -> str:
    parts = module.split(".")
    return parts[1] if len(parts) > 1 else ""


def private_reaches(graph: dict[str, dict[str, set[str]]]) -> list[str]:
    """`a imports b` where b is another package's private module, or a private name of
    another package."""
    bad = []
    for mod, targets in graph.items():
        for target, names in targets.items():
            if _package_of(target) in ("", _package_of(mod)):
                continue
            private_module = any(p.startswith("_") for p in target.split(".")[2:])
            private_names = sorted(n for n in names if n.startswith("_"))
            if private_module or private_names:
                bad.append(f"{mod} -> {target} {private_names or ''}".strip())
    return sorted(bad)


def test_the_package_has_no_import_cycle():
    assert cycles(import_graph()) == []


def test_no_package_imports_another_packages_private_modules():
    assert private_reaches(import_graph()) == []


def test_the_checks_find_a_cycle_and_a_private_reach(tmp_path):
    """The two checks above can fail: on a made-up package with both faults they report them."""
    root = tmp_path / "pkg"
    (root / "a").mkdir(parents=True)
    (root / "b").mkdir()
    (root / "__init__.py").write_text("")
    (root / "a" / "__init__.py").write_text("from ._x import f\n")
    (root / "a" / "_x.py").write_text("def f():\n    from ..b import g\n    return g\n")
    (root / "b" / "__init__.py").write_text("from ..a._x import f as g\n")
    graph = import_graph(root)
    assert cycles(graph) == [["pkg.a", "pkg.a._x", "pkg.b"]]
    assert private_reaches(graph) == ["pkg.b -> pkg.a._x"]


def test_export_depends_on_models_only():
    """Exported files are read by models; export does not need training or the supernet."""
    graph = import_graph()
    reached = {t for m, ts in graph.items() if _package_of(m) == "export" for t in ts}
    assert {_package_of(t) for t in reached} - {"export", "models", "spec", "errors", "_io"} \
        == set()


# the README's dependency order, bottom first; a package may import its own layer or lower
LAYERS = [{"errors", "_io", "_lazy", "spec", "space", "_options", "_record"}, {"layers"},
          {"mixers"}, {"models"}, {"export"}, {"data"}, {"cost"}, {"train"}, {"supernet"},
          {"score"}, {"search"}, {"rank"}, {"plots"}, {"tasks", "cli", "_sweep"},
          {"api", "__main__"}]


def test_packages_import_only_their_own_layer_or_lower():
    level = {p: i for i, layer in enumerate(LAYERS) for p in layer}
    graph = import_graph()
    upward = sorted({f"{_package_of(m)} -> {_package_of(t)}" for m, ts in graph.items()
                     for t in ts if _package_of(m) and _package_of(t)
                     and level[_package_of(t)] > level[_package_of(m)]})
    assert upward == []
    assert {_package_of(m) for m in graph} - {""} <= set(level)  # every package has a layer


def test_cost_names_are_spelled_in_the_cost_table():
    """Which costs exist is said once (`mlpnas/cost/_names.py`); other modules read the
    table. The parameter count's name may appear besides only where a file format names it
    without importing the table (the model card of `export`, which depends on models only)
    and as the column the parameters baseline score reads (`score/_registry.py`)."""
    spelled = sorted(str(f.relative_to(PACKAGE)) for f in PACKAGE.rglob("*.py")
                     if '"params_m"' in f.read_text())
    assert spelled == ["cost/_names.py", "export/_export.py", "score/_registry.py"]


def _files_spelling(*needles: str) -> list[str]:
    return sorted(str(f.relative_to(PACKAGE)) for f in PACKAGE.rglob("*.py")
                  if any(n in f.read_text() for n in needles))


def test_the_run_folder_files_are_named_in_the_run_folder_module():
    """A search run folder's files are named once (`search/_runfolder.py`); the search
    report, plots, export, rank, tracking and the API read the names from there."""
    assert _files_spelling('"trials.csv"', '"pareto.csv"', '"run.json"') == [
        "search/_runfolder.py"]


def test_settings_are_objects_built_once():
    """No module reads a training recipe as a dict (the recipes' own modules build it from
    the configuration), and torch's thread count is set in two places only: once per task
    (`tasks/_common.hardware`) and by a latency measurement for its own setting."""
    assert _files_spelling("recipe[", "recipe.get(") == []
    assert _files_spelling("set_num_threads(") == ["cost/_latency.py", "tasks/_common.py"]
    # the old per-call thread arguments are gone from the trainers
    import inspect

    from mlpnas.supernet import train_metakernel, train_supernet
    from mlpnas.train import retrain, setup_device

    for fn in (train_supernet, train_metakernel, retrain, setup_device):
        assert "threads" not in inspect.signature(fn).parameters, fn.__name__
