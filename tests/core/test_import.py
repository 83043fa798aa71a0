"""The library imports without the UI, and the chapter's star-imports expose every name its cells use.

Each check runs in a fresh interpreter so modules already imported by other tests cannot hide a problem.
"""
import importlib.util
import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]

SUBMODULES = ["operation", "conv", "pooling", "reference", "layer", "loss", "optimizers", "nn", "trainer", "eval",
              "util", "persist", "book"]
STAR_MODULES = ["operation", "trainer", "layer", "loss", "util", "eval", "nn"]  # the chapter's order
CHAPTER_NAMES = ["NeuralNetwork", "Conv2DLayer", "DenseLayer", "Tanh", "Linear", "SoftmaxCrossEntropy", "Trainer",
                 "SGDMomentum", "SGD", "Sigmoid", "ReLU", "MeanSquaredError", "calc_accuracy_model",
                 "assert_same_shape", "assert_dim", "_pad_2d_channel", "_pad_conv_input", "softmax", "to_2d",
                 "permute_data"]
MNIST_NAMES = ["init_mnist", "load_mnist"]


def run_python(code: str) -> dict:
    """Run ``code`` in a fresh interpreter (project root on the path); it prints one JSON object."""
    env = {**os.environ, "PYTHONPATH": str(ROOT), "OPENBLAS_NUM_THREADS": "1"}
    proc = subprocess.run([sys.executable, "-c", textwrap.dedent(code)], capture_output=True, text=True, env=env,
                          cwd=ROOT, timeout=120)
    assert proc.returncode == 0, proc.stderr[-3000:]
    return json.loads(proc.stdout.strip().splitlines()[-1])


def has_data_module() -> bool:
    return importlib.util.find_spec("smartflow_core.data") is not None


def test_library_does_not_import_streamlit():
    # the library must stay usable from scripts and notebooks without the UI stack
    result = run_python(f"""
        import importlib, json, sys
        import smartflow_core
        loaded = {{}}
        for name in {SUBMODULES!r}:
            importlib.import_module("smartflow_core." + name)
            loaded[name] = "streamlit" in sys.modules  # after importing this one (names the culprit)
        print(json.dumps({{"streamlit": "streamlit" in sys.modules, "per_module": loaded}}))
    """)
    assert result["streamlit"] is False, result["per_module"]


def test_the_chapters_star_imports_expose_every_name():
    wanted = CHAPTER_NAMES + (MNIST_NAMES if has_data_module() else [])
    imports = "\n".join(f"from smartflow_core.{m} import *" for m in STAR_MODULES)
    result = run_python(imports + f"""
import json, sys
ns = globals()
print(json.dumps({{"missing": [n for n in {wanted!r} if n not in ns],
                  "uncallable": [n for n in {wanted!r} if n in ns and not callable(ns[n])],
                  "streamlit": "streamlit" in sys.modules}}))
""")
    assert result["missing"] == [], f"not exposed by the chapter's star-imports: {result['missing']}"
    assert result["uncallable"] == []
    assert result["streamlit"] is False


def test_star_imports_do_not_shadow_with_different_objects():
    # later star-imports shadow earlier ones: a name exported by two modules must be the same object
    result = run_python(f"""
        import importlib, json
        seen, clashes = {{}}, []
        for m in {STAR_MODULES!r}:
            mod = importlib.import_module("smartflow_core." + m)
            names = getattr(mod, "__all__", [n for n in vars(mod) if not n.startswith("_")])
            for n in names:
                obj = getattr(mod, n)
                if n in seen and seen[n][1] is not obj:
                    clashes.append([n, seen[n][0], m])
                seen[n] = (m, obj)
        print(json.dumps({{"clashes": clashes}}))
    """)
    assert result["clashes"] == []


def test_every_name_in_all_resolves():
    result = run_python(f"""
        import importlib, json
        broken = []
        for m in {SUBMODULES!r}:
            mod = importlib.import_module("smartflow_core." + m)
            for n in getattr(mod, "__all__", []):
                try:
                    getattr(mod, n)
                except Exception as exc:
                    broken.append([m, n, repr(exc)])
        print(json.dumps({{"broken": broken}}))
    """)
    assert result["broken"] == []
