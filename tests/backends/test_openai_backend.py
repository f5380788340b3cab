"""The OpenAI-compatible backend against a real HTTP server on 127.0.0.1 that
speaks the OpenAI wire format and runs the bundled demo model (so every
probability is the model's own), through the real `openai` client."""

from __future__ import annotations

import json
import math
import socket
import threading

import pytest

from loom.backends import BackendError, open_backend
from loom.backends.openai_compat import OpenAIBackend
from loom.backends.openai_logprobs import TextAligner, parse_logprobs
from loom.config import Profile
from loom.experiments.generate import generate_children
from loom.store import Session
from loom.tree import BranchDone, GenerationParams, Notice, TokenEvent

PROMPT = "Once upon a time"
FORCED = "café ☕ ok"  # multi-byte characters the demo tokenizer splits into partial-byte tokens


@pytest.fixture(autouse=True)
def fresh(fake_server, monkeypatch):
    monkeypatch.delenv("OPENAI_BASE_URL", raising=False)
    monkeypatch.delenv("LOOM_TEST_KEY", raising=False)
    yield


def backend(fake_server, **kw) -> OpenAIBackend:
    kw.setdefault("max_retries", 0)
    kw.setdefault("timeout", 30.0)
    return OpenAIBackend(
        Profile(name="fake", model="demo", base_url=fake_server.url, api_key_env="LOOM_TEST_KEY", **kw)
    )


def run(b, prompt=PROMPT, cancel=None, **params):
    params.setdefault("n", 1)
    params.setdefault("max_tokens", 6)
    events = list(b.generate(prompt, GenerationParams(**params), cancel))
    tokens: dict[int, list] = {}
    for e in events:
        if isinstance(e, TokenEvent):
            tokens.setdefault(e.branch, []).append(e.token)
    done = {e.branch: e for e in events if isinstance(e, BranchDone)}
    notices = [e.text for e in events if isinstance(e, Notice)]
    return tokens, done, notices


def text(tokens) -> str:
    return "".join(t.text for t in tokens)


# -- the same numbers as the model itself ------------------------------------------------


@pytest.mark.parametrize("api", ["completions", "chat"])
def test_seeded_branches_equal_the_local_model(fake_server, demo_backend, api):
    tokens, done, _ = run(backend(fake_server, api=api), n=2, seed=7, max_tokens=6, logprobs=3)
    for b in (0, 1):
        ref = [
            e.token
            for e in demo_backend.generate(PROMPT, GenerationParams(n=1, max_tokens=6, seed=7 + b, logprobs=3))
            if isinstance(e, TokenEvent)
        ]
        assert text(tokens[b]) == text(ref)
        assert [t.logprob for t in tokens[b]] == pytest.approx([t.logprob for t in ref], abs=1e-5)
        assert [a.text for a in tokens[b][0].alternatives] == [a.text for a in ref[0].alternatives]
        assert done[b].seed == 7 + b and done[b].reason in ("length", "stop")
    # one request per branch, each with its own seed, so a branch can be replayed alone
    assert sorted(r["body"]["seed"] for r in fake_server.requests) == [7, 8]


@pytest.mark.parametrize(
    "api,dialect,partial,stream",
    [
        ("completions", "legacy", "bytes", True),  # OpenAI/vLLM: bytes:\xe2\x80 tokens
        ("completions", "legacy", "bytes", False),
        ("completions", "legacy", "fffd", True),  # only U+FFFD known
        ("completions", "content", "bytes", True),  # llama.cpp/Ollama on /v1/completions, bytes arrays
        ("completions", "content", "fffd", False),
        ("chat", "content", "bytes", True),
        ("chat", "content", "fffd", True),
        ("chat", "content", "bytes", False),
    ],
)
def test_every_dialect_reassembles_multibyte_text(fake_server, demo_backend, api, dialect, partial, stream):
    fake_server.dialect, fake_server.partial, fake_server.force = dialect, partial, FORCED
    fake_server.offset_from_prompt = True  # legacy text_offset counted from the prompt: must not matter
    tokens, done, notices = run(backend(fake_server, api=api, stream=stream), max_tokens=50, logprobs=3)
    toks = tokens[0]
    assert text(toks) == FORCED
    assert not any("\ufffd" in t.text for t in toks)
    ids = demo_backend.tokenizer(FORCED, add_special_tokens=False)["input_ids"]
    expected = fake_server.forced(demo_backend.encode(PROMPT), ids, 3)
    assert len(toks) == len(ids) > len(FORCED.split())  # some tokens are pieces of characters
    assert [t.logprob for t in toks] == pytest.approx([lp for _, lp, _ in expected], abs=1e-4)
    assert all(t.token_id is None and t.raw for t in toks)
    assert not notices and done[0].reason == "length"


def test_sampled_token_missing_from_its_top_logprobs(fake_server):
    fake_server.drop_chosen, fake_server.force = True, "the end"
    toks = run(backend(fake_server), max_tokens=5, logprobs=5)[0][0]
    assert text(toks) == "the end"
    for t in toks:
        assert t.logprob is not None and t.text not in [a.text for a in t.alternatives]
        assert [a.logprob for a in t.alternatives] == sorted((a.logprob for a in t.alternatives), reverse=True)


@pytest.mark.parametrize("api", ["completions", "chat"])
def test_no_logprobs_still_generates_uncolored_and_tells_once(fake_server, tmp_path, api):
    fake_server.logprobs = False
    b = backend(fake_server, api=api)
    with Session(tmp_path / "s.loom", create=True) as session:
        root = session.add_node(None, PROMPT, "prompt")
        first = generate_children(session, b, root.id, GenerationParams(n=2, max_tokens=5, seed=1))
        second = generate_children(session, b, root.id, GenerationParams(n=1, max_tokens=5, seed=3))
        assert len(first.nodes) == 2 and len(second.nodes) == 1
        assert all(t.logprob is None for n in first.nodes + second.nodes for t in n.tokens)
        assert all(n.text and n.complete and n.mean_prob is None for n in first.nodes)
        notes = first.notices + second.notices
        assert len(notes) == 1 and "no logprobs" in notes[0] and fake_server.url in notes[0]


def test_cli_generate_without_logprobs_prints_no_probability(fake_server, tmp_path, monkeypatch, capsys):
    """It used to end in a TypeError formatting a mean probability of None."""
    from loom.cli import main

    fake_server.logprobs = False
    (tmp_path / "empty.toml").write_text("")
    monkeypatch.setenv("LOOM_CONFIG", str(tmp_path / "empty.toml"))
    path = str(tmp_path / "s.loom")
    assert main(["new", path, "--prompt", PROMPT]) == 0
    assert main(["generate", path, "--model", f"openai:demo@{fake_server.url}", "-n", "2", "--max-tokens", "3"]) == 0
    out = capsys.readouterr()
    assert "p̄=–" in out.out and "no logprobs" in out.err


# -- n, concurrency, extra fields --------------------------------------------------------


def test_fewer_choices_than_n_are_asked_for_in_parallel_and_remembered(fake_server):
    fake_server.max_n = 1  # like llama.cpp and Ollama
    b = backend(fake_server, concurrency=2)
    tokens, done, _ = run(b, n=3, max_tokens=4)
    assert sorted(done) == [0, 1, 2] and all(d.reason != "error" for d in done.values())
    assert all(tokens[i] for i in range(3))
    assert [r["body"]["n"] for r in fake_server.requests] == [3, 1, 1]
    assert fake_server.max_in_flight <= 2
    fake_server.requests.clear()
    run(b, n=2, max_tokens=4)
    assert [r["body"]["n"] for r in fake_server.requests] == [1, 1]  # no probe the second time


def test_a_server_that_cuts_parallel_requests_is_detected_and_the_branches_finish(fake_server, tmp_path):
    """llama-cpp-python's server ends a running stream, without a finish reason,
    when another request arrives. The cut branches are resumed where they were
    cut, one request at a time from then on, and the user is told."""
    fake_server.max_n = 1  # it ignores n, so branches go out in parallel
    fake_server.cancel_on_new, fake_server.chunk_delay = True, 0.1  # streams long enough to overlap on a busy machine
    b = backend(fake_server, concurrency=4)
    with Session(tmp_path / "s.loom") as session:
        root = session.add_node(None, PROMPT, "prompt")
        result = generate_children(session, b, root.id, GenerationParams(n=4, max_tokens=8, temperature=1.0))
        assert len(result.nodes) == 4
        assert all(n.complete and n.meta["finish"] in ("length", "eos", "stop") for n in result.nodes)
        assert all(len(n.tokens) == 8 or n.meta["finish"] != "length" for n in result.nodes)
        assert any("one request at a time" in note and "concurrency = 1" in note for note in result.notices)
        resumed = [r["body"]["prompt"] for r in fake_server.requests if r["body"] and r["body"]["prompt"] != PROMPT]
        assert resumed and all(p.startswith(PROMPT) for p in resumed)  # each resumed where it was cut
        fake_server.requests.clear()
        fake_server.max_in_flight = 0
        again = generate_children(session, b, root.id, GenerationParams(n=3, max_tokens=4))
        assert len(again.nodes) == 3 and fake_server.max_in_flight == 1  # remembered: one at a time
        assert not any("one request at a time" in note for note in again.notices)


def test_server_that_honours_n_gets_one_request(fake_server):
    tokens, done, _ = run(backend(fake_server), n=3, max_tokens=4)
    assert len(fake_server.requests) == 1 and fake_server.requests[0]["body"]["n"] == 3
    assert sorted(tokens) == [0, 1, 2] and all(d.seed is None for d in done.values())


def test_concurrency_limit_is_respected(fake_server):
    b = backend(fake_server, concurrency=1)
    run(b, n=3, seed=1, max_tokens=3)
    assert len(fake_server.requests) == 3 and fake_server.max_in_flight == 1


def test_extra_fields_and_samplers_pass_through(fake_server):
    extra = {"repetition_penalty": 1.1, "chat_template_kwargs": {"enable_thinking": False}}
    run(backend(fake_server, extra=extra), top_k=40, min_p=0.05, stop=["\n\n"], max_tokens=3)
    body = fake_server.requests[0]["body"]
    assert body["repetition_penalty"] == 1.1 and body["chat_template_kwargs"] == {"enable_thinking": False}
    assert body["top_k"] == 40 and body["min_p"] == 0.05 and body["stop"] == ["\n\n"]
    assert "xtc_threshold" not in body  # samplers left off are not sent to servers that may reject them


def test_chat_continues_the_text_as_an_assistant_turn(fake_server):
    run(backend(fake_server, api="chat", system="Continue the story."), max_tokens=2, logprobs=30)
    body = fake_server.requests[0]["body"]
    assert body["messages"] == [
        {"role": "system", "content": "Continue the story."},
        {"role": "assistant", "content": PROMPT},
    ]
    assert body["logprobs"] is True and body["top_logprobs"] == 20


def test_raw_flag_follows_the_profile(fake_server):
    toks = run(backend(fake_server, raw_logprobs=False), max_tokens=2)[0][0]
    assert toks and all(t.raw is False for t in toks)


def test_stop_string(fake_server):
    fake_server.force = "one. two. three"
    toks = run(backend(fake_server), stop=[" two"], max_tokens=20)[0][0]
    assert text(toks) == "one."


# -- faults --------------------------------------------------------------------------------


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_connection_refused():
    url = f"http://127.0.0.1:{free_port()}/v1"
    b = OpenAIBackend(Profile(name="gone", model="m", base_url=url, max_retries=0))
    with pytest.raises(BackendError, match="connection refused") as err:
        run(b)
    assert url in str(err.value) and "'gone'" in str(err.value)


def test_timeout(fake_server):
    fake_server.fault, fake_server.hang_s = "hang", 3.0
    with pytest.raises(BackendError, match="timeout"):
        run(backend(fake_server, timeout=0.3))


def test_bad_or_missing_key_named_but_never_shown(fake_server, monkeypatch, tmp_path):
    fake_server.api_key = "sk-right-key"
    b = backend(fake_server)  # created before the key is set: it is read at every request
    with pytest.raises(BackendError, match=r"401 unauthorized: \$LOOM_TEST_KEY is not set"):
        run(b)
    monkeypatch.setenv("LOOM_TEST_KEY", "sk-wrong-secret-value")
    with pytest.raises(BackendError, match=r"the key in \$LOOM_TEST_KEY was refused") as err:
        run(b)
    assert "sk-wrong-secret-value" not in str(err.value)
    monkeypatch.setenv("LOOM_TEST_KEY", "sk-right-key")
    with Session(tmp_path / "k.loom", create=True) as session:
        root = session.add_node(None, PROMPT, "prompt")
        assert generate_children(session, b, root.id, GenerationParams(n=1, max_tokens=3)).nodes
    assert fake_server.requests[-1]["auth"] == "Bearer sk-right-key"
    for f in tmp_path.iterdir():
        assert b"sk-right-key" not in f.read_bytes()


def test_forbidden(fake_server):
    fake_server.fault = "403"
    with pytest.raises(BackendError, match="403 forbidden"):
        run(backend(fake_server))


def test_unknown_model(fake_server):
    b = OpenAIBackend(Profile(name="typo", model="no-such-model", base_url=fake_server.url, max_retries=0))
    with pytest.raises(BackendError, match="404 not found.*'no-such-model'"):
        run(b)


def test_rate_limit_retries_then_succeeds(fake_server):
    fake_server.fault, fake_server.fault_times, fake_server.retry_after = "429", 2, "0.05"
    tokens, done, _ = run(backend(fake_server, max_retries=3), max_tokens=3)
    assert tokens[0] and done[0].reason != "error"
    assert len(fake_server.requests) == 3


def test_rate_limit_gives_up_after_bounded_retries(fake_server):
    fake_server.fault, fake_server.retry_after = "429", "0.02"
    with pytest.raises(BackendError, match="429 too many requests.*2 retries"):
        run(backend(fake_server, max_retries=2))
    assert len(fake_server.requests) == 3


@pytest.mark.parametrize("status", ["500", "503"])
def test_server_errors_retry_a_bounded_number_of_times(fake_server, status):
    fake_server.fault, fake_server.retry_after = status, "0.02"
    with pytest.raises(BackendError, match=f"server error {status}, still after 1 retries"):
        run(backend(fake_server, max_retries=1))
    assert len(fake_server.requests) == 2
    fake_server.requests.clear()
    fake_server.fault_times = 1
    tokens, _, _ = run(backend(fake_server, max_retries=1), max_tokens=2)
    assert tokens[0] and len(fake_server.requests) == 2


def test_malformed_json(fake_server):
    fake_server.fault = "malformed"
    with pytest.raises(BackendError, match="malformed"):
        run(backend(fake_server, stream=False))
    with pytest.raises(BackendError, match="malformed"):
        backend(fake_server).next_token_distribution(PROMPT)


@pytest.mark.parametrize(
    "fault,cause",
    [("cut", "ended before branch 0 finished"), ("malformed", "malformed"), ("stream_error", "CUDA out of memory")],
)
def test_branch_cut_midway_is_kept_incomplete_and_reported(fake_server, tmp_path, fault, cause):
    fake_server.fault, fake_server.fault_times, fake_server.cut_after = fault, 1, 2
    with Session(tmp_path / "c.loom", create=True) as session:
        root = session.add_node(None, PROMPT, "prompt")
        with pytest.raises(BackendError, match=cause):
            generate_children(session, backend(fake_server), root.id, GenerationParams(n=1, max_tokens=8))
        kids = [session.node(s.id) for s in session.children(root.id)]
        assert len(kids) == 1 and not kids[0].complete and len(kids[0].tokens) == 2
        assert kids[0].meta["finish"] == "error"


@pytest.mark.parametrize(
    "fault,after,says,never",
    [
        ("cut", 0, "closed before its first chunk", "sent no choice"),
        ("stream_error", 0, "reported an error in the middle of its reply: CUDA out of memory", "connection"),
        ("stream_error", 2, "reported an error in the middle of its reply: CUDA out of memory", "connection"),
    ],
)
def test_faults_in_a_stream_are_named_for_what_they_are(fake_server, fault, after, says, never):
    fake_server.fault, fake_server.fault_times, fake_server.cut_after = fault, 1, after
    with pytest.raises(BackendError) as err:
        run(backend(fake_server), max_tokens=6)
    assert says in str(err.value) and never not in str(err.value)


def test_completed_branches_are_kept_when_another_fails(fake_server, tmp_path):
    fake_server.fault, fake_server.fault_times, fake_server.cut_after = "cut", 1, 1
    with Session(tmp_path / "d.loom", create=True) as session:
        root = session.add_node(None, PROMPT, "prompt")
        result = generate_children(
            session, backend(fake_server, concurrency=1), root.id, GenerationParams(n=2, seed=5, max_tokens=4)
        )
        assert sorted(n.complete for n in result.nodes) == [False, True]
        assert len(result.notices) == 1 and result.notices[0].startswith("1 of 2 branches failed")


def test_cancel_midway_marks_branches_cancelled(fake_server, tmp_path):
    cancel = threading.Event()

    def listener(event):
        if isinstance(event, TokenEvent):
            cancel.set()

    with Session(tmp_path / "x.loom", create=True) as session:
        root = session.add_node(None, PROMPT, "prompt")
        result = generate_children(
            session,
            backend(fake_server),
            root.id,
            GenerationParams(n=2, max_tokens=30),
            cancel=cancel,
            listener=listener,
        )
        assert result.cancelled and result.nodes
        assert all(not n.complete and n.meta["finish"] == "cancelled" for n in result.nodes)


# -- score and the next-token distribution (used by analysis) -------------------------------


def test_score_matches_the_local_model(fake_server, demo_backend):
    conts = [" a time", " the hill", ""]
    assert backend(fake_server).score("Once upon", conts) == pytest.approx(
        demo_backend.score("Once upon", conts), abs=1e-3
    )


def test_score_needs_echo_and_completions(fake_server):
    with pytest.raises(BackendError, match="chat API"):
        backend(fake_server, api="chat").score("a", [" b"])
    fake_server.echo = False
    with pytest.raises(BackendError, match="echo"):
        backend(fake_server).score("Once upon", [" a time"])


def test_score_refuses_an_echo_shifted_by_one_token(fake_server):
    fake_server.echo_shift = True  # llama-cpp-python's server: every number one token early
    with pytest.raises(BackendError, match="shifted by one token"):
        backend(fake_server).score("Once upon", [" a time"])


def test_score_refuses_an_echo_that_does_not_rebuild_the_text(fake_server):
    fake_server.echo_drop_first = True
    with pytest.raises(BackendError, match="do not rebuild the scored text"):
        backend(fake_server).score("Once upon", [" a time"])


@pytest.mark.parametrize("api", ["completions", "chat"])
def test_next_token_distribution_matches_the_local_model(fake_server, demo_backend, api):
    got = backend(fake_server, api=api).next_token_distribution("Once upon", 5)
    ref = demo_backend.next_token_distribution("Once upon", 5)
    assert [a.text for a in got.alternatives] == [a.text for a in ref.alternatives]
    assert [a.logprob for a in got.alternatives] == pytest.approx([a.logprob for a in ref.alternatives], abs=1e-4)
    assert got.entropy_bits is None  # only the top k are known


def test_next_token_distribution_without_logprobs(fake_server):
    fake_server.logprobs = False
    with pytest.raises(BackendError, match="no logprobs"):
        backend(fake_server).next_token_distribution(PROMPT)


# -- opening by name, and `loom models` ----------------------------------------------------


def test_open_backend_by_profile_and_by_url(fake_server, tmp_path, monkeypatch):
    cfg = tmp_path / "config.toml"
    cfg.write_text(f'[profiles.fake]\nbase_url = "{fake_server.url}"\nmodel = "demo"\napi = "chat"\n', encoding="utf-8")
    monkeypatch.setenv("LOOM_CONFIG", str(cfg))
    b = open_backend("fake")
    assert isinstance(b, OpenAIBackend) and b.name == "fake" and b.profile.api == "chat"
    assert run(b, max_tokens=2)[0][0]
    for ref, api in (
        (f"openai:demo@{fake_server.url}", "completions"),
        (f"openai-chat:demo@{fake_server.url}", "chat"),
    ):
        b = open_backend(ref)
        assert b.profile.api == api and b.name == ref and run(b, max_tokens=2)[0][0]
    monkeypatch.setenv("OPENAI_BASE_URL", fake_server.url)
    assert open_backend("openai:demo").base_url == fake_server.url


def test_models_command_lists_and_checks(fake_server, tmp_path, monkeypatch, capsys):
    from loom.cli import main

    cfg = tmp_path / "config.toml"
    cfg.write_text(
        f'[profiles.fake]\nbase_url = "{fake_server.url}"\nmodel = "demo"\n'
        f'[profiles.typo]\nbase_url = "{fake_server.url}"\nmodel = "nope"\nmax_retries = 0\n',
        encoding="utf-8",
    )
    monkeypatch.setenv("LOOM_CONFIG", str(cfg))
    assert main(["models", "--json"]) == 0
    listed = json.loads(capsys.readouterr().out)
    assert [p["name"] for p in listed["profiles"]] == ["fake", "typo"]
    assert main(["models", "--check", "fake", "--json"]) == 0
    report = json.loads(capsys.readouterr().out)
    assert report["reachable"] and report["model_listed"] and report["logprobs"] is True
    assert main(["models", "--check", "typo"]) == 1
    out = capsys.readouterr().out
    assert "not listed" in out and "404" in out
    fake_server.logprobs = False
    assert main(["models", "--check", "fake", "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["logprobs"] is False


# -- the parser alone, for shapes the fake server does not send ---------------------------


def test_legacy_top_logprobs_as_lists_and_missing_token_logprobs():
    wire = parse_logprobs(
        {
            "tokens": ["a", "bytes:\\xe2\\x98", "bytes:\\x95"],
            "token_logprobs": None,
            "top_logprobs": [
                [{"token": "a", "logprob": -0.5}],
                {"bytes:\\xe2\\x98": -1.0},
                {"bytes:\\x95": -float("inf"), "b": -2.0},
            ],
        }
    )
    toks = TextAligner().feed(wire, "a☕")
    assert [t.text for t in toks] == ["a", "", "☕"]
    assert [t.logprob for t in toks] == [-0.5, -1.0, None]
    assert [a.text for a in toks[2].alternatives] == ["b"]  # -inf is no candidate
    assert math.isclose(toks[1].alternatives[0].logprob, -1.0)


def test_cli_generate_with_the_config_default_profile(fake_server, tmp_path, monkeypatch, capsys):
    from loom.cli import main

    cfg = tmp_path / "config.toml"
    cfg.write_text(
        f'model = "fake"\n[profiles.fake]\nbase_url = "{fake_server.url}"\nmodel = "demo"\n'
        f"[profiles.fake.params]\nn = 2\nmax_tokens = 3\n",
        encoding="utf-8",
    )
    monkeypatch.setenv("LOOM_CONFIG", str(cfg))
    session = str(tmp_path / "tale.loom")
    assert main(["new", session, "--prompt", PROMPT]) == 0
    assert main(["generate", session, "--json", "--quiet"]) == 0
    created, generated = capsys.readouterr().out.split("\n", 1)  # `loom new` says one line, then the JSON
    out = json.loads(generated)
    assert len(out["nodes"]) == 2 and all(n["model"] == "fake" and n["complete"] for n in out["nodes"])
    assert fake_server.requests[-1]["body"]["max_tokens"] == 3
    assert (
        main(
            [
                "generate",
                session,
                "--model",
                f"openai-chat:demo@{fake_server.url}",
                "-n",
                "1",
                "--max-tokens",
                "2",
                "--json",
            ]
        )
        == 0
    )
    assert json.loads(capsys.readouterr().out)["nodes"][0]["model"] == f"openai-chat:demo@{fake_server.url}"
    fake_server.fault = "403"
    assert main(["generate", session, "--quiet"]) == 2
    assert "403 forbidden" in capsys.readouterr().err
