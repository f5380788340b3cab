"""LoomApp: the tree, the coloured path, the token inspector and the children,
driven from the keyboard. It holds what every panel draws from (the session,
the current node, the running jobs); the features (library.py, attractors.py,
multiverse.py, forks.py, collapse.py) open their own screens. Every long action
is a job (jobs.py); generation streams one typed message per token, and every
finished branch is already on disk when it shows."""

from __future__ import annotations

import asyncio
import sqlite3
from collections.abc import Callable, Iterable
from dataclasses import replace
from pathlib import Path
from typing import Any, cast

from textual import events, on, work
from textual.app import App, ComposeResult, SystemCommand
from textual.binding import Binding
from textual.containers import Horizontal, Vertical
from textual.message import Message
from textual.reactive import var
from textual.screen import Screen
from textual.theme import Theme
from textual.widget import AwaitMount
from textual.widgets import LoadingIndicator, OptionList, Tree
from textual.worker import Worker, WorkerState

from ..config import Config
from ..experiments.base import Cancel, ProgressFn
from ..experiments.generate import GenerationResult, edit_node, fork_at_token, generate_children
from ..experiments.models import Backend, BackendError, remember_model
from ..experiments.settings import resolve
from ..store import Session, StoreError
from ..textsafe import visible
from ..themes import DEFAULT_THEME, LoomTheme, load_themes
from ..tree import GenerationParams, LoomError, Node, Notice, ParamError, TokenEvent
from .attractors import ATTRACTOR_KEYS, Attractors
from .collapse import COLLAPSE_KEYS, open_collapse
from .dialogs import EditScreen, HelpScreen, QuitScreen, SessionsScreen, SettingsScreen
from .footer import LoomFooter
from .forks import FORKS_KEYS, open_forks
from .jobs import Job, JobBody, JobProgress, JobsLine
from .keymap import KEYS, Key, key_name
from .keysfirst import KeysFirst
from .library import LIBRARY_KEYS, Library
from .messages import BranchSaved, GenerationNotice, TokenGrown
from .multiverse import MULTIVERSE_KEYS, MultiverseViews
from .panels import ChildrenList, Legend, LoomHeader, StatusLine, TokenInfo, TreePanel
from .pathview import PathView
from .words import plural


class ModelReady(Message):
    def __init__(self, backend: Backend | None, error: str | None = None) -> None:
        super().__init__()
        self.backend, self.error = backend, error


def textual_theme(t: LoomTheme) -> Theme:
    c = t.colors
    return Theme(
        name=t.name,
        dark=t.dark,
        **{
            k: c[k]
            for k in (
                "primary",
                "secondary",
                "accent",
                "background",
                "surface",
                "panel",
                "foreground",
                "success",
                "warning",
                "error",
            )
            if k in c
        },
    )


ALL_KEYS: list[Key] = [*KEYS, *LIBRARY_KEYS, *ATTRACTOR_KEYS, *FORKS_KEYS, *MULTIVERSE_KEYS, *COLLAPSE_KEYS]


class LoomApp(App):
    TITLE = "loom"
    # every screen's styles, with the theme's variables; a full path, because Textual reads a
    # relative one beside the module of the class, which for a subclass (bench/keys.py) is elsewhere
    CSS_PATH = Path(__file__).with_name("loom.tcss")
    # -- the one source of truth: every panel watches what it draws and keeps no copy of it --
    session: var[Session] = var(cast(Session, None), init=False)  # the open session (the tree panel)
    path: var[tuple[Node, ...]] = var((), always_update=True)  # the root to the current node (path view, children)
    cursor: var[int | None] = var(None, always_update=True)  # the token cursor along the path (path view)
    token: var[tuple[Node, int] | None] = var(None, always_update=True)  # the token under it (token panel)
    running: var[tuple[Job, ...]] = var((), always_update=True)  # the jobs running now, oldest first (jobs line)
    live: var[dict[int, str]] = var(dict, always_update=True)  # a generation's branches so far, by branch
    grown: var[tuple[int | None, ...]] = var((), always_update=True)  # nodes that just got new children
    outside: var[int] = var(0)  # how many times nodes another process added were found (tree, children)
    group_siblings: var[bool] = var(False)  # the children list grouped by meaning (=)
    status_text: var[str] = var("")  # the status line
    loom_theme: var[LoomTheme] = var(cast(LoomTheme, None), always_update=True)  # the probability palette
    LIVE_POLL = 0.3  # seconds between looks for nodes another process added to the session
    BINDINGS = [
        Binding(k.keys, k.action, k.short or k.description, show=k.footer, tooltip=k.description, id=k.action)
        for k in ALL_KEYS
    ]

    def __init__(
        self,
        session: Session,
        model: str | None = None,
        sessions_dir: Path | None = None,
        theme_name: str | None = None,
        backend: Backend | None = None,
        config: Config | None = None,
        created: bool = False,
    ) -> None:
        """`created`: the caller made the session file for this app (a new name);
        if no node is ever added to it, the file is removed on exit."""
        super().__init__()
        self.config = config or Config(path=Path("(none)"))
        self.session = session
        self.sessions_dir = sessions_dir or session.path.parent
        self.model_ref = model or session.get_state("model") or self.config.model
        self.params = self._session_params(session)
        self.backend: Backend | None = backend
        self.themes, self.theme_errors = load_themes()
        wanted = theme_name or self.config.theme or DEFAULT_THEME
        if wanted not in self.themes:
            self.theme_errors.append(
                f"theme {wanted!r} not found; using {DEFAULT_THEME} (themes: {', '.join(sorted(self.themes))})"
            )
            wanted = DEFAULT_THEME
        self.loom_theme = self.themes.get(wanted) or next(iter(self.themes.values()))
        self._keys = self._apply_key_overrides()
        self._main_actions = {k.action for k in ALL_KEYS}
        self._first_node: int | None = session.current  # shown once the panels are mounted
        self._live: dict[int, str] = {}  # the running generation's branches so far (published to `live` at a pace)
        self._live_parent: int | None = None  # the node they grow from: shown only under it
        self._seen_version: tuple[Session, int | None] | None = None  # the session and its data_version last shown
        self._created: set[Path] = {session.path.resolve()} if created else set()  # session files this app made
        # the features, each with its own state, opening its own screens
        self.library = Library(self)
        self.attractors = Attractors(self)
        self.multiverse = MultiverseViews(self)
        self._keys_first = KeysFirst()  # the collector and the model's loading wait while keys come
        self._held_keys: list[events.Key] | None = []  # keys that came before the first screen was ready

    # -- layout --------------------------------------------------------------
    def compose(self) -> ComposeResult:
        yield LoomHeader()
        with Horizontal(id="main"):
            yield TreePanel(self.session, id="tree")
            with Vertical(id="right"):
                yield PathView(self.loom_theme, lambda: self._keys_first.last_key, id="path")
                with Horizontal(id="bottom"):
                    yield TokenInfo(id="token")
                    yield ChildrenList(id="children")
        with Horizontal(id="statusbar"):
            yield LoadingIndicator(id="loading")
            yield StatusLine(id="status")
            yield JobsLine(id="jobs")
        yield Legend(id="legend")
        yield LoomFooter()

    def on_mount(self) -> None:
        for t in self.themes.values():
            self.register_theme(textual_theme(t))
        self.theme = self.loom_theme.name
        for name in list(self.available_themes):  # Textual's own themes have no probability palette
            if name not in self.themes:
                self.unregister_theme(name)
        for err in self.theme_errors:
            self.notify(err, title="settings problem", severity="warning", timeout=10)
        self.sub_title = f"{self.session.name}"
        if self.backend is not None:
            self.query_one("#loading").add_class("hidden")
            self.set_status(f"model {self.backend.name}")
        self.show_node(self._first_node)
        self._seen_version = (self.session, self.session.data_version())
        self.set_interval(self.LIVE_POLL, self._catch_up)
        self.set_interval(0.25, self._keys_first.tick)
        self.query_one(PathView).focus()
        self.call_after_refresh(self._started)

    # -- start-up: the first screen before the model; no key typed meanwhile is lost
    def _started(self) -> None:
        """After the first screen: the model starts loading (not before: it would
        compete with drawing it), a new session's New prompt dialog opens, and the
        keys typed so far are played to whatever has the focus once it has opened
        (on the main screen, which is open: now)."""
        loading = any(w.group == "model" and not w.is_finished for w in self.workers)
        if self._held_keys:  # they are played next: the model's imports give way to them (keysfirst.py)
            self._keys_first.key()
        if self.backend is None and not loading:  # (a session switched to already loads its own)
            self.load_model(self.model_ref)
        if self.node_id is None:
            self.action_new_root()
            self.call_after_refresh(self._play_held_keys)
        else:
            self._play_held_keys()

    @property
    def node_id(self) -> int | None:
        """The current node: the end of `path`."""
        return self.path[-1].id if self.path else None

    @node_id.setter
    def node_id(self, node_id: int | None) -> None:
        self.show_node(node_id)

    async def on_event(self, event: events.Event) -> None:
        if isinstance(event, events.Key):
            self._keys_first.key()
            if self._held_keys is not None:  # the first screen is not ready: kept, in order
                self._held_keys.append(event)
                return
        await super().on_event(event)

    def _play_held_keys(self) -> None:
        held, self._held_keys = self._held_keys or [], None
        for key in held:
            self.post_message(events.Key(key.key, key.character))

    def _session_params(self, session: Session) -> GenerationParams:
        """The session's settings over the profile's and the config's (the one resolver's order)."""
        try:
            return resolve(session, model=self.model_ref, config=self.config).params.replace(
                model=""
            )  # the model is model_ref
        except ParamError:  # a stored value out of range: start from the defaults; the settings dialog shows them
            return GenerationParams()

    def _apply_key_overrides(self) -> list[Key]:
        """Key overrides from the config file ([keys] action = "key,key")."""
        known = {k.action for k in ALL_KEYS}
        for action in self.config.keys:
            if action not in known:
                self.theme_errors.append(
                    f"{self.config.path}: [keys] {action!r} is not an action; known: {', '.join(sorted(known))}"
                )
        keymap = {a: v for a, v in self.config.keys.items() if a in known}
        if keymap:
            self.set_keymap(keymap)
        return [replace(k, keys=keymap.get(k.action, k.keys)) for k in ALL_KEYS]

    def keys_table(self) -> list[Key]:
        return self._keys

    def _main_screen_active(self) -> bool:
        """Whether the main screen is the one in front (the command palette, run from
        it, closes before its command runs)."""
        return len(self.screen_stack) <= 1 or self.screen is self.screen_stack[0]

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        # The main screen's keys are app bindings; Textual offers them on every
        # non-modal screen (the result screens), where they must not act.
        if action in self._main_actions and not self._main_screen_active():
            return False
        return True

    def push_screen(self, screen, callback=None, wait_for_dismiss: bool = False, **kwargs):
        """One of each screen at a time: a dialog that is already open (its key
        pressed twice, or opened at start and again from the palette) is not
        pushed a second time."""
        if isinstance(screen, Screen) and any(type(s) is type(screen) for s in self.screen_stack):
            if wait_for_dismiss:
                future = asyncio.get_running_loop().create_future()
                future.set_result(None)
                return future
            return AwaitMount(self.screen, [])
        return super().push_screen(screen, callback, wait_for_dismiss, **kwargs)

    def key_for(self, action: str) -> str:
        """The key of an action as the key table has it (config overrides applied), for messages."""
        return key_name(self._keys, action)

    def set_status(self, text: str) -> None:
        self.status_text = text

    # -- model ---------------------------------------------------------------
    @work(thread=True, exclusive=True, group="model")
    def load_model(self, ref: str) -> None:
        from ..experiments.models import open_model

        self.call_from_thread(self._loading, ref)
        try:
            with self._keys_first.loading():
                backend = open_model(ref)
            self.post_message(ModelReady(backend))
        except BackendError as exc:
            self.post_message(ModelReady(None, str(exc)))
        except Exception as exc:  # a broken model folder must not take the app down
            self.post_message(ModelReady(None, f"model {ref!r} could not be loaded: {type(exc).__name__}: {exc}"))

    def _loading(self, ref: str) -> None:
        self.query_one("#loading").remove_class("hidden")
        self.set_status(f"loading model {ref}… (you can type a prompt and move around meanwhile)")

    def on_model_ready(self, msg: ModelReady) -> None:
        self.query_one("#loading").add_class("hidden")
        if msg.backend is None:
            self.set_status(f"no model: {msg.error}")
            self.notify(msg.error or "", title="model not loaded", severity="error", timeout=15)
            return
        self.backend = msg.backend
        remember_model(self.session, self.model_ref, msg.backend)
        self.model_ref = msg.backend.name
        self.set_status(f"model {self.backend.name} ready")

    # -- showing -------------------------------------------------------------
    def show_node(self, node_id: int | None, cursor: int | None = None) -> None:
        """Make `node_id` the current node, the token cursor at `cursor` (else on the
        node's first token): every panel redraws itself from the new path."""
        if node_id is None:
            self.set_reactive(LoomApp.cursor, None)
            self.path = ()
            self.token = None
            return
        path = self.session.path_nodes(node_id)
        if self.session.current != node_id and not self.session.readonly:
            self.session.current = node_id
        if cursor is None and path[-1].tokens:
            cursor = sum(n.token_count() for n in path[:-1])  # first token of this node (none decoded)
        self.set_reactive(LoomApp.cursor, cursor)  # where the path view opens the new path
        self.path = tuple(path)
        self._token_under_cursor()

    def watch_path(self, path: tuple[Node, ...]) -> None:
        if not path:
            return
        node = path[-1]
        self.sub_title = (
            f"{self.session.name} · node {node.id} ({node.author}) · depth {len(path) - 1}" + context_label(node)
        )

    def watch_cursor(self) -> None:
        self._token_under_cursor()

    def _token_under_cursor(self) -> None:
        """`token` from `cursor`: the path view holds the index of the path's tokens."""
        pv = self.query_one(PathView)
        self.token = pv.token_at(self.cursor) if self.cursor is not None and self.cursor < len(pv.tokens) else None

    def child_rows(self, session: Session, node_id: int | None) -> list[dict]:
        """The children list's rows: in the order they were made, or grouped by
        meaning (= toggles it) with each group's size, biggest group first."""
        rows = session.summaries(node_id) if node_id is not None else []
        if not self.group_siblings or len(rows) < 2:
            return rows
        from ..analysis.clusters import grouped_order  # numpy: not needed for the first screen

        texts = [c.text for c in session.children(node_id)]
        try:
            order = grouped_order(texts)
        except ValueError as exc:  # too many to group: shown in their own order
            self.set_status(str(exc))
            return rows
        return [{**rows[i], "group": (cluster, size)} for i, cluster, size in order]

    def refresh_children(self) -> None:
        """Have the children list read the current node's children again."""
        self.grown = ()

    def action_group_siblings(self) -> None:
        self.group_siblings = not self.group_siblings
        self.notify(
            "Children grouped by meaning (similar continuations together, biggest group first)."
            if self.group_siblings
            else "Children in the order they were made.",
            timeout=3,
        )

    def _catch_up(self) -> None:
        """Show nodes that another process committed to the session: its
        data_version moves only on another connection's commits, so when it has
        not moved nothing is read or redrawn. The current node, the token cursor
        and the tree cursor stay where they are; an open dialog is not touched
        (the panels live on the main screen)."""
        session = self.session
        seen = self._seen_version
        if not self.query(TreePanel):  # the app is closing and its panels are gone; the timer fired once more
            return
        try:
            version = session.data_version()  # None: a worker holds the session; next time
            if version is None or (seen is not None and seen[0] is session and seen[1] == version):
                return
            if seen is not None and seen[0] is session:
                self.outside += 1  # the tree panel and the children list catch up
        except sqlite3.Error:  # a read that failed (the file busy or damaged): the next tick tries again
            return
        self._seen_version = (session, version)

    def show_token(self) -> None:
        """Have the token panel show the token under the path view's cursor."""
        self.cursor = self.query_one(PathView).cursor

    # -- moving --------------------------------------------------------------
    def goto(self, node_id: int | None) -> None:
        if node_id is not None and node_id != self.node_id:
            self.show_node(node_id)

    def _siblings(self) -> list[int]:
        if self.node_id is None:
            return []
        return self.session.child_ids(self.session.parent_id(self.node_id))

    def action_parent(self) -> None:
        if self.node_id is not None:
            parent = self.session.parent_id(self.node_id)
            if parent is None:
                self.notify("This is a root: it has no parent.", timeout=2)
            self.goto(parent)

    def action_child(self) -> None:
        if self.node_id is None:
            return
        kids = self.session.child_ids(self.node_id)
        if not kids:
            self.notify(f"No children yet: press {self.key_for('generate')} to generate.", timeout=2)
            return
        self.goto(kids[0])  # as the key table says; the children list (c) picks any other

    def _sibling(self, step: int) -> None:
        sibs = self._siblings()
        if self.node_id in sibs and len(sibs) > 1:
            self.goto(sibs[(sibs.index(self.node_id) + step) % len(sibs)])

    def action_next_sibling(self) -> None:
        self._sibling(1)

    def action_prev_sibling(self) -> None:
        self._sibling(-1)

    def action_root(self) -> None:
        if self.path:
            self.goto(self.path[0].id)

    def action_focus_children(self) -> None:
        self.query_one(ChildrenList).focus()

    def action_focus_tree(self) -> None:
        tree = self.query_one(TreePanel)
        tree.remove_class("hidden")
        tree.focus()

    def action_toggle_tree(self) -> None:
        self.query_one(TreePanel).toggle_class("hidden")

    TREE_WIDTHS = (16, 120)  # the tree panel's narrowest and widest, in columns

    def _tree_width(self, step: int) -> None:
        tree = self.query_one(TreePanel)
        now = tree.outer_size.width or 34
        lo, hi = self.TREE_WIDTHS
        tree.styles.width = max(lo, min(hi, self.screen.size.width - 30, now + step))
        tree.remove_class("hidden")

    def action_wider_tree(self) -> None:
        self._tree_width(8)

    def action_narrower_tree(self) -> None:
        self._tree_width(-8)

    @on(OptionList.OptionSelected, "#children")
    def _child_chosen(self, event: OptionList.OptionSelected) -> None:
        if event.option.id and event.option.id.isdigit():
            self.goto(int(event.option.id))
            self.query_one(PathView).focus()

    @on(Tree.NodeSelected)
    def _tree_chosen(self, event: Tree.NodeSelected) -> None:
        if event.node.data is not None and event.node.data != self.node_id:
            # the "↑ levels above" line leads out of what the panel shows: re-reveal
            self.show_node(event.node.data)  # the tree panel reveals it only where it is not highlighted

    # -- tokens --------------------------------------------------------------
    def _move_token(self, step: int) -> None:
        pv = self.query_one(PathView)
        if not pv.tokens:
            self.notify("No model tokens on this path yet.", timeout=2)
            return
        cur = self.cursor if self.cursor is not None else (len(pv.tokens) if step < 0 else -1)
        self.cursor = max(0, min(len(pv.tokens) - 1, cur + step))

    def action_next_token(self) -> None:
        self._move_token(1)

    def action_prev_token(self) -> None:
        self._move_token(-1)

    def on_path_view_token_clicked(self, msg: PathView.TokenClicked) -> None:
        self.cursor = msg.index

    def action_alternatives(self) -> None:
        if isinstance(self.focused, (OptionList, Tree)):
            return  # enter belongs to the focused list
        info = self.query_one(TokenInfo)
        if self.token is None or not self.token[0].tokens[self.token[1]].alternatives:
            self.notify(
                f"Put the cursor on a model token first ({self.key_for('next_token')} and {self.key_for('prev_token')} or a click).",
                timeout=3,
            )
            return
        info.focus()
        info.highlighted = 0

    @on(OptionList.OptionSelected, "#token")
    def _alternative_chosen(self, event: OptionList.OptionSelected) -> None:
        pv = self.query_one(PathView)
        if self.token is None or not event.option.id:
            return
        node, ti = self.token
        alt = node.tokens[ti].alternatives[int(event.option.id)]
        try:
            new = fork_at_token(self.session, node, ti, alt)
        except StoreError as exc:
            self.notify(str(exc), severity="error")
            return
        self.refresh_nodes(node.parent_id)
        cursor = len(pv.tokens) - len(node.tokens) + ti if node.id == self.node_id else None
        self.show_node(new.id, cursor=cursor)
        pv.focus()
        self.notify(
            f"New branch {new.id} with {alt.text!r} in place of {node.tokens[ti].text!r}: press {self.key_for('generate')} to continue it.",
            timeout=4,
        )

    # -- jobs ------------------------------------------------------------------
    def start_job(
        self,
        name: str,
        label: str,
        body: JobBody,
        done: Callable[[Any], None] | None = None,
        lane: str = "model",
        failed: Callable[[str], None] | None = None,
        shown: ProgressFn | None = None,
        replace: bool = False,
    ) -> Job | None:
        """Run `body(progress, cancel)` as a job in a worker thread, then `done(result)`
        here; None (and a message saying why) when a job of the same lane is running.
        `replace`: cancel that job instead (a view asked for again), dropping its result."""
        busy = next((j for j in self.running if j.lane == lane), None)
        if busy is not None and replace:
            for old in self.running:
                if old.lane == lane:
                    old.cancel.set()
            self.running = tuple(j for j in self.running if j.lane != lane)
        elif busy is not None:
            self._refuse(busy, label)
            return None
        job = Job(name, label, lane, done, failed, shown, session=self.session)

        def run() -> Any:
            return body(lambda p: self.post_message(JobProgress(job, p)), job.cancel)

        job.worker = self.run_worker(
            run, name=name, group=f"job-{lane}", thread=True, exclusive=True, exit_on_error=False
        )
        self.running = (*self.running, job)
        self.set_status(f"{label}… ({self.key_for('cancel')} cancels)")
        return job

    def on_job_progress(self, msg: JobProgress) -> None:
        msg.job.progress = msg.progress
        if msg.job in self.running:
            self.running = self.running  # the jobs line redraws
            if msg.job.shown is not None:
                msg.job.shown(msg.progress)

    @on(Worker.StateChanged)
    def _job_state(self, event: Worker.StateChanged) -> None:
        """A job that ended: its result to its `done`, a failure to a notice; the app goes on."""
        job = next((j for j in self.running if j.worker is event.worker), None)
        if job is None or event.state not in (WorkerState.SUCCESS, WorkerState.ERROR, WorkerState.CANCELLED):
            return
        self.running = tuple(j for j in self.running if j is not job)
        if job.session is not self.session:  # cancelled when the session was switched: nothing to show
            self.set_status(f"{job.label}: stopped with its session (the branches it finished are saved there)")
            return
        if event.state == WorkerState.SUCCESS:
            if job.cancel.is_set():
                self.set_status(f"{job.label}: cancelled; what finished is kept")
            else:
                self.set_status(f"{job.label}: done")
            if job.done is not None:
                job.done(event.worker.result)
        elif event.state == WorkerState.ERROR:
            error = event.worker.error
            known = isinstance(error, (LoomError, StoreError, BackendError, ValueError))
            message = str(error) if known else f"{type(error).__name__}: {error}"
            self.set_status(f"{job.label} failed: {message}")
            self.notify(visible(message), title=f"{job.label} failed", severity="error", timeout=15, markup=False)
            if job.failed is not None:
                job.failed(message)

    def action_cancel(self) -> None:
        """Cancel the newest running job (it keeps what it finished); else leave a focused list."""
        job = next((j for j in reversed(self.running) if not j.cancel.is_set()), None)
        if job is not None:
            job.cancel.set()
            self.set_status(f"cancelling {job.label}… what finished is kept")
            self.running = self.running
        elif isinstance(self.focused, (OptionList, Tree)):
            self.query_one(PathView).focus()

    def cancel_jobs(self) -> None:
        for job in self.running:
            job.cancel.set()

    async def action_quit(self) -> None:
        """Quit; with a job running, ask first (a cancelled job keeps what it finished)."""
        if not self.running:
            self.exit()
            return

        def answer(quit_anyway: bool | None) -> None:
            if quit_anyway:
                self.cancel_jobs()
                self.exit()

        self.push_screen(QuitScreen([j.describe() for j in self.running]), answer)

    def model_ready(self) -> bool:
        """Whether there is a node to work on and a model loaded (else says what is missing)."""
        if self.node_id is None:
            self.notify(f"Write a prompt first ({self.key_for('new_root')}).", timeout=3)
            return False
        if self.backend is None:
            self.notify("The model is still loading (or failed to load: see the status line).", timeout=3)
            return False
        return True

    def can_run_model(self) -> bool:
        """model_ready(), and no job on the model running."""
        if not self.model_ready():
            return False
        busy = next((j for j in self.running if j.lane == "model"), None)
        if busy is not None:
            self._refuse(busy)
            return False
        return True

    def _refuse(self, busy: Job, label: str = "") -> None:
        """Say that a job was not started because `busy` runs (a notice, and the status line that stays)."""
        text = f"{busy.label} is still running ({self.key_for('cancel')} cancels it)" + (
            f": {label} not started." if label else "."
        )
        self.set_status(text)
        self.notify(text, title="busy", timeout=4)

    def refresh_nodes(self, *parents: int | None) -> None:
        """Show nodes a job or a screen added under `parents` in the tree and the children list."""
        self.grown = parents

    # -- generating ----------------------------------------------------------
    def action_generate(self) -> None:
        if self.node_id is None:
            self.action_new_root()
            return
        if not self.can_run_model():
            return
        node_id, session, backend, params = self.node_id, self.session, self.backend, self.params
        self._live, self._live_parent = {}, node_id
        self.live = {}

        def listen(event: object) -> None:
            if isinstance(event, TokenEvent):
                self.post_message(TokenGrown(event.branch, event.token.text))
            elif isinstance(event, Notice):
                self.post_message(GenerationNotice(event.text))
            elif isinstance(event, tuple) and event[0] == "node":
                self.post_message(BranchSaved(event[1], event[2]))

        def body(progress: ProgressFn, cancel: Cancel) -> GenerationResult:
            return generate_children(
                session,
                backend,
                node_id,
                params,
                cancel=cancel,
                listener=listen,
                progress=progress,
                live=True,  # the tokens are shown as they arrive
            )

        def done(result: GenerationResult) -> None:
            self._end_generation(node_id)
            self.set_status(
                f"{plural(len(result.nodes), 'branch')} from node {node_id}"
                + (" (cancelled: partial branches marked incomplete)" if result.cancelled else "")
            )

        self.start_job(
            "generate", f"generating from node {node_id}", body, done, failed=lambda _: self._end_generation(node_id)
        )

    def _end_generation(self, node_id: int) -> None:
        self._live = {}
        self.set_reactive(LoomApp.live, {})
        self.refresh_nodes(node_id)

    def on_token_grown(self, msg: TokenGrown) -> None:
        if self._live_parent is None:  # a generation stopped with its session: its tokens are not shown
            return
        self._live[msg.branch] = self._live.get(msg.branch, "") + msg.text
        self._throttled_children()

    def on_branch_saved(self, msg: BranchSaved) -> None:
        self._live.pop(msg.branch, None)
        self.live = dict(self._live)  # the children list reads the saved branch among the rows

    def on_generation_notice(self, msg: GenerationNotice) -> None:
        self.notify(msg.text, title="note", timeout=8)

    def live_here(self) -> dict[int, str]:
        """The growing branches, when the current node is the one they grow from."""
        return self.live if self.node_id == self._live_parent else {}

    def _throttled_children(self) -> None:
        if not getattr(self, "_children_pending", False):
            self._children_pending = True

            def flush() -> None:
                self._children_pending = False
                if self._live_parent is not None:
                    self.live = dict(self._live)

            self.set_timer(0.05, flush)

    # -- editing -------------------------------------------------------------
    def action_edit(self) -> None:
        if not self.path:
            self.action_new_root()
            return
        node = self.path[-1]

        def done(text: str | None) -> None:
            if text is None or text == node.text:
                return
            new = edit_node(self.session, node, text)
            self.refresh_nodes(node.parent_id)
            self.show_node(new.id)
            self.notify(
                f"Saved as node {new.id}, derived from node {node.id} (kept). Press {self.key_for('generate')} to generate from it.",
                timeout=4,
            )

        self.push_screen(EditScreen(node.text, f"Edit node {node.id} ({node.author}): saved as a new sibling"), done)

    def action_new_root(self) -> None:
        def done(text: str | None) -> None:
            if text is None:
                return
            root = self.session.add_node(None, text, "prompt")
            self.refresh_nodes(None)
            self.show_node(root.id)

        self.push_screen(EditScreen("", "New prompt: type or paste the root text", "save as a new root"), done)

    # -- settings, sessions, help -------------------------------------------
    def action_settings(self) -> None:
        def done(result) -> None:
            if result is None:
                return
            params, model = result
            self.params = params
            self.session.set_state("params", params.to_dict())
            if model != self.model_ref or self.backend is None:
                self.model_ref = model
                self.backend = None
                self.load_model(model)
            self.notify("Settings saved.", timeout=2)

        from ..experiments.models import known_models

        models = known_models(self.config)
        self.push_screen(SettingsScreen(self.params, self.model_ref, models, self._sources()), done)

    def _sources(self) -> dict[str, str]:
        """Where each setting the dialog shows comes from, by the one resolver."""
        try:
            resolved = resolve(self.session, config=self.config)
        except ParamError:
            return {}
        if self.model_ref != resolved.model:
            resolved.sources["model"] = "this app"  # chosen at start-up (loom --model), not yet stored
        return resolved.sources

    def action_sessions(self) -> None:
        def done(path: Path | None) -> None:
            if path is not None:
                self.switch_session(path)

        self.push_screen(SessionsScreen(self.sessions_dir, self.session.path), done)

    def switch_session(self, path: Path) -> None:
        """Open the session at `path` in place of this one, with its own model and settings."""
        if path.resolve() == self.session.path.resolve():
            return
        made = not path.exists()
        try:
            new = Session(path)
            model = resolve(new, config=self.config).model  # the new session's model, by the one resolver
        except (StoreError, ParamError) as exc:
            self.notify(str(exc), title="cannot open session", severity="error", timeout=10)
            return
        self.cancel_jobs()  # they work on the old session: each stops at its next step, keeping what it made
        if made:
            self._created.add(new.path.resolve())
        old = self.session
        if not self._remove_if_unused(old):
            old.close()
        self.session = new
        self._live, self._live_parent = {}, None  # a cancelled generation's branches belong to the old session
        self.set_reactive(LoomApp.live, {})
        self.query_one(PathView).set_marks({})  # they name another session's nodes
        self._seen_version = (new, new.data_version())
        if model != self.model_ref or self.backend is None:
            self.model_ref, self.backend = model, None  # nothing generates with the old session's model
            self.load_model(model)
        else:
            self.set_status(f"model {self.backend.name}")
        self.params = self._session_params(new)
        self.show_node(new.current)
        if new.current is None:
            self.action_new_root()

    def action_next_theme(self) -> None:
        names = sorted(self.themes)
        i = names.index(self.loom_theme.name) if self.loom_theme.name in names else -1
        self.use_theme(names[(i + 1) % len(names)])

    def use_theme(self, name: str) -> None:
        self.theme = name  # watch_theme brings the palette along
        self.notify(f"Theme: {name}", timeout=2)

    def watch_theme(self, name: str) -> None:
        """However the theme changes (ctrl+t, the palette, code), the probability palette follows."""
        if name not in self.themes:
            return
        self.loom_theme = self.themes[name]  # the panels watch it

    # -- the features' keys (each feature holds its own state and opens its own screens) --
    def action_search(self) -> None:
        self.library.search()

    def action_bookmark(self) -> None:
        self.library.bookmark()

    def action_bookmarks(self) -> None:
        self.library.bookmarks()

    def action_tag(self) -> None:
        self.library.tag()

    def action_import(self) -> None:
        self.library.import_tree()

    def action_export(self) -> None:
        self.library.export()

    def action_replay(self) -> None:
        self.attractors.replay()

    def action_mark_compare(self) -> None:
        self.attractors.mark_compare()

    def action_compare(self) -> None:
        self.attractors.compare()

    def action_sweep(self) -> None:
        self.attractors.sweep()

    def action_report(self) -> None:
        self.attractors.report()

    def action_multiverse(self) -> None:
        self.multiverse.multiverse()

    def action_distribution(self) -> None:
        self.multiverse.distribution()

    def action_candidates(self) -> None:
        self.multiverse.candidates()

    def action_versus(self) -> None:
        self.multiverse.versus()

    def action_forks(self) -> None:
        open_forks(self)

    def action_help(self) -> None:
        self.push_screen(HelpScreen())

    def action_collapse(self) -> None:
        open_collapse(self)

    def get_system_commands(self, screen: Screen) -> Iterable[SystemCommand]:
        for cmd in super().get_system_commands(screen):
            if cmd.callback != self.action_change_theme:  # Textual's picker: loom's own theme commands are below
                yield cmd
        if screen is not self.screen_stack[0]:
            return  # the main screen's actions act on the main screen only
        for k in self.keys_table():
            if k.action == "quit":
                continue
            yield SystemCommand(k.description, f"key: {k.shown}", lambda a=k.action: self.run_action(a))
        for name in sorted(self.themes):
            yield SystemCommand(f"Theme: {name}", "colours and probability palette", lambda n=name: self.use_theme(n))

    def on_unmount(self) -> None:
        self._keys_first.resume()
        self.cancel_jobs()
        self._remove_if_unused(self.session)

    def _remove_if_unused(self, session: Session) -> bool:
        """Remove a session file this app made (a new name, or "+ new session")
        where no node was ever added: a new name opened and left leaves nothing
        behind. Returns whether it was removed (the session is closed then)."""
        path = session.path
        if path.resolve() not in self._created or session.readonly:
            return False
        try:
            if session.count():
                return False
        except sqlite3.Error:  # unreadable now: leave the file as it is
            return False
        session.close()
        self._created.discard(path.resolve())
        for p in (path, path.with_name(path.name + "-wal"), path.with_name(path.name + "-shm")):
            try:
                p.unlink(missing_ok=True)
            except OSError as exc:  # kept (a folder turned read-only): harmless, an empty session
                self.log.warning(f"{p}: could not remove the unused new session file ({exc})")
        return True


def context_label(node) -> str:
    """How the model that wrote `node` got its context, for the title bar."""
    form = (node.meta or {}).get("context")
    if not isinstance(form, dict) or node.author != "model":
        return ""
    label = (
        f" · {node.model} saw token ids" if form.get("form") == "ids" else f" · {node.model} saw text (re-tokenised)"
    )
    if form.get("retokenised"):
        label += (
            f"; node{'s' if len(form['retokenised']) != 1 else ''} {', '.join(map(str, form['retokenised']))} as text"
        )
    window = form.get("window")
    if isinstance(window, dict) and window.get("start"):  # the path was longer than the model's window
        label += f"; tokens {window['start']:,}-{window.get('end', 0):,} of the path"
    return label
