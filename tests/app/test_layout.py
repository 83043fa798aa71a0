"""The rooms of app/ keep their rules: the lab's logic and every figure builder import no Streamlit (so they run and
are tested without it), the library never imports the app, and no module of app/ outgrows the ~300-line guide.

Each import check runs in a fresh interpreter, so modules other tests imported cannot hide a problem.
"""
import ast
import json
import os
import subprocess
import sys
import textwrap

import pytest
from apptest import ROOT

NO_STREAMLIT = [
    # the training/evaluation lab's logic
    "app.lab.builder", "app.lab.config", "app.lab.run", "app.lab.run_queue", "app.lab.slot", "app.lab.snapshot",
    "app.lab.weights", "app.lab.evaluation", "app.lab.relay", "app.lab.wire", "app.lab.worker", "app.lab.training",
    # figure builders and the arithmetic written out
    "app.charts", "app.lab.charts", "app.lessons.backward_charts", "app.lessons.explain", "app.draw.charts",
    "app.inside_charts", "app.draw.scribble", "smartflow_core.checkpoints",
]
MAX_LINES = 330  # the guide is ~300 lines; past this a module should be split


def test_logic_and_chart_modules_import_no_streamlit():
    code = textwrap.dedent(f"""
        import importlib, json, sys
        culprits = []
        for name in {NO_STREAMLIT!r}:
            importlib.import_module(name)
            if "streamlit" in sys.modules:
                culprits.append(name)
                break
        print(json.dumps(culprits))
    """)
    env = {**os.environ, "PYTHONPATH": str(ROOT), "OPENBLAS_NUM_THREADS": "1"}
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, cwd=ROOT,
                          timeout=120)
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert json.loads(proc.stdout.strip().splitlines()[-1]) == [], "this module brought in streamlit"


def _imports(path):
    tree = ast.parse(path.read_text(), str(path))
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            yield from (alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module:
            yield node.module


@pytest.mark.parametrize("path", sorted((ROOT / "smartflow_core").rglob("*.py")), ids=lambda p: p.name)
def test_the_library_never_imports_the_app(path):
    assert not [m for m in _imports(path) if m == "app" or m.startswith(("app.", "streamlit", "pages"))]


def test_app_modules_stay_small():
    big = {str(p.relative_to(ROOT)): n for p in (ROOT / "app").rglob("*.py")
           if (n := len(p.read_text().splitlines())) > MAX_LINES}
    assert not big, f"split these modules: {big}"
