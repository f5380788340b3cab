"""The command line builds only the parser of the command it runs: `loom SESSION`
opens the app without building every command's parser and its defaults (the
others are listed from each module's NAME and HELP; see also test_help_fast.py)."""

import subprocess
import sys

from loom.cli import COMMAND_MODULES, build_parser, command_names


def _sub(parser):
    return next(a for a in parser._actions if a.__class__.__name__ == "_SubParsersAction")


def test_the_command_table_names_what_each_module_registers():
    names = command_names()
    assert len(names) == len(COMMAND_MODULES)
    assert set(_sub(build_parser()).choices) == set(names)
    for name in names:
        parser = build_parser(only=name)
        assert set(_sub(parser).choices) == set(names)
        assert parser.get_default("_commands") == frozenset(names)


def test_opening_a_session_builds_no_experiment_defaults():
    code = (
        "import sys\n"
        "import loom.commands.open as o\n"
        "o.run = lambda args: print(args.session, args.model)\n"
        "from loom.cli import main\n"
        "main(['my-story', '--model', 'demo'])\n"
        "print('numpy' in sys.modules, 'loom.experiments' in sys.modules, 'loom.analysis' in sys.modules)\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.splitlines() == ["my-story demo", "False False False"]


def test_top_level_help_lists_every_command(capsys):
    from loom.cli import main

    for argv in (["--help"], ["--help", "report"], ["-h", "my-story"]):
        try:
            main(argv)
        except SystemExit:
            pass
        out = capsys.readouterr().out
        assert all(name in out for name in command_names()), argv
        assert "loom NAME|PATH" in out


def test_a_commands_help_is_its_own(capsys):
    from loom.cli import main

    try:
        main(["report", "--help"])
    except SystemExit:
        pass
    out = capsys.readouterr().out
    assert out.startswith("usage: loom report")
