"""Every key of the app in one table: the bindings, the footer, the help
screen and the command palette are all made from it."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Key:
    keys: str  # comma-separated Textual key names; the first is the one shown
    action: str  # action name on LoomApp, without "action_"
    description: str
    group: str = "General"
    footer: bool = False
    short: str = ""  # the footer's label, where the description is long

    @property
    def shown(self) -> str:
        return self.keys.split(",")[0]


KEYS: list[Key] = [
    # Generating
    Key("g,space", "generate", "Generate branches", "Generate", footer=True, short="generate"),
    Key("escape", "cancel", "Cancel generation (keeps finished branches)", "Generate"),
    Key("s", "settings", "Generation settings", "Generate", footer=True, short="settings"),
    # Moving through the tree
    Key("k,up", "parent", "Go to parent", "Move"),
    Key("j,down", "child", "Go to first child", "Move"),
    Key("l,right", "next_sibling", "Next sibling", "Move"),
    Key("h,left", "prev_sibling", "Previous sibling", "Move"),
    Key("r", "root", "Go to root", "Move"),
    Key("c", "focus_children", "Choose a child from the list", "Move"),
    Key("T", "focus_tree", "Focus the tree panel", "Move"),
    # Tokens
    Key("full_stop,shift+right", "next_token", "Cursor to next token", "Tokens"),
    Key("comma,shift+left", "prev_token", "Cursor to previous token", "Tokens"),
    Key(
        "a,enter",
        "alternatives",
        "Pick an alternative for the token under the cursor",
        "Tokens",
        footer=True,
        short="alternatives",
    ),
    # Editing
    Key("e", "edit", "Edit node (saves a new sibling)", "Edit", footer=True, short="edit"),
    Key("n", "new_root", "New prompt (a new root)", "Edit"),
    # Session and app
    Key("o", "sessions", "Open a session", "Session", footer=True, short="sessions"),
    Key("t", "toggle_tree", "Show or hide the tree panel", "View"),
    Key("greater_than_sign", "wider_tree", "Widen the tree panel", "View"),
    Key("less_than_sign", "narrower_tree", "Narrow the tree panel", "View"),
    Key("equals_sign", "group_siblings", "Group the children by meaning (similar ones together, with counts)", "View"),
    Key("ctrl+t", "next_theme", "Next theme (all themes are in the command palette)", "View"),
    Key("question_mark,f1", "help", "Help: every key", "View", footer=True, short="help"),
    Key("q", "quit", "Quit", "Session", footer=True, short="quit"),
]


def by_action() -> dict[str, Key]:
    return {k.action: k for k in KEYS}


PRETTY = {
    "question_mark": "?",
    "full_stop": ".",
    "comma": ",",
    "space": "space",
    "slash": "/",
    "equals_sign": "=",
    "greater_than_sign": ">",
    "less_than_sign": "<",
}


def pretty(key: str) -> str:
    """A Textual key name as the user types it (question_mark: ?)."""
    return PRETTY.get(key, key)


def key_name(table: list[Key], action: str) -> str:
    """The key shown for `action` in a key table (overrides applied), for messages:
    never a hand-typed letter that can drift from the bindings."""
    for k in table:
        if k.action == action:
            return pretty(k.shown)
    raise KeyError(f"no key for action {action!r}")
