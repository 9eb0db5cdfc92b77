"""bin/compile_serving.py writes bytecode for the modules a process loaded, and for no others
(the web image's venv is installed without pip's bytecode for every module)."""

import importlib
import importlib.util
import sys
from pathlib import Path

from tests.conftest import ROOT


def compile_serving():
    spec = importlib.util.spec_from_file_location("compile_serving", ROOT / "bin" / "compile_serving.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_only_the_loaded_modules_under_the_roots_get_bytecode(tmp_path, monkeypatch):
    package = tmp_path / "site" / "lazypkg"
    package.mkdir(parents=True)
    (package / "__init__.py").write_text("")
    (package / "used.py").write_text("VALUE = 1\n")
    (package / "unused.py").write_text("VALUE = 2\n")
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    (elsewhere / "outside_module.py").write_text("VALUE = 3\n")
    monkeypatch.setattr(sys, "dont_write_bytecode", True)  # as the image runs: only explicit bytecode
    monkeypatch.syspath_prepend(str(tmp_path / "site"))
    monkeypatch.syspath_prepend(str(elsewhere))
    for name in ("lazypkg", "lazypkg.used", "outside_module"):
        monkeypatch.delitem(sys.modules, name, raising=False)
    importlib.import_module("lazypkg.used")
    importlib.import_module("outside_module")

    written = compile_serving().compile_loaded([tmp_path / "site"])

    assert sorted(path.name for path in written) == ["__init__.py", "used.py"]
    cached = sorted(path.name.split(".")[0] for path in tmp_path.rglob("*.pyc"))
    assert cached == ["__init__", "used"]
    assert Path(importlib.util.cache_from_source(str(package / "used.py"))).is_file()
