"""The docs site: its reference is generated from the code (docs/gen_reference.py) and must name every
command, option and key; the README and the site must build and link up."""

import argparse
import importlib.util
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


def load_generator():
    spec = importlib.util.spec_from_file_location("gen_reference", ROOT / "docs" / "gen_reference.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="module")
def gen():
    return load_generator()


@pytest.fixture(scope="module")
def pages(gen):
    return gen.pages()


def test_every_command_and_option_is_in_the_reference(gen, pages):
    text = pages["reference/commands.md"]
    commands = gen.commands()
    assert {"generate", "replay", "sweep", "report", "multiverse", "dist", "score", "vs", "import", "export"} <= set(
        commands
    )
    for name, parser in commands.items():
        assert f"## loom {name}\n" in text, name
        for action in parser._actions:
            if isinstance(action, argparse._HelpAction):  # -h on every command: not repeated per command
                continue
            for option in action.option_strings:
                assert f"`{option}" in text, (name, option)


def test_every_key_of_the_key_table_is_in_the_reference(gen, pages):
    from loom.ui.app import ALL_KEYS

    text = pages["reference/keys.md"]
    for key in ALL_KEYS:
        row = next((line for line in text.splitlines() if f"| `{key.action}` |" in line), None)
        assert row is not None, key.action
        for name in key.keys.split(","):
            assert f"`{gen._pretty_keys(name)[1:-1]}`" in row, (key.action, name)
    # the screens' own bindings too (the block multiverse's zoom, the report's regrouping)
    screens = dict((name, rows) for name, _, rows in gen.screen_bindings())
    assert "multiverse.MultiverseScreen" in screens and "attractors.ReportScreen" in screens
    for name, rows in screens.items():
        assert f"### {name}\n" in text
        for _, action, _ in rows:
            assert f"`{action}`" in text, (name, action)


def test_every_config_key_is_in_the_reference(pages):
    from dataclasses import fields

    from loom.config import GENERATION_KEYS, TOP_KEYS, Profile

    text = pages["reference/config.md"]
    for key in TOP_KEYS | GENERATION_KEYS | {f.name for f in fields(Profile)} - {"name"}:
        assert f"| `{key}` |" in text, key


def test_the_generated_pages_are_not_committed():
    """Generated at build time by the hook, so there is no copy in docs/ to fall out of date."""
    gen = load_generator()
    for page in gen.PAGES:
        assert not (ROOT / "docs" / page).exists(), f"docs/{page} is generated; remove the copy"
    assert "docs/gen_reference.py" in (ROOT / "mkdocs.yml").read_text()  # declared as a hook


def test_the_script_writes_the_pages(tmp_path):
    subprocess.run(
        [sys.executable, str(ROOT / "docs" / "gen_reference.py"), str(tmp_path)], check=True, capture_output=True
    )
    assert (tmp_path / "reference" / "keys.md").read_text().count("| `") > 20


def test_readme_is_short_and_links_exist():
    readme = (ROOT / "README.md").read_text()
    assert len(readme.encode()) < 7000  # "fits in about 6 KB"; the detail lives in docs/
    # .ci/run runs these two commands: the README must keep them as they are
    assert "pip install -e . && loom\n" in readme
    assert (
        'pip install -e ".[test]" && ruff check && ruff format --check && lint-imports && mypy && python -m pytest -q'
        in readme
    )
    for target in re.findall(r"\]\(([^)#]+)", readme):
        if "://" not in target:
            assert (ROOT / target).exists(), target
    svg = (ROOT / "docs" / "assets" / "app.svg").read_text()
    assert svg.lstrip().startswith("<svg") and "miller" in svg  # the real app on the tutorial's session


@pytest.mark.skipif(
    importlib.util.find_spec("mkdocs") is None or importlib.util.find_spec("material") is None,
    reason="mkdocs and mkdocs-material are not installed (pip install -e '.[docs]')",
)
def test_mkdocs_build_strict(tmp_path):
    mkdocs = shutil.which("mkdocs") or str(Path(sys.executable).parent / "mkdocs")
    result = subprocess.run(
        [mkdocs, "build", "--strict", "--site-dir", str(tmp_path / "site")],
        cwd=ROOT,
        capture_output=True,
        text=True,
        env={**os.environ, "NO_MKDOCS_2_WARNING": "1"},
    )
    assert result.returncode == 0, result.stdout + result.stderr
    keys = (tmp_path / "site" / "reference" / "keys" / "index.html").read_text()
    assert "mark_compare" in keys and "multiverse.MultiverseScreen" in keys
