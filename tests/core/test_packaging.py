"""``pip install .`` gives a working library: every package and data file is in the wheel (the bundled MNIST subset,
the pretrained model, the trace package), and setuptools has nothing to warn about."""
import os
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def wheel(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("wheel")
    proc = subprocess.run([sys.executable, "-m", "pip", "wheel", "--no-deps", "-v", "-w", str(out), str(ROOT)],
                          capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    warnings = [line for line in (proc.stdout + proc.stderr).splitlines()
                if "Warning" in line or "would be ignored" in line]
    assert not warnings, warnings
    return next(out.glob("*.whl"))


def test_the_wheel_holds_every_package_and_data_file(wheel):
    names = set(zipfile.ZipFile(wheel).namelist())
    packages = {str(p.parent.relative_to(ROOT)) for top in ("smartflow_core", "app")
                for p in (ROOT / top).rglob("__init__.py")}
    assert {p for p in packages if f"{p}/__init__.py" not in names} == set()
    for data in ("smartflow_core/datasets/mnist_subset.npz", "smartflow_core/models/pretrained.npz"):
        assert data in names


def test_the_installed_library_loads_mnist_and_the_pretrained_model(wheel, tmp_path):
    target = tmp_path / "site"
    subprocess.run([sys.executable, "-m", "pip", "install", "-q", "--no-deps", "--target", str(target), str(wheel)],
                   check=True, capture_output=True, timeout=300)
    code = ("import smartflow_core, numpy as np; from smartflow_core.data import load_mnist; "
            "from smartflow_core.persist import load_pretrained; from smartflow_core.presets import prepare_images; "
            "X, y, Xt, yt = load_mnist(); net, meta = load_pretrained(); s = meta['standardize']; "
            "p = net.predict(prepare_images(Xt[:500], mean=s['mean'], std=s['std'])).argmax(1); "
            "print(smartflow_core.__file__, len(X), float(np.mean(p == yt[:500])))")
    env = {**os.environ, "PYTHONPATH": str(target), "OPENBLAS_NUM_THREADS": "1"}
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, cwd=tmp_path,
                          timeout=120)
    assert proc.returncode == 0, proc.stderr[-3000:]
    where, n, accuracy = proc.stdout.split()
    assert where.startswith(str(target)) and int(n) == 10_000 and float(accuracy) > 0.97
