"""train/ installs as a package against the system's PyTorch, offline:
a venv with the system's site packages, `pip install --no-build-isolation
--no-deps -e train` (train/README.md), then the tools import from another
folder without PYTHONPATH."""
import os
import subprocess
import sys

import pytest

TRAIN = os.path.abspath(os.path.join(os.path.dirname(__file__), ".."))


def test_editable_install(tmp_path):
    venv = tmp_path / "venv"
    made = subprocess.run([sys.executable, "-m", "venv", "--system-site-packages", str(venv)],
                          capture_output=True, text=True)
    if made.returncode != 0:
        pytest.skip("this Python cannot make a venv (Debian: python3-venv): " + made.stderr[-200:])
    python = str(venv / "bin" / "python")
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    pip = subprocess.run([python, "-m", "pip", "install", "--no-build-isolation", "--no-deps",
                          "--no-index", "-e", TRAIN], capture_output=True, text=True, env=env)
    assert pip.returncode == 0, pip.stdout[-2000:] + pip.stderr[-2000:]
    probe = subprocess.run([python, "-c", "import stipple_train.dataset, stipple_train.recipe, "
                            "stipple_train.train, torch; print(stipple_train.__file__)"],
                           capture_output=True, text=True, env=env, cwd=str(tmp_path))
    assert probe.returncode == 0, probe.stderr[-2000:]
    assert probe.stdout.strip().startswith(os.path.join(TRAIN, "stipple_train")), probe.stdout
