"""ARCHITECTURE.md's layers, enforced: no module of rnnlab imports from a layer above its
own, at module level or inside a function (a local import hides a circle, it does not
remove it), and the layers with a narrower rule keep it."""

import ast
from pathlib import Path

import pytest

SRC = Path(__file__).resolve().parents[1] / "src" / "rnnlab"

# the first dotted prefix that matches names a module's layer (ARCHITECTURE.md's table)
LAYERS = [
    ("errors", 0), ("files", 0), ("version", 0),
    ("cells", 1), ("linear_cells", 1),
    ("recurrent", 2), ("nn", 2),
    ("attention", 3), ("decoding", 3), ("models", 3),
    ("training", 4), ("report", 4),
    ("data", 5),
    ("tasks", 6), ("apps", 6), ("export", 6),
    ("estimators", 6.5),
    ("cli", 7), ("demo", 7), ("serve", 7), ("__main__", 7), ("", 7),  # the package's __init__: the public names
]
# narrower than "any layer below": readers of data depend on the foundations only, and the
# recurrent core on the cells
ONLY = {"data": {0, 5}, "recurrent": {0, 1, 2}}


def module_name(path: Path) -> str:
    parts = path.relative_to(SRC).with_suffix("").parts
    return ".".join(p for p in parts if p != "__init__")


def layer_of(name: str) -> float:
    for prefix, layer in LAYERS:
        if name == prefix or name.startswith(prefix + ".") or prefix == "":
            return layer
    raise AssertionError(name)


def imported(path: Path) -> list[tuple[int, str]]:
    """(line, rnnlab module) for every import of rnnlab in the file, relative or absolute."""
    here = module_name(path).split(".") if module_name(path) else []
    package = here if path.name == "__init__.py" else here[:-1]
    out = []
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.ImportFrom):
            if node.level:
                base = package[: len(package) - node.level + 1]
                target = ".".join(base + ([node.module] if node.module else []))
                names = [target] if node.module else [".".join(base + [a.name]) for a in node.names]
            elif node.module and node.module.split(".")[0] == "rnnlab":
                names = [node.module.partition(".")[2]]
            else:
                continue
            out += [(node.lineno, n) for n in names]
        elif isinstance(node, ast.Import):
            out += [(node.lineno, a.name.partition(".")[2]) for a in node.names if a.name.split(".")[0] == "rnnlab"]
    return out


FILES = sorted(SRC.rglob("*.py"))


@pytest.mark.parametrize("path", FILES, ids=lambda p: str(p.relative_to(SRC)))
def test_no_import_runs_upward(path):
    name = module_name(path)
    mine = layer_of(name)
    allowed = next((v for k, v in ONLY.items() if name == k or name.startswith(k + ".")), None)
    for line, target in imported(path):
        theirs = layer_of(target)
        where = f"{path.relative_to(SRC.parent)}:{line} imports rnnlab.{target}"
        assert theirs <= mine, f"{where} (layer {theirs}) from layer {mine}: see ARCHITECTURE.md"
        if allowed is not None:
            assert theirs in allowed, f"{where} (layer {theirs}); this layer may import only {sorted(allowed)}"


def test_the_map_covers_every_module_and_sees_imports():
    names = {module_name(p) for p in FILES}
    assert {"recurrent.dispatch", "recurrent.dropins", "nn", "tasks.reversal", "apps.lab"} <= names
    assert any(t == "recurrent.dropins" for _, t in imported(SRC / "nn.py"))  # relative imports resolved
    assert any(t == "tasks.reversal" for _, t in imported(SRC / "apps" / "lab.py"))  # local imports seen
