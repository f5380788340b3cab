"""Scaling through serving engines: many requests in flight, n split into
chunks, several base URLs sharing the work, a report's temperatures at once,
whole replies where nobody watches, batched commits; and the same results and
nodes as one-at-a-time streamed generation. Against real HTTP servers on
127.0.0.1 (tests/fake_openai_server.py): the demo model's own numbers, or the
instant server's canned replies."""

from __future__ import annotations

import asyncio
import sqlite3
import time
from pathlib import Path

import pytest
from fake_openai_server import FakeOpenAI

from loom.backends.openai_compat import OpenAIBackend
from loom.backends.openai_logprobs import TextAligner, parse_logprobs, plain_legacy_tokens
from loom.config import Profile
from loom.experiments.generate import generate_children
from loom.experiments.replay import sample_continuations
from loom.experiments.report import report
from loom.store import Session
from loom.tree import BranchDone, GenerationParams, TokenEvent, TokensEvent

PROMPT = "Once upon a time"


@pytest.fixture(scope="module")
def model_server(demo_backend):
    with FakeOpenAI(demo_backend) as srv:
        yield srv


@pytest.fixture(scope="module")
def instant():
    with FakeOpenAI(None, instant=True) as a, FakeOpenAI(None, instant=True) as b:
        yield a, b


@pytest.fixture(autouse=True)
def fresh(request, monkeypatch):
    monkeypatch.delenv("OPENAI_BASE_URL", raising=False)
    for name in ("model_server", "instant"):
        if name in request.fixturenames:
            servers = request.getfixturevalue(name)
            for srv in servers if isinstance(servers, tuple) else (servers,):
                srv.reset()


def backend(url, **kw) -> OpenAIBackend:
    kw.setdefault("max_retries", 0)
    return OpenAIBackend(Profile(name="fake", model="demo", base_url=url, **kw))


def completions(srv) -> list[dict]:
    return [r["body"] for r in srv.requests if r["path"].endswith("/completions")]


def collect(events) -> tuple[dict, dict]:
    """{(item, branch): tokens}, {(item, branch): BranchDone} from generate_many's events."""
    tokens: dict = {}
    done: dict = {}
    for item, ev in events:
        if isinstance(ev, TokenEvent):
            tokens.setdefault((item, ev.branch), []).append(ev.token)
        elif isinstance(ev, TokensEvent):
            tokens.setdefault((item, ev.branch), []).extend(ev.tokens)
        elif isinstance(ev, BranchDone):
            done[(item, ev.branch)] = ev
    return tokens, done


# -- requests: chunks, several servers, what is streamed -------------------------------------


def test_n_is_split_into_requests_of_max_n(instant):
    a, _ = instant
    b = backend(a.url, max_n=16)
    tokens, done = collect(b.generate_many([(PROMPT, GenerationParams(n=40, max_tokens=5, logprobs=3))], live=False))
    assert sorted(n for n in (r["n"] for r in completions(a))) == [8, 16, 16]
    assert len(done) == 40 and all(d.reason == "length" for d in done.values())
    assert all(len(tokens[(0, i)]) == 5 for i in range(40))


def test_several_base_urls_share_the_work(instant):
    a, b = instant
    be = backend([a.url, b.url], max_n=4)
    assert be.server.startswith("servers ") and a.url in be.server and b.url in be.server
    _, done = collect(be.generate_many([(PROMPT, GenerationParams(n=32, max_tokens=3))], live=False))
    assert len(done) == 32
    on_a, on_b = len(completions(a)), len(completions(b))
    assert on_a and on_b and on_a + on_b == 8  # both served, 8 requests of 4 in all
    assert be.requests_sent() == [on_a, on_b]
    assert be.identity()["server"] == [a.url, b.url]


def test_seeded_branches_go_to_several_servers_one_request_each(instant):
    a, b = instant
    be = backend([a.url, b.url], concurrency=1)  # one at a time on each
    collect(be.generate_many([(PROMPT, GenerationParams(n=6, max_tokens=2, seed=3))], live=False))
    seeds = sorted(r["seed"] for r in completions(a) + completions(b))
    assert seeds == [3, 4, 5, 6, 7, 8] and completions(a) and completions(b)
    assert a.max_in_flight == b.max_in_flight == 1


def test_whole_replies_unless_someone_watches(model_server, tmp_path):
    b = backend(model_server.url)
    with Session(tmp_path / "s.loom") as session:
        root = session.add_node(None, PROMPT, "prompt")
        generate_children(session, b, root.id, GenerationParams(n=2, max_tokens=4))
        assert [r.get("stream") for r in completions(model_server)] == [None]
        model_server.requests.clear()
        generate_children(session, b, root.id, GenerationParams(n=2, max_tokens=4), live=True)
        assert [r.get("stream") for r in completions(model_server)] == [True]


def test_a_sweep_of_temperatures_runs_them_at_once(model_server, tmp_path):
    """The server sees requests of several temperatures in flight together (each
    waits a moment there, so that requests sent together surely overlap)."""
    model_server.delay = 0.3
    b = backend(model_server.url)
    with Session(tmp_path / "s.loom") as session:
        root = session.add_node(None, PROMPT, "prompt")
        result = report(
            session, b, root.id, GenerationParams(n=2, max_tokens=3), temperatures=[0.7, 1.0, 1.3], keep="nodes"
        )
    assert len(result.samples) == 6
    assert [s.temperature for s in result.samples] == [0.7, 0.7, 1.0, 1.0, 1.3, 1.3]  # grouped as asked
    assert model_server.max_temperatures == 3


def test_generation_from_inside_a_running_event_loop(instant):
    """A notebook runs an event loop on its thread: generation goes to a thread of its own."""
    a, _ = instant

    async def main():
        return collect(backend(a.url).generate_many([(PROMPT, GenerationParams(n=3, max_tokens=2))], live=False))

    tokens, done = asyncio.run(main())
    assert len(done) == 3 and all(len(t) == 2 for t in tokens.values())


def test_one_backend_serves_several_threads_at_once(instant):
    """The app generates in worker threads, each new: they share the backend's event loop."""
    import threading

    a, _ = instant
    b = backend(a.url, concurrency=2)
    done: dict[str, int] = {}

    def work(name: str, live: bool) -> None:
        items = [(PROMPT, GenerationParams(n=20, max_tokens=3))]
        done[name] = len(collect(b.generate_many(items, live=live))[1])

    for i in range(2):  # one after another, each on a thread of its own
        t = threading.Thread(target=work, args=(f"after{i}", i == 0))
        t.start()
        t.join()
    threads = [threading.Thread(target=work, args=(f"together{i}", i % 2 == 0)) for i in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert done == {name: 20 for name in ("after0", "after1", "together0", "together1", "together2", "together3")}
    assert a.max_in_flight <= 2  # the bound holds across threads
    b.close()


# -- the same numbers and the same tree as before ------------------------------------------


def node_data(node) -> tuple:
    return (
        node.params["temperature"],
        node.params["seed"],
        node.text,
        node.complete,
        node.meta["finish"],
        [(t.text, t.logprob, t.token_id, tuple(t.alternatives)) for t in node.tokens],
    )


def test_same_tree_as_one_temperature_at_a_time_streamed(model_server, tmp_path):
    """Seeded (so the server is deterministic): the report's nodes, drawn at once
    through whole replies, are the nodes that streamed one-temperature-at-a-time
    generation stores, token for token and alternative for alternative."""
    temps, params = [0.8, 1.2], GenerationParams(n=3, max_tokens=6, seed=11, logprobs=4)
    b = backend(model_server.url)
    with Session(tmp_path / "new.loom") as new, Session(tmp_path / "old.loom") as old:
        root = new.add_node(None, PROMPT, "prompt")
        samples, _ = sample_continuations(new, b, root.id, params, temperatures=temps, keep="nodes")
        old_root = old.add_node(None, PROMPT, "prompt")
        for t in temps:
            generate_children(old, b, old_root.id, params.replace(temperature=t), live=True)
        got = sorted(node_data(n) for n in (new.node(c.id) for c in new.children(root.id)))
        want = sorted(node_data(n) for n in (old.node(c.id) for c in old.children(old_root.id)))
    assert got == want and len(got) == 6
    assert sorted((s.temperature, s.seed, s.text) for s in samples) == sorted((w[0], w[1], w[2]) for w in want)


def test_record_samples_equal_the_nodes_samples(model_server, tmp_path):
    params = GenerationParams(n=4, max_tokens=5, seed=2, logprobs=3)
    b = backend(model_server.url)
    with Session(tmp_path / "s.loom") as session:
        root = session.add_node(None, PROMPT, "prompt")
        rec, _ = sample_continuations(session, b, root.id, params, temperatures=[0.9, 1.1], keep="record")
        nodes, _ = sample_continuations(session, b, root.id, params, temperatures=[0.9, 1.1], keep="nodes")

    def key(s):
        return (s.temperature, s.seed, s.text, [round(x, 6) for x in s.logprobs])

    assert sorted(map(key, rec)) == sorted(map(key, nodes))


LEGACY = [
    # plain ASCII tokens
    {
        "tokens": [" the", " king"],
        "token_logprobs": [-0.5, -1.25],
        "top_logprobs": [{" the": -0.5, " a": -1.5}, {" queen": -0.2, " king": -1.25}],
    },
    # a multi-byte character, whole in one token; a positive logprob clipped to 0
    {"tokens": [" caf", "é"], "token_logprobs": [-0.1, 0.0], "top_logprobs": [{" caf": -0.1}, {"é": 0.0, "e": -3.0}]},
    # an alternative that is a piece of a character
    {"tokens": [" ok"], "token_logprobs": [-0.3], "top_logprobs": [{" ok": -0.3, "bytes:\\xe2\\x80": -2.0}]},
]


@pytest.mark.parametrize("lp", LEGACY)
def test_quick_reading_equals_the_general_one(lp):
    text = "".join(lp["tokens"])
    quick = plain_legacy_tokens(lp, text, TextAligner())
    general = TextAligner().feed(parse_logprobs(lp), text)
    assert quick is not None
    assert list(quick) == general  # every field, every alternative
    assert quick.text == text and quick.logprobs == [t.logprob for t in general]


def test_quick_reading_leaves_partial_characters_to_the_general_one():
    lp = {"tokens": ["bytes:\\xe2\\x98", "bytes:\\x95"], "token_logprobs": [-1.0, -0.1], "top_logprobs": [{}, {}]}
    assert plain_legacy_tokens(lp, "☕", TextAligner()) is None
    assert plain_legacy_tokens(LEGACY[0], "not the text", TextAligner()) is None


# -- batched commits ------------------------------------------------------------------------


def committed(path: Path) -> int:
    conn = sqlite3.connect(f"{path.resolve().as_uri()}?mode=ro", uri=True)
    try:
        return conn.execute("SELECT count(*) FROM nodes").fetchone()[0]
    finally:
        conn.close()


def test_batched_commits_every_n_nodes_and_at_the_end(tmp_path):
    path = tmp_path / "b.loom"
    with Session(path) as s:
        root = s.add_node(None, PROMPT, "prompt")
        with s.batched(nodes=3, seconds=3600):
            s.add_node(root.id, " a", "model")
            s.add_node(root.id, " b", "model")
            assert committed(path) == 1  # the batch is not committed yet
            s.add_node(root.id, " c", "model")
            assert committed(path) == 4  # three nodes: committed together
            s.add_node(root.id, " d", "model")
            assert committed(path) == 4
        assert committed(path) == 5  # the block's end commits the rest


def test_batched_commits_a_waiting_batch_on_time(tmp_path):
    path = tmp_path / "t.loom"
    with Session(path) as s:
        root = s.add_node(None, PROMPT, "prompt")
        with s.batched(nodes=1000, seconds=0.05):
            s.add_node(root.id, " a", "model")
            for _ in range(400):  # the timer commits it, with no further write
                if committed(path) == 2:
                    break
                time.sleep(0.025)
            assert committed(path) == 2


def test_batched_block_that_raises_keeps_its_whole_nodes(tmp_path):
    path = tmp_path / "r.loom"
    with Session(path) as s:
        root = s.add_node(None, PROMPT, "prompt")
        with pytest.raises(RuntimeError), s.batched(nodes=100, seconds=3600):
            s.add_node(root.id, " a", "model")
            raise RuntimeError("the generation broke")
        assert committed(path) == 2
        with s.bulk():  # a bulk block inside nothing: still all or nothing
            s.add_node(root.id, " b", "model")
        assert committed(path) == 3


def test_a_report_through_a_server_commits_its_nodes_in_batches(instant, tmp_path):
    a, _ = instant
    path = tmp_path / "n.loom"
    with Session(path) as session:
        root = session.add_node(None, PROMPT, "prompt")
        result = report(
            session,
            backend(a.url),
            root.id,
            GenerationParams(n=50, max_tokens=4),
            temperatures=[0.5, 1.5],
            keep="nodes",
        )
        assert len(result.samples) == 100
        assert committed(path) == 101  # all of them, before the result is shown
        kids = session.children(root.id, with_tokens=True)
        assert len(kids) == 100 and all(len(k.tokens) == 4 and len(k.tokens[0].alternatives) == 10 for k in kids)


def test_models_check_reaches_every_server_of_a_profile(instant, tmp_path, monkeypatch, capsys):
    from loom.cli import main

    a, b = instant
    dead = "http://127.0.0.1:9/v1"  # nothing listens there
    config = tmp_path / "config.toml"
    config.write_text(f'[profiles.farm]\nmodel = "demo"\nbase_url = ["{a.url}", "{b.url}"]\nmax_retries = 0\n')
    monkeypatch.setenv("LOOM_CONFIG", str(config))
    assert main(["models", "--check", "farm"]) == 0
    out = capsys.readouterr().out
    assert f"{a.url} and 1 more" in out and f"server:     {b.url}: model listed" in out
    config.write_text(f'[profiles.farm]\nmodel = "demo"\nbase_url = ["{a.url}", "{dead}"]\nmax_retries = 0\n')
    assert main(["models", "--check", "farm"]) == 1
    out = capsys.readouterr().out
    assert f"server:     {dead}: NOT reachable" in out and "connection refused" in out


def test_a_fault_of_looms_own_is_raised_to_the_caller(instant, monkeypatch):
    """A bug in reading a reply surfaces where the caller is, not lost on the event loop."""
    a, _ = instant
    b = backend(a.url)

    def broken(*args, **kwargs):
        raise ZeroDivisionError("a bug")

    monkeypatch.setattr(b, "_read_chunk", broken)
    with pytest.raises(ZeroDivisionError, match="a bug"):
        collect(b.generate_many([(PROMPT, GenerationParams(n=2, max_tokens=2))], live=False))
