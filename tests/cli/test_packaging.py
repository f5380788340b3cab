"""The wheel holds everything loom uses: built from this checkout, installed
into a fresh virtual environment, and run from outside the source tree.

The new environment gets loom from the wheel alone; its dependencies (torch,
transformers, textual...) are borrowed from the environment running the tests,
through a path entry, so the test needs no network and no second torch."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import sysconfig
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def installed(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("wheel")
    build = subprocess.run(
        [
            sys.executable,
            "-m",
            "pip",
            "wheel",
            str(ROOT),
            "--no-deps",
            "--no-build-isolation",
            "-w",
            str(tmp / "dist"),
            "-q",
        ],
        capture_output=True,
        text=True,
        cwd=tmp,
    )
    assert build.returncode == 0, build.stderr
    wheel = next((tmp / "dist").glob("*.whl"))
    venv = tmp / "venv"
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(venv)], check=True)
    python = venv / "bin" / "python"
    inst = subprocess.run(
        [sys.executable, "-m", "pip", "--python", str(python), "install", "--no-deps", "-q", str(wheel)],
        capture_output=True,
        text=True,
        cwd=tmp,
    )
    assert inst.returncode == 0, inst.stderr
    site = Path(
        subprocess.run(
            [str(python), "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
            capture_output=True,
            text=True,
            check=True,
        ).stdout.strip()
    )
    # dependencies from the test environment: a plain path entry, so its .pth files (the
    # checkout's editable install among them) are not run and loom comes from the wheel
    (site / "zz_test_deps.pth").write_text(sysconfig.get_paths()["purelib"] + "\n")
    work = tmp / "work"
    work.mkdir()
    env = {
        **os.environ,
        "LOOM_SESSIONS_DIR": str(work / "sessions"),
        "LOOM_CONFIG": str(work / "none.toml"),
        "HF_HUB_OFFLINE": "1",
        "PYTHONPATH": "",
    }
    (work / "none.toml").write_text("")
    return venv, work, env


def run(installed, *args, script=False):
    venv, work, env = installed
    cmd = [str(venv / "bin" / ("python" if script else "loom")), *args]
    return subprocess.run(cmd, capture_output=True, text=True, cwd=work, env=env, timeout=300)


def test_the_wheel_runs_without_the_checkout(installed):
    where = run(
        installed,
        "-c",
        "import loom, loom.themes as t; print(loom.__file__); print(sorted(t.load_themes()[0]))",
        script=True,
    )
    assert where.returncode == 0, where.stderr
    path, themes = where.stdout.splitlines()
    assert str(ROOT) not in path and "site-packages" in path
    assert themes == str(["loom-colorblind", "loom-dark", "loom-light"])
    assert run(installed, "--help").returncode == 0
    assert run(installed, "new", "tale", "--prompt", "Once upon a time").returncode == 0
    gen = run(installed, "generate", "tale", "-n", "2", "--max-tokens", "4", "--seed", "1", "--json")
    assert gen.returncode == 0, gen.stderr
    assert len(json.loads(gen.stdout)["nodes"]) == 2


def test_the_apps_first_screen_from_the_wheel(installed):
    script = """
import asyncio
from loom.backends import open_backend
from loom.store import Session
from loom.ui.app import LoomApp

async def main():
    s = Session("first.loom")
    s.current = s.add_node(None, "Once upon a time", "prompt").id
    app = LoomApp(s, backend=open_backend("demo"))
    async with app.run_test(size=(100, 30)) as pilot:
        await pilot.pause()
        print(app.theme, "Once" in app.export_screenshot())

asyncio.run(main())
"""
    out = run(installed, "-c", script, script=True)
    assert out.returncode == 0, out.stderr[-2000:]
    theme, shown = out.stdout.split()
    assert theme.startswith("loom-") and shown == "True"


NOTEBOOK = ROOT / "docs" / "tutorial" / "notebook.ipynb"


def test_the_tutorial_notebook_runs_headless_from_the_wheel(installed):
    """The docs' tutorial notebook, executed afresh (nbclient, a real kernel in the
    wheel's environment) on the bundled models: no cell fails, and its outputs hold
    a coloured path, a DataFrame with numeric columns and a figure."""
    import nbformat

    venv, work, env = installed
    script = f"""
import nbformat
from nbclient import NotebookClient
nb = nbformat.read({str(NOTEBOOK)!r}, as_version=4)
NotebookClient(nb, timeout=600, kernel_name="python3", resources={{"metadata": {{"path": "."}}}}).execute()
nbformat.write(nb, "executed.ipynb")
"""
    out = run(installed, "-c", script, script=True)
    assert out.returncode == 0, out.stderr[-3000:]
    nb = nbformat.read(work / "executed.ipynb", as_version=4)
    outputs = [o for c in nb.cells if c.cell_type == "code" for o in c.outputs]
    assert not [o for o in outputs if o.output_type == "error"]
    html = [o.data["text/html"] for o in outputs if "text/html" in o.get("data", {})]
    assert any('class="loom-path"' in h and "title=" in h for h in html)  # tokens coloured, alternatives on hover
    assert any('class="dataframe"' in h for h in html)
    assert any("image/png" in o.get("data", {}) for o in outputs)
    plain = [o.data.get("text/plain", "") for o in outputs if "data" in o]
    assert any("dtype: float64" in p for p in plain)  # a numeric column of a report's table
