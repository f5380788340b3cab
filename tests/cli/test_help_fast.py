"""`loom --help` and the app's own start build only what they use: the parser of the
command that runs (the others are listed by name and help), so the defaults that
experiment modules hold (and numpy, which they import) are not loaded for them."""

import subprocess
import sys

import pytest

PROBE = (
    "import sys\n"
    "from loom.cli import main\n"
    "try:\n"
    "    main(sys.argv[1:])\n"
    "except SystemExit:\n"
    "    pass\n"
    "print(sorted(m for m in ('numpy', 'loom.experiments', 'loom.analysis') if m in sys.modules))\n"
)


def _loaded(*args: str) -> str:
    out = subprocess.run([sys.executable, "-c", PROBE, *args], capture_output=True, text=True, check=True)
    return out.stdout.strip().splitlines()[-1]


@pytest.mark.parametrize("args", [("--help",), ("open", "--help"), ("show", "--help")])
def test_help_loads_no_experiment_module(args):
    assert _loaded(*args) == "[]"


def test_every_command_is_listed_and_each_one_s_own_help_is_whole(capsys):
    from loom.cli import COMMAND_MODULES, build_parser, main

    with pytest.raises(SystemExit):
        main(["--help"])
    listing = capsys.readouterr().out
    full = build_parser()
    names = sorted(full.get_default("_commands"))
    assert len(names) == len(COMMAND_MODULES)
    for name in names:
        assert f"    {name}" in listing, name
    with pytest.raises(SystemExit):
        main(["report", "--help"])
    assert "--resamples" in capsys.readouterr().out  # a report-only option, with its default from analysis
