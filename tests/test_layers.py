"""Imports point down the layers; only gui imports Qt; torch loads lazily inside ml."""

import ast
import subprocess
import sys
from pathlib import Path

import pytest

PACKAGE = Path(__file__).parents[1] / "sdhd_studio"
LAYERS = ["core", "media", "ml", "render", "cli", "gui"]
# What each layer may import from the project (besides itself and the package root).
ALLOWED = {
    "core": set(),
    "media": {"core"},
    "ml": {"core", "media"},
    "render": {"core", "media", "ml"},
    "cli": {"core", "media", "ml", "render"},
    "gui": {"core", "media", "ml", "render"},
}
HEAVY = {"torch", "diffusers", "transformers", "ncnn", "PySide6"}


def _imports(path: Path, top_level_only: bool):
    tree = ast.parse(path.read_text())
    nodes = tree.body if top_level_only else list(ast.walk(tree))
    for node in nodes:
        if isinstance(node, ast.Import):
            yield from (alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            yield node.module


def _modules(layer):
    return sorted((PACKAGE / layer).rglob("*.py"))


@pytest.mark.parametrize("layer", LAYERS)
def test_layers_import_only_downwards(layer):
    for path in _modules(layer):
        for name in _imports(path, top_level_only=False):
            parts = name.split(".")
            if parts[0] == "sdhd_studio" and len(parts) > 1 and parts[1] in LAYERS:
                assert parts[1] == layer or parts[1] in ALLOWED[layer], f"{path}: {name}"


@pytest.mark.parametrize("layer", ["core", "media", "render", "cli"])
def test_qt_and_torch_stay_out_of_engine_layers(layer):
    for path in _modules(layer):
        for name in _imports(path, top_level_only=False):
            assert name.split(".")[0] not in HEAVY, f"{path} imports {name}"


def test_core_is_pure_python_and_numpy():
    for path in _modules("core"):
        for name in _imports(path, top_level_only=False):
            top = name.split(".")[0]
            assert top in sys.stdlib_module_names | {"numpy", "sdhd_studio", "__future__"}, (
                f"{path} imports {name}"
            )


def test_ml_imports_torch_only_lazily():
    for path in _modules("ml"):
        for name in _imports(path, top_level_only=True):
            assert name.split(".")[0] not in HEAVY, f"{path} imports {name} at module level"


def test_cli_and_engine_start_without_torch_or_qt():
    code = (
        "import sys, sdhd_studio.cli.main, sdhd_studio.render.session, "
        "sdhd_studio.render.export, sdhd_studio.ml.registry as r; r.backends(); "
        f"print(sorted(m for m in {sorted(HEAVY)!r} if m in sys.modules))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"
