"""The essay page (docs/tutorial/essay.md) shows commands a reader will paste: every `loom ...` in its
shell blocks must parse with the real parser and name only commands and options that exist, so the
page cannot drift from the CLI. Nothing is run here (the page's numbers come from running them)."""

import argparse
import re
import shlex
from pathlib import Path

import pytest

from loom.cli import build_parser

ROOT = Path(__file__).resolve().parents[2]
PAGE = ROOT / "docs" / "tutorial" / "essay.md"
SHELL_BLOCK = re.compile(r"^```(?:sh|bash|shell|console)\n(.*?)^```", re.M | re.S)
OPERATORS = {"|", "||", "&&", ";", ">", ">>", "<", "&"}


def shell_commands(markdown: str) -> list[list[str]]:
    """Every simple command in the page's shell blocks, as argv lists: continuation lines
    joined, comments dropped, pipelines and `&&` chains split, redirections' targets left out."""
    out = []
    for block in SHELL_BLOCK.findall(markdown):
        for line in block.replace("\\\n", " ").splitlines():
            lexer = shlex.shlex(line, posix=True, punctuation_chars=";&|<>")
            lexer.whitespace_split = True
            lexer.commenters = "#"
            words: list[str] = []
            skip_next = False
            for token in lexer:
                if token in OPERATORS:
                    if words:
                        out.append(words)
                    words, skip_next = [], token in {">", ">>", "<"}
                elif skip_next:
                    skip_next = False
                else:
                    words.append(token)
            if words:
                out.append(words)
    return out


def loom_commands(markdown: str) -> list[list[str]]:
    return [argv for argv in shell_commands(markdown) if argv[0] == "loom"]


def subparsers(parser: argparse.ArgumentParser) -> dict[str, argparse.ArgumentParser]:
    action = next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction))
    return dict(action.choices)


def check(argv: list[str], parser: argparse.ArgumentParser) -> None:
    """Parse `loom ...` as the CLI would; fail naming the command if it does not parse, names no
    known command, or spells an option other than exactly as the parser has it (argparse would
    accept an abbreviation such as --temp for --temperature)."""
    words = argv[1:]
    commands = subparsers(parser)
    top_options = set(parser._option_string_actions)
    i = 0
    while i < len(words) and words[i] in top_options:  # loom --sessions-dir DIR COMMAND ...
        i += 2
    assert i < len(words) and words[i] in commands, f"no known command in: {shlex.join(argv)}"
    sub = commands[words[i]]
    known = set(sub._option_string_actions) | top_options
    for word in words[i + 1 :]:
        if word == "--":
            break
        name = word.split("=", 1)[0]
        if name.startswith("-") and name != "-" and not re.fullmatch(r"-[0-9.]+", name):
            assert name in known, f"{name!r} is no option of `loom {words[i]}`: {shlex.join(argv)}"
    try:
        parser.parse_args(words)
    except SystemExit:  # argparse has printed why on standard error
        pytest.fail(f"does not parse: {shlex.join(argv)}")


@pytest.fixture(scope="module")
def parser():
    return build_parser()


@pytest.fixture(scope="module")
def page():
    return PAGE.read_text()


def test_every_loom_command_on_the_page_parses(page, parser):
    commands = loom_commands(page)
    assert len(commands) >= 20
    for argv in commands:
        check(argv, parser)


def test_the_page_runs_every_experiment_of_the_essay(page):
    used = {argv[1] for argv in loom_commands(page)}
    assert {
        "new",
        "vs",
        "show",
        "generate",
        "report",
        "edit",
        "sweep",
        "collapse",
        "score",
        "multiverse",
        "global",
        "forks",
        "models",
    } <= used
    flags = {w.split("=", 1)[0] for argv in loom_commands(page) for w in argv if w.startswith("--")}
    assert {
        "--plot",
        "--temperatures",
        "--attractor-words",
        "--compare-model",
        "--svg",
        "--prompts",
        "--cap",
        "--seed",
        "--generate",
        "--check",
    } <= flags
    # every sampling command has a fixed seed, so the numbers on the page come back
    for argv in loom_commands(page):
        if argv[1] in {"vs", "generate", "report", "edit", "sweep", "global", "forks"}:
            assert "--seed" in argv, shlex.join(argv)


def test_every_figure_a_command_writes_is_on_the_page_and_small(page):
    """`--plot F`, `--svg F`: the figure is committed as docs/assets/F, shown on the page, under 150 KB."""
    figures = [argv[i + 1] for argv in loom_commands(page) for i, w in enumerate(argv[:-1]) if w in ("--plot", "--svg")]
    assert len(figures) >= 9
    for name in figures:
        asset = ROOT / "docs" / "assets" / name
        assert asset.is_file(), f"{name}: written by a command on the page but not in docs/assets"
        assert f"](../assets/{name})" in page, f"{name} is not shown on the page"
        assert asset.stat().st_size < 150_000, f"{name}: {asset.stat().st_size} bytes"


def test_the_page_is_in_the_nav_and_linked():
    assert "tutorial/essay.md" in (ROOT / "mkdocs.yml").read_text()
    assert "(essay.md)" in (ROOT / "docs" / "tutorial" / "index.md").read_text()
    assert "(docs/tutorial/essay.md)" in (ROOT / "README.md").read_text()


@pytest.mark.parametrize(
    "line",
    [
        "loom report essay --nope 1",  # no such option
        "loom generate essay --temp 0.7",  # an abbreviation argparse would accept
        "loom reprot essay",  # no such command
        "loom report essay -n many",  # a value of the wrong type
        "loom report essay --plot",  # an option without its value
    ],
)
def test_the_check_catches_a_drifted_command(line, parser):
    commands = loom_commands(f"```sh\n{line}\n```\n")
    assert commands == [shlex.split(line)]
    with pytest.raises((AssertionError, pytest.fail.Exception)):
        check(commands[0], parser)


def test_shell_blocks_are_split_like_a_shell():
    md = (
        '```sh\n# a comment\nprintf \'%s\\n\' "a b" > prompts.txt && loom new s --prompt "x y" \\\n'
        "    --model demo-wedding\nloom show s | head -3\n```\n```text\nloom not-a-command\n```\n"
    )
    assert shell_commands(md) == [
        ["printf", "%s\\n", "a b"],
        ["loom", "new", "s", "--prompt", "x y", "--model", "demo-wedding"],
        ["loom", "show", "s"],
        ["head", "-3"],
    ]
