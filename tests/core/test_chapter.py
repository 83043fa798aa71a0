"""The chapter's code cells run unchanged (but for the package name) and print what the chapter prints."""
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from chapter_harness import CELLS

HERE = Path(__file__).resolve().parent
CHAPTER = HERE.parents[2] / "shared" / "docs" / "seed" / "chapter5_cnn.txt"
OUTPUT_CELLS = ["4", "5", "7", "8", "10", "11", "15", "None"]


def chapter_outputs() -> dict[str, list[str]]:
    """The lines the chapter prints after each cell's code (up to the next blank line)."""
    lines = CHAPTER.read_text(encoding="utf-8").split("\n")
    outputs = {}
    for cell_id, n in CELLS:
        i = lines.index(f"In [{cell_id}]:") + 1 + n + 1  # skip the code and the blank line after it
        out = []
        while i < len(lines) and lines[i].strip():
            out.append(lines[i])
            i += 1
        outputs[cell_id] = out
    return outputs


def run_harness(workdir: Path, *args: str) -> dict[str, list[str]]:
    env = {**os.environ, "PYTHONPATH": str(HERE.parents[1]), "OPENBLAS_NUM_THREADS": "1"}
    proc = subprocess.run([sys.executable, str(HERE / "chapter_harness.py"), str(CHAPTER), str(workdir), *args],
                          capture_output=True, text=True, env=env, timeout=600)
    assert proc.returncode == 0, proc.stderr[-3000:]
    shown, current = {}, None
    for line in proc.stdout.splitlines():
        if line.startswith("=== "):
            current = line.split(" ", 2)[-1]
            shown[current] = []
        else:
            shown[current].append(line)
    return shown


@pytest.fixture(scope="module")
def chapter():
    if not CHAPTER.exists():
        pytest.skip(f"chapter text not found at {CHAPTER}")
    return chapter_outputs()


def test_every_printing_cell_has_an_output(chapter):
    # the harness's line counts split code from output correctly: each printing cell's output follows its code
    assert all(chapter[c] and chapter[c][0][0] in "a([" for c in OUTPUT_CELLS)


def test_convolution_cells_print_the_chapters_numbers(chapter, tmp_path):
    shown = run_harness(tmp_path, "--cells", "3,4,5,6,7,8,9,10,11,12,13,14")
    for cell in ["4", "5", "7", "8", "10", "11"]:
        assert shown[cell] == chapter[cell], f"cell {cell}"
    # the chapter's own multichannel loops (cells 12-14) agree with the fast kernels
    for line in shown["LOOPS"]:
        assert float(line.split()[1]) < 1e-10, line


@pytest.mark.slow
def test_training_cell_in_book_mode_logs_the_chapters_losses(chapter, tmp_path, mnist_dir):
    from smartflow_core.data import init_mnist

    (tmp_path / "data").mkdir()
    for f in mnist_dir.glob("*.gz"):
        shutil.copy(f, tmp_path / "data")
    init_mnist(tmp_path / "data")  # the chapter's run found its parsed cache already there
    shown = run_harness(tmp_path, "--book", "--stop-after", "40", "--cells", "15,None")
    assert shown["15"] == [line.replace("mnist.pkl", "mnist.npz") for line in chapter["15"]]
    expected = _losses(chapter["None"])
    got = _losses(shown["None"])
    assert sorted(got) == [0, 10, 20, 30, 40]
    assert got[0] == pytest.approx(expected[0], rel=1e-9)  # 33.21654456232465
    for n in (10, 20, 30, 40):  # later batches drift with the BLAS summation order
        assert got[n] == pytest.approx(expected[n], rel=1e-6), n


def _losses(lines):
    found = (re.fullmatch(r"\[smartflow\] batch#(\d+) loss: (\S+)", line) for line in lines)
    return {int(m[1]): float(m[2]) for m in found if m}
