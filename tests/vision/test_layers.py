"""The vision package is the Django-free core: it imports no Django, and neither does anything
it imports; training and recognizer build on it, and training never imports recognizer."""

import ast
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
VISION_MODULES = sorted(f"vision.{path.stem}" for path in (ROOT / "vision").glob("*.py") if path.stem != "__init__")

# Run with django (and anything under it) made unimportable: a vision module that imports it,
# directly or through recognizer/training, fails to import.
BLOCKED = """
import importlib, sys

class Block:
    def find_spec(self, name, path=None, target=None):
        if name.split(".")[0] in ("django", "rest_framework", "recognizer", "training", "mnistsite"):
            raise ImportError(f"blocked: {name}")
        return None

sys.meta_path.insert(0, Block())
for name in sys.argv[1:]:
    importlib.import_module(name)
print("ok", len(sys.argv) - 1)
"""


def test_the_vision_layers_are_the_ones_documented():
    assert VISION_MODULES == [
        "vision.calibration",
        "vision.decode",
        "vision.idx",
        "vision.infer",
        "vision.preprocess",
        "vision.segment",
        "vision.stack",
    ]


@pytest.mark.integration
@pytest.mark.slow
def test_vision_imports_without_django_recognizer_or_training():
    done = subprocess.run(
        [sys.executable, "-c", BLOCKED, *VISION_MODULES], cwd=ROOT, capture_output=True, text=True, timeout=60
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.split() == ["ok", str(len(VISION_MODULES))]


def _imported(package: str) -> set[str]:
    """Top-level packages that the modules of package import (at any depth in the code)."""
    found = set()
    for path in (ROOT / package).rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text(), filename=str(path))):
            if isinstance(node, ast.Import):
                found.update(f"{alias.name}|{path.relative_to(ROOT)}" for alias in node.names)
            elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
                found.add(f"{node.module}|{path.relative_to(ROOT)}")
    return found


@pytest.mark.parametrize(
    ("package", "forbidden"),
    [
        ("vision", ("django", "rest_framework", "recognizer", "training", "mnistsite", "celery")),
        ("training", ("recognizer",)),
    ],
)
def test_package_does_not_import(package, forbidden):
    bad = sorted(entry for entry in _imported(package) if entry.split("|")[0].split(".")[0] in forbidden)
    assert bad == []


def test_recognizer_uses_only_the_model_registry_of_training():
    used = {entry.split("|")[0] for entry in _imported("recognizer") if entry.startswith("training")}
    assert used <= {"training.services", "training.models"}
