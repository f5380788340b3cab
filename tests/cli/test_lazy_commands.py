"""The command line imports only the command it runs: `loom SESSION` opens the
app without importing every command's module and defaults."""

import subprocess
import sys

from loom.cli import COMMANDS, build_parser


def _choices(parser) -> set[str]:
    sub = next(a for a in parser._actions if a.__class__.__name__ == "_SubParsersAction")
    return set(sub.choices)


def test_the_command_table_names_what_each_module_registers():
    assert _choices(build_parser()) == set(COMMANDS)
    for name in COMMANDS:
        parser = build_parser(only=name)
        assert _choices(parser) == {name}
        assert parser.get_default("_commands") == frozenset(COMMANDS)


def test_opening_a_session_imports_the_open_command_alone():
    code = (
        "import sys\n"
        "import loom.commands.open as o\n"
        "o.run = lambda args: print(args.session, args.model)\n"
        "from loom.cli import main\n"
        "main(['my-story', '--model', 'demo'])\n"
        "print(sorted(m for m in sys.modules if m.startswith('loom.commands.')))\n"
        "print('numpy' in sys.modules, 'loom.experiments' in sys.modules)\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.splitlines() == ["my-story demo", "['loom.commands.open']", "False False"]


def test_top_level_help_lists_every_command(capsys):
    from loom.cli import main

    for argv in (["--help"], ["--help", "report"], ["-h", "my-story"]):
        try:
            main(argv)
        except SystemExit:
            pass
        out = capsys.readouterr().out
        assert all(name in out for name in COMMANDS), argv
        assert "loom NAME|PATH" in out


def test_a_commands_help_is_its_own(capsys):
    from loom.cli import main

    try:
        main(["report", "--help"])
    except SystemExit:
        pass
    out = capsys.readouterr().out
    assert out.startswith("usage: loom report")
