"""loom from Python: the same experiments the CLI and the app run, with the
same settings resolver and the same stored records, returning typed results
(`.to_pandas()`, `.to_csv()`, `.to_dict()`).

    import loom
    s = loom.open_session("tale")              # a name in the sessions folder, or a path
    r = loom.report(s, n=40, max_tokens=24)    # sampled on the session's model, stored as a record
    r.to_pandas()                              # one row per sample, numeric columns

Long calls show a progress bar (tqdm's, fitted to a notebook or a terminal,
when tqdm is installed; `progress=False` for none, or a function that takes
each `Progress`) and stop cleanly on Ctrl-C or a notebook's stop
button: what finished is kept and returned."""

from __future__ import annotations

import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

from .experiments.base import Cancel, Progress, ProgressFn
from .experiments.collapse import CollapseResult
from .experiments.collapse import collapse as run_collapse
from .experiments.compare import Comparison, ReplayComparison, compare_nodes, replay_and_compare, store_comparison
from .experiments.distribution import DistributionResult
from .experiments.distribution import distribution as run_distribution
from .experiments.edit import Perturbation, edited_text, token_alternative
from .experiments.edit import edit as run_edit
from .experiments.edit import fork as run_fork
from .experiments.forks import DEFAULTS as FORKS_DEFAULTS
from .experiments.forks import ForksResult, path_model
from .experiments.forks import forks as run_forks
from .experiments.generate import GenerationResult, generate_children
from .experiments.global_attractors import DEFAULTS as GLOBAL_DEFAULTS
from .experiments.global_attractors import GlobalResult, prompt_roots
from .experiments.global_attractors import global_attractors as run_global
from .experiments.models import Backend, open_for, open_model
from .experiments.multiverse import MultiverseResult
from .experiments.multiverse import multiverse as run_multiverse
from .experiments.path import TokenPath, token_path
from .experiments.profile import ProfileResult, path_profile
from .experiments.report import ENDING_WORDS, THRESHOLD, ReportResult, report_existing
from .experiments.report import report as run_report
from .experiments.score import ScoreResult, gather
from .experiments.score import score as run_score
from .experiments.sessions import new_session as make_session
from .experiments.settings import Resolved, resolve, sessions_dir
from .experiments.sweep import SweepResult
from .experiments.sweep import sweep as run_sweep
from .experiments.vs import VersusResult, compare_models
from .store import Session, resolve_session
from .tree import GenerationParams

T = TypeVar("T")


def open_session(name_or_path: str | Path, *, readonly: bool = False) -> Session:
    """An existing session, by name (in the sessions folder) or path."""
    path = resolve_session(str(name_or_path), sessions_dir())
    if not path.exists():
        raise FileNotFoundError(f"{path}: no such session (make one with loom.new_session)")
    return Session(path, readonly=readonly)


def new_session(name_or_path: str | Path, prompt: str, *, model: str | None = None) -> Session:
    """A new session whose root is `prompt`; `model` becomes the session's model."""
    folder = sessions_dir()
    path = resolve_session(str(name_or_path), folder)
    if path.parent == folder:
        folder.mkdir(parents=True, exist_ok=True)
    return make_session(path, prompt, model=model)


def settings(session: Session | None = None, model: str | None = None, **flags: Any) -> Resolved:
    """The model and generation settings a run would use, and where each came
    from: these flags, then the session's, the model profile's, the config's, loom's."""
    return resolve(session, model=model, flags=flags)


def load_model(ref: str) -> Backend:
    """A model by reference (demo, demo-wedding, a folder, a profile, openai:MODEL@URL),
    loaded once per process and kept."""
    return open_model(ref)


def _node(session: Session, node: int | None) -> int:
    node_id = session.current if node is None else node
    if node_id is None:
        raise ValueError(f"{session.path} has no nodes")
    session.node(node_id)  # KeyError names a node that does not exist
    return node_id


def _bar(show: bool | ProgressFn) -> tuple[ProgressFn | None, Callable[[], None]]:
    """A tqdm bar fed by Progress reports (tqdm.auto picks the notebook widget in Jupyter),
    or the caller's own function, or none."""
    if callable(show):
        return show, lambda: None
    if not show:
        return None, lambda: None
    try:
        from tqdm.auto import tqdm
    except ImportError:
        return None, lambda: None
    bar: list[Any] = []

    def update(p: Progress) -> None:
        if not bar:
            bar.append(tqdm(total=p.total, unit=f" {p.unit}", leave=True))
        bar[0].update(p.done - bar[0].n)  # update() redraws at most every tqdm.mininterval

    return update, lambda: bar[0].close() if bar else None


def _interruptible(job: Callable[[Cancel, ProgressFn | None], T], progress: bool | ProgressFn) -> T:
    """Run `job` in a thread so Ctrl-C (a notebook's stop button) sets its cancel
    token: it then stops at its next step and returns what it finished. No event
    loop is started, so this works inside a notebook's running one."""
    cancel = Cancel()
    update, close = _bar(progress)
    value: list[T] = []
    error: list[BaseException] = []
    # an Event, not Thread.join: a join interrupted by Ctrl-C can return early on CPython 3.11
    finished = threading.Event()

    def work() -> None:
        try:
            value.append(job(cancel, update))
        except BaseException as exc:  # handed to the caller's thread below
            error.append(exc)
        finally:
            finished.set()

    threading.Thread(target=work, name="loom-experiment", daemon=True).start()
    try:
        while not finished.wait(0.1):
            pass
    except KeyboardInterrupt:
        cancel.set()
        finished.wait()
    finally:
        close()
    if error:
        raise error[0]
    return value[0]


def _resolved(
    session: Session, model: str | None, flags: dict[str, Any], experiment: dict[str, Any] | None = None
) -> tuple[Backend, GenerationParams]:
    r = resolve(session, model=model, flags=flags, experiment=experiment)
    return open_for(session, r.model, named=bool(model), params=r.params), r.params


def generate(
    session: Session,
    node: int | None = None,
    *,
    model: str | None = None,
    progress: bool | ProgressFn = True,
    **flags: Any,
) -> GenerationResult:
    """Branches from `node` (default: the current node), committed as they finish.
    `flags` are generation settings (n, max_tokens, temperature, seed, ...)."""
    node_id = _node(session, node)
    backend, params = _resolved(session, model, flags)

    def job(cancel: Cancel, update: ProgressFn | None) -> GenerationResult:
        return generate_children(session, backend, node_id, params, cancel=cancel, progress=update)

    return _interruptible(job, progress)


def _generation(session: Session, generate: bool, model: str | None, flags: dict[str, Any]) -> tuple[Any, Any]:
    if not generate:
        if flags or model:
            raise TypeError(f"{', '.join(sorted(flags)) or 'model'}: generation settings apply only with generate=True")
        return None, None
    return _resolved(session, model, flags)


def path(session: Session, node: int | None = None, *, theme: str | None = None) -> TokenPath:
    """The path from the root to `node` (default: the current node): its text, its
    tokens with their alternatives (`.rows()`, `.to_pandas()`), and in a notebook
    the tokens coloured by probability with the alternatives on hover (the HTML of
    `loom export -f html`; `theme` names the colours, default the config's)."""
    return token_path(session, _node(session, node), theme)


def edit(
    session: Session,
    node: int | None = None,
    text: str | None = None,
    *,
    replace: tuple[str, str] | None = None,
    generate: bool = False,
    model: str | None = None,
    progress: bool | ProgressFn = True,
    **flags: Any,
) -> Perturbation:
    """`node` (default: the current node) with new `text`, or with every occurrence of
    replace[0] made replace[1], saved as a new sibling derived from it (`loom edit`).
    `generate=True` continues the new node at once with the generation `flags`.
    Raises EditError (nothing stored) when the edit cannot be made."""
    node_id = _node(session, node)
    edited_text(session.node(node_id), text, replace)  # a bad edit fails before a model loads
    backend, params = _generation(session, generate, model, flags)

    def job(cancel: Cancel, update: ProgressFn | None) -> Perturbation:
        return run_edit(
            session, node_id, text, replace=replace, backend=backend, params=params, cancel=cancel, progress=update
        )

    return _interruptible(job, progress)


def fork(
    session: Session,
    node: int | None,
    token: int,
    *,
    alt: str | None = None,
    rank: int | None = None,
    generate: bool = False,
    model: str | None = None,
    progress: bool | ProgressFn = True,
    **flags: Any,
) -> Perturbation:
    """A new sibling of `node` that keeps its tokens before `token` (counted from 0)
    and puts a stored alternative there, named by its text (`alt`) or its `rank`
    (1 = the most likely) (`loom fork`). `generate=True` continues it at once.
    Raises EditError (nothing stored) when there is no such token or alternative."""
    node_id = _node(session, node)
    token_alternative(session.node(node_id), token, alt, rank)
    backend, params = _generation(session, generate, model, flags)

    def job(cancel: Cancel, update: ProgressFn | None) -> Perturbation:
        return run_fork(
            session, node_id, token, text=alt, rank=rank, backend=backend, params=params, cancel=cancel, progress=update
        )

    return _interruptible(job, progress)


def report(
    session: Session,
    node: int | None = None,
    *,
    model: str | None = None,
    existing: bool = False,
    temperatures: list[float] | None = None,
    keep: str = "record",
    threshold: float = THRESHOLD,
    ending_words: int = ENDING_WORDS,
    attractors: list[Any] | None = None,
    save: bool = True,
    progress: bool | ProgressFn = True,
    **flags: Any,
) -> ReportResult:
    """The attractor report of `loom report`: samples (default 40), meaning
    clusters, attractor rates with Wilson intervals, diversity; stored as a record.
    `existing=True` reports on the node's children and samples nothing."""
    node_id = _node(session, node)
    if existing:
        return report_existing(
            session, node_id, threshold=threshold, ending_words=ending_words, attractors=attractors, save=save
        )
    backend, params = _resolved(session, model, flags, experiment={"n": 40})

    def job(cancel: Cancel, update: ProgressFn | None) -> ReportResult:
        return run_report(
            session,
            backend,
            node_id,
            params,
            temperatures=temperatures,
            keep=keep,
            threshold=threshold,
            ending_words=ending_words,
            attractors=attractors,
            save=save,
            progress=update,
            cancel=cancel,
        )

    return _interruptible(job, progress)


def sweep(
    session: Session,
    node: int | None = None,
    k: int = 6,
    *,
    model: str | None = None,
    kinds: list[str] | None = None,
    phrase: str | None = None,
    seed: int = 0,
    run: int = 4,
    level: str = "auto",
    progress: bool | ProgressFn = True,
    **flags: Any,
) -> SweepResult:
    """k perturbations of `node`, each replayed like its original continuation
    and compared with it (`loom sweep`); stored as a record."""
    node_id = _node(session, node)
    backend, params = _resolved(session, model, flags)

    def job(cancel: Cancel, update: ProgressFn | None) -> SweepResult:
        return run_sweep(
            session,
            backend,
            node_id,
            k,
            kinds=kinds,
            phrase=phrase,
            seed=seed,
            params=params,
            run=run,
            level=level,
            cancel=cancel,
            progress=update,
        )

    return _interruptible(job, progress)


def compare(
    session: Session,
    a: int,
    b: int,
    *,
    run: int = 4,
    level: str = "auto",
    include_edit: bool = False,
    save: bool = True,
) -> Comparison:
    """Where the paths to `a` and `b` diverge and reconverge (`loom compare`)."""
    comp = compare_nodes(session, a, b, run, level, include_edit)
    if save and not session.readonly:
        store_comparison(session, comp, include_edit=include_edit)
    return comp


def distribution(
    session: Session,
    node: int | None = None,
    *,
    token: int | None = None,
    k: int = 10,
    model: str | None = None,
    save: bool = True,
) -> DistributionResult:
    """The top `k` next tokens after `node` (or before its token `token`, from
    the context that token was sampled in), with the entropy (`loom dist`)."""
    node_id = _node(session, node)
    backend, _ = _resolved(session, model, {})
    return run_distribution(session, backend, node_id, token=token, k=k, save=save and not session.readonly)


def score(
    session: Session,
    candidates: list[str] | None = None,
    node: int | None = None,
    *,
    presets: list[str] | None = None,
    files: list[str] | None = None,
    separator: str | None = None,
    end: str = "",
    answer: str | None = None,
    model: str | None = None,
    save: bool = True,
) -> ScoreResult:
    """The probability of each candidate after `node`, normalised over the
    candidates (`loom score`); `presets=["numbers"]` adds 0-100, scored as
    complete answers where the model gives its whole distribution."""
    node_id = _node(session, node)
    backend, _ = _resolved(session, model, {})
    cands = gather(candidates or [], presets or [], files or [])
    return run_score(
        session,
        backend,
        node_id,
        cands,
        separator=separator,
        end=end,
        answer=answer,
        presets=presets or [],
        save=save and not session.readonly,
    )


def profile(session: Session, node: int | None = None, *, model: str | None = None, save: bool = True) -> ProfileResult:
    """The profile of the path to `node` (`loom show --plot/--csv`): every token the
    models wrote along it, its probability and the entropy it was sampled from: a
    lower bound from the stored alternatives, or exact from `model` at the nodes it
    wrote (then stored as a record). `.plot()` draws it."""
    node_id = _node(session, node)
    return path_profile(session, node_id, load_model(model) if model else None, save=save and not session.readonly)


def multiverse(
    session: Session,
    node: int | None = None,
    *,
    depth: int = 3,
    k: int = 5,
    mass: float | None = None,
    model: str | None = None,
    save: bool = True,
    progress: bool | ProgressFn = True,
) -> MultiverseResult:
    """The block multiverse after `node`: the most likely continuations with
    their exact sequence probabilities (`loom multiverse`)."""
    node_id = _node(session, node)
    backend, _ = _resolved(session, model, {})

    def job(cancel: Cancel, update: ProgressFn | None) -> MultiverseResult:
        return run_multiverse(
            session,
            backend,
            node_id,
            depth,
            k,
            mass,
            save=save and not session.readonly,
            progress=update,
            cancel=cancel,
        )

    return _interruptible(job, progress)


def vs(
    session: Session,
    model_a: str,
    model_b: str,
    node: int | None = None,
    *,
    progress: bool | ProgressFn = True,
    **flags: Any,
) -> VersusResult:
    """The same node on two models with the same seeds (`loom vs`); the
    branches are children of the node; neither model becomes the session's."""
    node_id = _node(session, node)
    params = resolve(session, model=model_a, flags=flags).params
    backends = [load_model(model_a), load_model(model_b)]

    def job(cancel: Cancel, update: ProgressFn | None) -> VersusResult:
        return compare_models(session, backends, node_id, params, cancel=cancel, progress=update)

    return _interruptible(job, progress)


def replay(
    session: Session,
    node: int | None = None,
    *,
    original_child: int | None = None,
    run: int = 4,
    level: str = "auto",
    include_edit: bool = False,
) -> ReplayComparison:
    """Regenerate below the edit at or above `node` like the original
    continuation (its model, settings, stopping rule and seed), then compare
    the two (`loom replay`); stored as a "compare" record."""
    node_id = _node(session, node)

    def job(cancel: Cancel, update: ProgressFn | None) -> ReplayComparison:
        return replay_and_compare(
            session,
            node_id,
            original_child=original_child,
            run=run,
            level=level,
            include_edit=include_edit,
            cancel=cancel,
        )

    return _interruptible(job, False)


def collapse(
    session: Session,
    node: int | None = None,
    *,
    base: str,
    tuned: str | None = None,
    only_node: bool = False,
    save: bool = True,
    progress: bool | ProgressFn = True,
) -> CollapseResult:
    """Collapse versus temperature (`loom collapse`): the single temperature on the
    `base` model that brings it closest (KL) to the `tuned` one (default: the
    session's model) along the path to `node`, each position's own best T, the KL
    left over and both entropies; stored as a record. `.plot("f.png")` draws it."""
    node_id = _node(session, node)
    a = load_model(resolve(session, model=tuned).model)
    b = load_model(base)

    def job(cancel: Cancel, update: ProgressFn | None) -> CollapseResult:
        return run_collapse(
            session, a, b, node_id, scope="node" if only_node else "path", save=save, progress=update, cancel=cancel
        )

    return _interruptible(job, progress)


def _attractor(attractor: Any) -> Any:
    """An Attractor, or a regular expression made into one named "attractor"."""
    from .analysis.attractors import Attractor

    return Attractor("attractor", "regex", pattern=attractor) if isinstance(attractor, str) else attractor


def forks(
    session: Session,
    node: int | None = None,
    *,
    attractor: Any = None,
    model: str | None = None,
    alternatives: int = 3,
    stride: int = 1,
    start: int | None = None,
    end: int | None = None,
    share: float = 0.9,
    save: bool = True,
    progress: bool | ProgressFn = True,
    **options: Any,
) -> ForksResult:
    """Forking tokens and the point of no return along the path to `node`
    (`loom forks`): at each position the path's token and its `alternatives`
    most likely alternatives are continued `n` times (default 8, max_tokens
    24); `attractor` is an Attractor or a regular expression (None: the
    biggest meaning cluster). `options` are generation settings (n, max_tokens,
    temperature, seed, ...) and the test's (alpha, min_change, min_prob,
    cluster_similarity, cluster_words). Stored as a record."""
    node_id = _node(session, node)
    test = {
        k: options.pop(k)
        for k in ("alpha", "min_change", "min_prob", "cluster_similarity", "cluster_words")
        if k in options
    }
    if model:
        backend, params = _resolved(session, model, options, experiment=FORKS_DEFAULTS)
    else:  # the model that wrote the path (not made the session's model)
        r = resolve(session, model=path_model(session, node_id), flags=options, experiment=FORKS_DEFAULTS)
        backend, params = load_model(r.model), r.params

    def job(cancel: Cancel, update: ProgressFn | None) -> ForksResult:
        return run_forks(
            session,
            backend,
            node_id,
            params,
            attractor=_attractor(attractor),
            alternatives=alternatives,
            stride=stride,
            start=start,
            end=end,
            share=share,
            save=save,
            progress=update,
            cancel=cancel,
            **test,
        )

    return _interruptible(job, progress)


def global_attractors(
    session: Session,
    prompts: list[str] | None = None,
    *,
    model: str | None = None,
    attractors: list[Any] | None = None,
    keep: str = "record",
    recurring: int = 2,
    save: bool = True,
    progress: bool | ProgressFn = True,
    **options: Any,
) -> GlobalResult:
    """Which attractors recur across prompts (`loom global`): `n` samples
    (default 16) of each prompt, meaning clusters over all of them pooled,
    each cluster's and attractor's rate per prompt and pooled. `prompts`
    become roots of the session (an existing root with the same text is
    reused); None takes every root. `options` are generation settings and
    cluster_similarity, cluster_words. Stored as a record."""
    clusters = {k: options.pop(k) for k in ("cluster_similarity", "cluster_words") if k in options}
    backend, params = _resolved(session, model, options, experiment=GLOBAL_DEFAULTS)
    if prompts is None:
        roots = [n.id for n in session.roots()]
    else:
        roots = [r for r, _ in prompt_roots(session, list(prompts))]
    found = [_attractor(a) for a in attractors or []]

    def job(cancel: Cancel, update: ProgressFn | None) -> GlobalResult:
        return run_global(
            session,
            backend,
            roots,
            params,
            attractors=found,
            keep=keep,
            recurring=recurring,
            save=save,
            progress=update,
            cancel=cancel,
            **clusters,
        )

    return _interruptible(job, progress)
