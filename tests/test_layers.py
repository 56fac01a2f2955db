"""The import rules that keep the layers visible, checked on the source (every import, lazy ones included).

- The engine, the data layer and ``trainables/`` import no concrete task: they look tasks up by
  ``task.kind`` in the registry (``campaign.tasks.base``).
- Decision logic (hard facets, gates, seeding, search spaces, state, augmentation) imports neither
  Ray nor torch.
- No import loops between the project's modules.
"""
from __future__ import annotations

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
PACKAGES = ("campaign", "trainables")

# The flagship task: its plug-in and the modules only it uses.
TASK_MODULES = ("campaign.tasks.hidden_params", "campaign.tasks.hidden_params.schema", "campaign.tasks.hidden_params.metrics", "campaign.tasks.hidden_params.baselines",
                "campaign.tasks.hidden_params.datagen")
# Tools that measure on the flagship's demo data by design.
FLAGSHIP_TOOLS = {"campaign.bench.trainer", "campaign.bench.qlora", "campaign.bench.gpu_check"}
# Pure decision logic: plain records in, plain records out.
DECISIONS = ("campaign.decide.hard_facets", "campaign.decide.gates", "campaign.decide.seeding", "campaign.decide.state", "campaign.data.augment",
             "campaign.data.cycle_data", "campaign.decide.precision", "campaign.tasks.base", "campaign.tasks.columns",
             "campaign.tasks.rows", "campaign.decide.preflight", "campaign.decide.paired", "campaign.decide.effects")


def _module_name(path: Path) -> str:
    parts = list(path.relative_to(ROOT).with_suffix("").parts)
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _modules() -> dict[str, Path]:
    return {_module_name(p): p for pkg in PACKAGES for p in (ROOT / pkg).rglob("*.py")}


def _imports(path: Path, name: str) -> set[str]:
    """Every module ``path`` imports, at any depth of its code (``from x import y`` counts x and x.y)."""
    out = set()
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            out.update(a.name for a in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                base = ".".join(package.split(".")[: len(package.split(".")) - node.level + 1] + ([base] if base else []))
            out.add(base)
            out.update(f"{base}.{a.name}" for a in node.names)
    return out


def _is_task(module: str) -> bool:
    return any(module == t or module.startswith(t + ".") for t in TASK_MODULES)


def test_the_engine_data_and_workers_import_no_concrete_task():
    offenders = {}
    for name, path in _modules().items():
        if _is_task(name) or name in FLAGSHIP_TOOLS:
            continue
        bad = sorted(m for m in _imports(path, name) if _is_task(m))
        if bad:
            offenders[name] = bad
    assert offenders == {}, f"import a task through campaign.tasks.get_task instead: {offenders}"


def test_decision_logic_imports_neither_ray_nor_torch():
    modules = _modules()
    offenders = {}
    for name in DECISIONS:
        bad = sorted(m for m in _imports(modules[name], name) if m.split(".")[0] in ("ray", "torch"))
        if bad:
            offenders[name] = bad
    assert offenders == {}


def test_no_import_loops():
    modules = _modules()
    graph = {name: {m for m in _imports(path, name) if m in modules and m != name} for name, path in modules.items()}
    # a package's __init__ re-exporting its own submodules is not a loop through the package
    graph = {n: {m for m in deps if not n.startswith(m + ".")} for n, deps in graph.items()}
    loops, state = [], {}

    def visit(node, stack):
        state[node] = "open"
        for dep in sorted(graph[node]):
            if state.get(dep) == "open":
                loops.append(stack[stack.index(dep):] + [dep])
            elif dep not in state:
                visit(dep, stack + [dep])
        state[node] = "done"

    for node in sorted(graph):
        if node not in state:
            visit(node, [node])
    assert loops == []


def test_the_rules_see_real_imports():
    """The checker itself: it finds a lazy import inside a function, and a relative import."""
    modules = _modules()
    assert "campaign.tasks.hidden_params" in _imports(modules["campaign.tasks.base"], "campaign.tasks.base") or \
        "campaign.tasks.base" in _imports(modules["campaign.tasks.hidden_params"], "campaign.tasks.hidden_params")
    assert "campaign.tasks.hidden_params.schema" in _imports(modules["campaign.tasks.hidden_params"], "campaign.tasks.hidden_params")
    assert _is_task("campaign.tasks.hidden_params.datagen.generator") and not _is_task("campaign.data.io")


# Bottom to top; a layer imports only its own and lower layers (docs/ARCHITECTURE.md).
LAYERS = ("campaign.core", "campaign.tasks", "campaign.config", "campaign.data", "campaign.decide",
          "campaign.tracking", "campaign.reporting", "trainables", "campaign.engine", "campaign.cli")


def _layer(module: str) -> int | None:
    return next((i for i, p in enumerate(LAYERS) if module == p or module.startswith(p + ".")), None)


def test_each_layer_imports_only_the_layers_below_it():
    upward = {}
    for name, path in _modules().items():
        mine = _layer(name)
        if mine is None:
            continue
        bad = sorted({m for m in _imports(path, name) if (_layer(m) or -1) > mine})
        if bad:
            upward[name] = bad
    assert upward == {}
