"""The server matrix: `loom generate` (and, for streamed recordings, the app's
live path, the one that asks for streams) through the recorded replies of real
servers (tests/replies/SERVER/NAME.json + .body), played byte for byte by the
loopback server. Each gives the same tree: one child per branch asked for,
with the reply's texts, the reply's logprobs where it has them, a notice (not
a traceback) where it has none, and for every fault a message that names what
the server did and what loom did about it. docs/how-to/servers.md describes
the matrix; tools/record_replies.py records a server."""

from __future__ import annotations

import itertools
from dataclasses import dataclass

import pytest
from fake_openai_server import REPLIES, FakeOpenAI, load_reply

from loom.cli import main
from loom.store import Session


@dataclass(frozen=True)
class Case:
    server: str  # folder under tests/replies
    replies: tuple[str, ...]  # the recordings played (see FakeOpenAI.play)
    api: str  # "completions" or "chat"
    n: int = 1
    #: where each child's text comes from: "NAME:INDEX" (a choice of a recording), "A:0+B:0" (a branch
    #: cut in A and resumed by B); the children may come in any order
    branches: tuple[str, ...] = ()
    #: what standard error must say (each a substring, lower case), beside the note on missing logprobs
    #: that a reply without them gets (and one with them does not)
    notices: tuple[str, ...] = ()
    concurrency: int = 4
    absent: tuple[str, ...] = ()  # what standard error must not say
    seed: int | None = None  # with a seed each branch is its own request
    cut_after: int | None = None  # the stream is cut off (the connection closed) after this many events
    exit: int = 0  # loom generate's exit status
    complete: bool = True  # whether the branches are complete

    @property
    def stream(self) -> bool:
        return load_reply(self.server, self.replies[0]).stream

    def id(self) -> str:
        return (
            f"{self.server}/{'+'.join(self.replies)}"
            + (f"-n{self.n}" if self.n > 1 else "")
            + (f"-cut{self.cut_after}" if self.cut_after is not None else "")
        )


NO_LOGPROBS = "sends no logprobs"
IGNORES_N = "sent 1 choice(s) for n = 3: it ignores n"
ENDS_RUNNING = "ends a running request when another arrives"
CASES = [
    # OpenAI's API reference (published examples)
    Case("openai", ("completions",), "completions"),
    Case("openai", ("completions-logprobs",), "completions"),  # constructed: bytes: tokens
    Case("openai", ("chat",), "chat"),
    Case("openai", ("chat-logprobs",), "chat"),
    Case("openai", ("chat-stream",), "chat"),
    # llama-cpp-python's server (recorded here with tools/record_replies.py)
    *(
        Case("llama-cpp-python", (name,), api)
        for api in ("completions", "chat")
        for name in (api, f"{api}-logprobs", f"{api}-stream", f"{api}-stream-logprobs")
    ),
    # it ignores n: one choice for n=3, the other two asked for one request each, and said so
    *(
        Case(
            "llama-cpp-python",
            (f"{api}{stream}-n3", f"{api}{stream}-logprobs"),
            api,
            n=3,
            branches=(f"{api}{stream}-n3:0", f"{api}{stream}-logprobs:0", f"{api}{stream}-logprobs:0"),
            notices=(IGNORES_N,),
        )
        for api in ("completions", "chat")
        for stream in ("", "-stream")
    ),
    # a new request ends the running stream (no finish reason, then [DONE]): the cut branch is
    # resumed where it was cut, one request at a time from then on, and said so
    Case(
        "llama-cpp-python",
        ("completions-stream-n3", "cancel-first", "cancel-second"),
        "completions",
        n=3,
        branches=("completions-stream-n3:0", "cancel-second:0", "cancel-first:0+cancel-second:0"),
        notices=(IGNORES_N, ENDS_RUNNING, "resumed them where they were cut"),
    ),
    # llama.cpp's own server (recorded here): the content shape with ids and bytes on both routes; n honoured
    *(
        Case("llama.cpp", (name,), api, n=3 if name.endswith("-n3") else 1)
        for api in ("completions", "chat")
        for name in (api, f"{api}-logprobs", f"{api}-stream", f"{api}-stream-logprobs", f"{api}-n3", f"{api}-stream-n3")
    ),
    # two seeded branches go out as parallel requests, and it serves both side by side (4 slots)
    Case(
        "llama.cpp",
        ("cancel-first", "cancel-second"),
        "completions",
        n=2,
        seed=1,
        branches=("cancel-first:0", "cancel-second:0"),
        absent=(ENDS_RUNNING,),
    ),
    # vLLM (constructed from its response classes): n honoured, the sampled ids named
    Case("vllm", ("completions-n2",), "completions", n=2),
    # Azure OpenAI: a stream with top-5 logprobs, captured by the LangStream project
    Case("azure-openai", ("completions-stream-logprobs",), "completions"),
    # text-generation-inference (replies its integration tests recorded)
    Case("tgi", ("completions",), "completions"),
    Case("tgi", ("chat-stream",), "chat"),
    # a stream cut off after its second event: the text so far is kept, marked incomplete, and said so
    Case(
        "tgi",
        ("chat-stream",),
        "chat",
        cut_after=2,
        exit=2,
        complete=False,
        notices=(
            "ended before branch 0 finished (no finish_reason, no error), so loom kept the 2 tokens it sent as an incomplete branch",
        ),
    ),
    # Ollama (constructed from its code: the last token's logprobs come after its text)
    Case("ollama", ("chat-stream-logprobs-late",), "chat"),
]


def _text_of(case: Case, spec: str, cut_after: int | None = None) -> tuple[str, list[float | None] | None, list | None]:
    """The text, chosen-token logprobs and token ids a branch spec stands for, read from the
    recordings (of a stream cut off after `cut_after` events: what came before the cut)."""
    text, logprobs, ids = "", [], []
    for part in spec.split("+"):
        name, _, index = part.partition(":")
        choice = load_reply(case.server, name).choices(cut_after)[int(index or 0)]
        text += choice["text"]
        logprobs = None if logprobs is None or choice["logprobs"] is None else logprobs + choice["logprobs"]
        ids = None if ids is None or choice["ids"] is None else ids + choice["ids"]
    return text, logprobs, ids


_PROFILES = itertools.count()


@pytest.fixture(scope="module")
def server():
    with FakeOpenAI(None) as srv:  # replays only: no model behind it
        yield srv


@pytest.mark.parametrize("case", CASES, ids=Case.id)
def test_generate_through_a_recorded_server(case, server, tmp_path, monkeypatch, capsys):
    replies = [load_reply(case.server, name) for name in case.replies]
    server.reset()
    server.play(replies)
    if case.cut_after is not None:
        server.fault, server.cut_after = "cut", case.cut_after
    first = replies[0]
    prompt = first.request["prompt"] if case.api == "completions" else first.request["messages"][-1]["content"]
    # a profile of its own: loom keeps one backend a profile in a process, with what it learnt of the server
    name = f"rec{next(_PROFILES)}"
    cfg = tmp_path / "config.toml"
    cfg.write_text(
        f'[profiles.{name}]\nbase_url = "{server.url}"\nmodel = "{first.request["model"]}"\napi = "{case.api}"\n'
        f"stream = {str(case.stream).lower()}\nconcurrency = {case.concurrency}\nmax_retries = 0\n",
        encoding="utf-8",
    )
    monkeypatch.setenv("LOOM_CONFIG", str(cfg))
    path = str(tmp_path / "s.loom")
    assert main(["new", path, "--prompt", prompt]) == 0
    max_tokens = first.request.get("max_tokens") or 16
    seed = [] if case.seed is None else ["--seed", str(case.seed)]
    if case.stream:  # streams are asked for where a person watches tokens arrive: the app's path
        code, stderr = _generate_live(path, name, case.n, max_tokens, case.seed)
    else:
        code = main(
            ["generate", path, "--model", name, "-n", str(case.n), "--max-tokens", str(max_tokens), "--quiet", *seed]
        )
        stderr = capsys.readouterr().err
    assert code == case.exit, stderr
    assert "Traceback" not in stderr
    err = stderr.lower()
    for notice in case.notices:
        assert notice in err, stderr
    for notice in case.absent:
        assert notice not in err, stderr

    if len(first.choices()) == case.n and case.seed is None:  # a server that honours n gets one request
        assert len(server.requests) == 1, server.replayed
    sent = server.requests[0]["body"]
    assert (sent.get("prompt") if case.api == "completions" else sent["messages"][-1]["content"]) == prompt
    branches = case.branches or tuple(f"{first.name}:{i}" for i in range(case.n))
    expected = sorted((_text_of(case, b, case.cut_after) for b in branches), key=lambda e: e[0])
    if case.exit == 0:  # a note says when tokens come without probabilities, and only then
        assert (NO_LOGPROBS in err) == any(lp is None for _, lp, _ in expected), stderr
    with Session(path) as session:
        root = session.roots()[0]
        children = sorted(session.children(root.id, with_tokens=True), key=lambda n: n.text)
        assert [c.text for c in children] == [text for text, _, _ in expected]  # the same tree: one child a branch
        for child, (text, logprobs, ids) in zip(children, expected):
            assert child.complete == case.complete, child.meta
            assert (child.meta.get("finish") not in ("error", "cancelled")) == case.complete, child.meta
            assert "".join(t.text for t in child.tokens or []) == text
            got = [t.logprob for t in child.tokens or []]
            if logprobs is None:
                assert all(lp is None for lp in got) and child.mean_prob is None
            else:
                assert got == pytest.approx([lp if lp is None else min(lp, 0.0) for lp in logprobs], abs=1e-4)
            if ids is not None:  # the server named the sampled ids: the nodes keep them
                assert [t.token_id for t in child.tokens or []] == ids


def _generate_live(path: str, profile: str, n: int, max_tokens: int, seed: int | None) -> tuple[int, str]:
    """What the app does on `g` (experiments.generate with live=True: streamed where the profile
    streams): an exit status as `loom generate` would give (2 on a backend error) and the notices."""
    from loom.backends import BackendError, open_backend
    from loom.experiments.generate import generate_children
    from loom.tree import GenerationParams

    params = GenerationParams(n=n, max_tokens=max_tokens, seed=seed)
    with Session(path) as session:
        root = session.roots()[0]
        try:
            result = generate_children(session, open_backend(profile), root.id, params, live=True)
        except BackendError as exc:
            return 2, f"loom: error: {exc}"
    return 0, "\n".join(result.notices)


def test_every_recording_has_a_header_that_says_where_it_came_from():
    names = sorted(REPLIES.glob("*/*.json"))
    assert names
    for path in names:
        rec = load_reply(path.parent.name, path.stem)
        h = rec.header
        for key in ("server", "version", "date", "provenance", "source", "request", "status", "content_type"):
            assert key in h, f"{path}: no {key}"
        assert (
            h["provenance"] == "recorded"
            or h["provenance"] == "published"
            or h["provenance"].startswith("constructed from ")
        ), path
        assert h["request"]["path"] in ("/v1/completions", "/v1/chat/completions")
        assert rec.choices() or not rec.payloads()[0].get("choices"), path  # the body parses as the reply it claims


def test_score_refuses_the_echo_of_llama_cpp_python(server):
    """Its echo (recorded) leaves the new token out of the logprobs and gives each prompt token the
    numbers of the position after it; nothing in it shows at the first token, so the check is
    that the logprobs' tokens spell the reply's whole text."""
    from loom.backends import BackendError
    from loom.backends.openai_compat import OpenAIBackend
    from loom.config import Profile

    echo = load_reply("llama-cpp-python", "completions-echo")
    assert echo.payloads()[0]["choices"][0]["logprobs"]["token_logprobs"][0] is None
    server.reset()
    server.play([echo])
    backend = OpenAIBackend(Profile(name="rec", model="demo", base_url=server.url, max_retries=0))
    with pytest.raises(BackendError, match="leave out the new token.*llama-cpp-python"):
        backend.score("Once upon", [" a time"])
    assert server.requests[0]["body"]["prompt"] == echo.request["prompt"] and server.requests[0]["body"]["echo"]


def test_text_without_logprobs_waits_one_chunk_for_them():
    """TextAligner.take: a streamed chunk's text without logprobs is held one chunk; logprobs that
    come next with no text of their own are its (Ollama); anything else shows it without."""
    from loom.backends.openai_logprobs import TextAligner, parse_logprobs

    late = parse_logprobs({"content": [{"token": "Hi", "logprob": -0.1}]})
    a = TextAligner()
    assert a.take(None, "Hi", hold=True) == ([], False)
    toks, bare = a.take(late, "", hold=True)
    assert [(t.text, t.logprob) for t in toks] == [("Hi", -0.1)] and not bare
    a = TextAligner()
    a.take(None, "Hi", hold=True)
    toks, bare = a.take(None, " there", hold=True)  # no logprobs came: the held text goes out bare
    assert [(t.text, t.logprob) for t in toks] == [("Hi", None)] and bare
    assert [t.text for t in a.release()] == [" there"] and a.release() == []
    toks, bare = TextAligner().take(None, "Hi", hold=False)  # a whole reply: nothing to wait for
    assert [t.text for t in toks] == ["Hi"] and bare
    a = TextAligner()
    a.take(None, "Hi", hold=True)
    toks, bare = a.take([], "", hold=False)  # an empty logprobs list is not the held text's
    assert [(t.text, t.logprob) for t in toks] == [("Hi", None)] and bare


@pytest.mark.parametrize("name", ["chat-stream-logprobs", "completions-logprobs"])
def test_a_recording_is_played_byte_for_byte(server, name):
    import http.client
    import json

    rec = load_reply("llama-cpp-python", name)
    server.reset()
    server.play([rec])
    conn = http.client.HTTPConnection("127.0.0.1", server.port, timeout=30)
    conn.request("POST", rec.path, json.dumps(rec.request).encode(), {"Content-Type": "application/json"})
    reply = conn.getresponse()
    assert reply.status == 200 and reply.getheader("Content-Type") == rec.header["content_type"]
    assert reply.read() == rec.body
    conn.close()


def test_score_refuses_the_echo_of_llama_cpp(server):
    """llama.cpp's server (recorded) ignores echo: the reply holds only the new token."""
    from loom.backends import BackendError
    from loom.backends.openai_compat import OpenAIBackend
    from loom.config import Profile

    echo = load_reply("llama.cpp", "completions-echo")
    assert echo.choices()[0]["text"] == ","  # no prompt in it
    server.reset()
    server.play([echo])
    backend = OpenAIBackend(Profile(name="rec", model="demo", base_url=server.url, max_retries=0))
    with pytest.raises(BackendError, match="do not rebuild the scored text"):
        backend.score("Once upon", [" a time"])
