"""The package's layers (src/): imports go one way, web -> reading -> model/data and training -> model/data,
with no cycle; only the web layer imports gradio; reading a drawing and the model never import numba."""

import ast
import json
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
# What each layer may import from src (besides itself and the base modules src.atomic and src.settings).
MAY_IMPORT = {
    "model": set(),
    "data": set(),
    "training": {"model", "data"},
    "reading": {"model", "data"},
    "web": {"model", "data", "training", "reading"},
}
BASE = {"src", "src.atomic", "src.settings"}


def src_imports() -> dict[str, set[str]]:
    """module -> the src modules it imports, anywhere in its code (inside functions too)."""
    graph = {}
    for path in (ROOT / "src").rglob("*.py"):
        name = ".".join(path.relative_to(ROOT).with_suffix("").parts).removesuffix(".__init__")
        found = set()
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.ImportFrom) and node.module and node.module.startswith("src"):
                found |= {
                    f"{node.module}.{a.name}" if f"{node.module}.{a.name}" in modules() else node.module
                    for a in node.names
                }
            elif isinstance(node, ast.Import):
                found |= {a.name for a in node.names if a.name.startswith("src")}
        graph[name] = found - {name}
    return graph


def modules() -> set[str]:
    return {
        ".".join(p.relative_to(ROOT).with_suffix("").parts).removesuffix(".__init__")
        for p in (ROOT / "src").rglob("*.py")
    }


def layer(module: str) -> str | None:
    parts = module.split(".")
    return parts[1] if len(parts) > 2 or (len(parts) == 2 and parts[1] in MAY_IMPORT) else None


def test_every_module_is_in_a_layer_and_imports_only_the_layers_below():
    graph = src_imports()
    loose = sorted(m for m in graph if layer(m) is None and m not in BASE | {"src.__main__"})
    assert loose == []
    wrong = sorted(
        (m, i)
        for m, imported in graph.items()
        for i in imported
        if layer(m) and i not in BASE and layer(i) != layer(m) and layer(i) not in MAY_IMPORT[layer(m)]
    )
    assert wrong == []
    assert all(not graph[m] - {"src"} for m in ("src.atomic", "src.settings"))


def test_there_is_no_import_cycle():
    graph, done, path = src_imports(), set(), []

    def visit(m):
        assert m not in path, " -> ".join(path[path.index(m) :] + [m])
        if m in done:
            return
        path.append(m)
        for i in graph.get(m, ()):
            visit(i)
        path.pop()
        done.add(m)

    for m in graph:
        visit(m)


def test_only_the_web_layer_imports_gradio():
    importers = set()
    for path in (ROOT / "src").rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text())):
            names = (
                [a.name for a in node.names]
                if isinstance(node, ast.Import)
                else [node.module or ""]
                if isinstance(node, ast.ImportFrom)
                else []
            )
            if any(n == "gradio" or n.startswith("gradio.") for n in names):
                importers.add(path.relative_to(ROOT / "src").parts[0])
    assert importers == {"web"}


NOT_NEEDED = {  # what importing each module must not load
    "src.model.network": {"numba", "gradio", "src.data.strokes", "src.training", "src.reading", "src.web"},
    "src.model.checkpoint": {"numba", "gradio", "src.data.strokes", "src.training", "src.reading", "src.web"},
    "src.reading.inference": {"numba", "gradio", "src.data.strokes", "src.training", "src.web"},
    "src.reading.saliency": {"numba", "gradio", "src.training", "src.web"},
    "src.training.loop": {"gradio", "src.reading", "src.web"},
}


# One interpreter loads what every module may load (torch, numpy, PIL: seconds), then forks a child for each
# module, which imports it and prints {module: sorted(sys.modules)} as JSON.
FORK_EACH = """
import json, os, sys
import numpy, PIL.Image, torch
for module in sys.argv[1:]:
    if os.fork() == 0:
        __import__(module)
        print(json.dumps({module: sorted(sys.modules)}), flush=True)
        os._exit(0)
    os.wait()
"""


@pytest.fixture(scope="module")
def loaded_by() -> dict:
    """module -> the modules loaded after `import module` in a fresh interpreter (one that already holds torch,
    numpy and PIL, which any module may load)."""
    result = subprocess.run(
        [sys.executable, "-c", FORK_EACH, *NOT_NEEDED], cwd=ROOT, capture_output=True, text=True, timeout=120
    )
    assert result.returncode == 0, result.stderr[-1000:]
    return {m: set(loaded) for line in result.stdout.splitlines() for m, loaded in json.loads(line).items()}


@pytest.mark.parametrize("module", NOT_NEEDED)
def test_importing_a_module_loads_nothing_it_does_not_need(module, loaded_by):
    """What sys.modules holds after `import module`: none of what it does not need."""
    absent = NOT_NEEDED[module]
    assert {m for m in loaded_by[module] if any(m == a or m.startswith(a + ".") for a in absent)} == set()
