"""The tree shows the data flow, and imports follow it: a lower layer never imports a higher one,
and no two modules import each other, even through others. Lazy imports inside functions count.

A package's `__init__` importing its own modules (a folder registry filling itself) is the one
allowed way down into a package; its modules may import the package back for the registry.
"""
import ast
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[1] / "medmllm"

# Each room (a top-level module or subpackage of medmllm) and its layer; a module may import its
# own layer or lower ones. Add a new room here when you add one: the test names any that is missing.
LAYERS = [
    ("errors", "version", "registry", "checks", "chat", "files", "answers", "threads"),  # leaves: vocabulary, helpers
    ("data", "synth", "deid", "chexpert", "rewards", "reasoning"),  # files and text -> samples, scores
    ("encoders", "connectors", "config"),                            # modality -> features -> tokens; run config
    ("llm",),                                                        # the decoder
    ("model", "vlm"),                                                # MedMLLM: the splice; Hugging Face VLMs
    ("lora", "checkpoint", "build", "decode", "engine", "export"),          # build, load, adapt, generate, export
    ("recipes",),                                                    # training stages
    ("eval",),                                                       # benchmarks, metrics, backends
    ("demo", "serve", "cli", ""),                                    # what users run; "" is the package root
]
RANK = {room: k for k, rooms in enumerate(LAYERS) for room in rooms}


def _modules() -> dict[str, Path]:
    out = {}
    for path in sorted(PACKAGE.rglob("*.py")):
        parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
        out[".".join(parts[:-1] if parts[-1] == "__init__" else parts)] = path
    return out


MODULES = _modules()


def _in_type_checking(node: ast.AST, parents: dict) -> bool:
    while node in parents:
        node = parents[node]
        if isinstance(node, ast.If) and "TYPE_CHECKING" in ast.unparse(node.test):
            return True
    return False


def imports(module: str) -> set[str]:
    """The medmllm modules `module` imports (absolute or relative, at any depth, not TYPE_CHECKING)."""
    path = MODULES[module]
    package = module if path.name == "__init__.py" else module.rpartition(".")[0]
    tree = ast.parse(path.read_text())
    parents = {child: node for node in ast.walk(tree) for child in ast.iter_child_nodes(node)}
    out = set()
    for node in ast.walk(tree):
        if _in_type_checking(node, parents):
            continue
        if isinstance(node, ast.Import):
            out |= {a.name for a in node.names if a.name.split(".")[0] == "medmllm"}
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")[: len(package.split(".")) - node.level + 1]
                target = ".".join(base + ([node.module] if node.module else []))
            else:
                target = node.module or ""
            if target.split(".")[0] != "medmllm":
                continue
            for alias in node.names:  # `from . import rewards` imports the module medmllm.rewards
                sub = f"{target}.{alias.name}"
                out.add(sub if sub in MODULES else target)
    return {m for m in out if m != module}


def room(module: str) -> str:
    parts = module.split(".")
    return parts[1] if len(parts) > 1 else ""


def test_every_room_has_a_layer():
    missing = sorted({room(m) for m in MODULES} - set(RANK))
    assert not missing, f"give these rooms a layer in tests/test_layers.py: {missing}"


def test_no_import_runs_up_the_tree():
    upward = [f"{m} ({room(m) or 'medmllm'}, layer {RANK[room(m)]}) imports {dep} ({room(dep) or 'medmllm'}, layer "
              f"{RANK[room(dep)]})" for m in MODULES for dep in sorted(imports(m))
              if room(dep) in RANK and room(m) in RANK and RANK[room(dep)] > RANK[room(m)]]
    assert not upward, "\n".join(upward)


def _graph() -> dict[str, set[str]]:
    """Module -> imported modules, without a package's `__init__` importing its own children."""
    return {m: {d for d in imports(m) if not (MODULES[m].name == "__init__.py" and d.startswith(m + "."))}
            for m in MODULES}


def find_cycle(graph: dict[str, set[str]]) -> list[str] | None:
    """One import circle as [a, b, ..., a], or None."""
    state: dict[str, int] = {}
    stack: list[str] = []

    def visit(node: str) -> list[str] | None:
        state[node] = 1
        stack.append(node)
        for dep in sorted(graph.get(node, ())):
            if state.get(dep) == 1:
                return stack[stack.index(dep):] + [dep]
            if dep not in state and (found := visit(dep)):
                return found
        stack.pop()
        state[node] = 2
        return None

    for node in sorted(graph):
        if node not in state and (found := visit(node)):
            return found
    return None


def test_no_import_circle():
    cycle = find_cycle(_graph())
    assert cycle is None, " -> ".join(cycle)


@pytest.mark.parametrize("graph,expected", [
    ({"a": {"b"}, "b": {"c"}, "c": set()}, None),
    ({"a": {"b"}, "b": {"c"}, "c": {"a"}}, ["a", "b", "c", "a"]),
])
def test_the_circle_finder_finds_circles(graph, expected):
    assert find_cycle(graph) == expected


def test_the_checks_see_lazy_and_relative_imports():
    assert "medmllm.engine" in imports("medmllm")  # inside `load()`
    assert "medmllm.chat" in imports("medmllm.model")
    assert "medmllm.rewards" in imports("medmllm.recipes.grpo")  # `from .. import rewards`
