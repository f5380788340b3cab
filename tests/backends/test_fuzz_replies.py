"""Fuzzing the OpenAI-compatible reply parser through a real HTTP server.

A loopback server answers every request with a reply hypothesis made: a
valid completions or chat reply (streamed or not) with parts replaced by
random JSON, keys dropped, the body cut short, or plain garbage. The real
backend and the real store take it. Invariants: no traceback (only a
BackendError, whose message names the server), no hang, and whatever
nodes were written are whole and readable.

Runs briefly in the suite; longer on demand:
    LOOM_FUZZ_EXAMPLES=5000 python -m pytest tests/backends/test_fuzz_replies.py
"""

from __future__ import annotations

import json
import os
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
from hypothesis import HealthCheck, event, example, given, settings
from hypothesis import strategies as st
from mutations import json_values, mutated

from loom.backends.base import BackendError
from loom.backends.openai_compat import OpenAIBackend
from loom.config import Profile
from loom.experiments.generate import generate_children
from loom.store import Session
from loom.tree import GenerationParams

EXAMPLES = int(os.environ.get("LOOM_FUZZ_EXAMPLES", "60"))

LEGACY = {
    "id": "c1",
    "object": "text_completion",
    "model": "m",
    "choices": [
        {
            "index": 0,
            "text": " hello world",
            "finish_reason": "length",
            "logprobs": {
                "tokens": [" hello", " world"],
                "token_logprobs": [-0.5, -1.0],
                "top_logprobs": [{" hello": -0.5, " hi": -1.2}, {" world": -1.0, "bytes:\\xe2\\x80": -2.0}],
                "text_offset": [0, 6],
            },
        }
    ],
}
CHAT = {
    "id": "c2",
    "object": "chat.completion",
    "model": "m",
    "choices": [
        {
            "index": 0,
            "finish_reason": "stop",
            "message": {"role": "assistant", "content": " hé"},
            "logprobs": {
                "content": [
                    {
                        "token": " h",
                        "logprob": -0.3,
                        "bytes": [32, 104],
                        "top_logprobs": [{"token": " h", "logprob": -0.3, "bytes": [32, 104]}],
                    },
                    {"token": "\u00e9", "logprob": -0.7, "bytes": [195, 169], "top_logprobs": []},
                ]
            },
        }
    ],
}


def as_stream(doc, api: str) -> list:
    """A non-streamed reply cut into the chunks a server would stream."""
    chunks = []
    choices = doc.get("choices") if isinstance(doc, dict) else None
    if not isinstance(choices, list):
        return [doc]
    for c in choices:
        if isinstance(c, dict) and api == "chat" and isinstance(c.get("message"), dict):
            c = {**c, "delta": c.pop("message")}
        chunks.append({**doc, "choices": [c]})
    return chunks


@st.composite
def replies(draw):
    api = draw(st.sampled_from(["completions", "chat"]))
    stream = draw(st.booleans())
    doc = draw(mutated(LEGACY if api == "completions" else CHAT) | json_values)
    if stream:
        chunks = as_stream(doc, api) if draw(st.booleans()) else draw(st.lists(json_values, max_size=3))
        lines = [f"data: {json.dumps(c)}\n\n".encode() for c in chunks]
        if draw(st.booleans()):
            lines.append(b"data: [DONE]\n\n")
        if draw(st.booleans()):
            lines.insert(draw(st.integers(0, len(lines))), draw(st.binary(max_size=30)))
        body, ctype = b"".join(lines), "text/event-stream"
    else:
        body, ctype = json.dumps(doc).encode(), "application/json"
    if draw(st.integers(0, 5)) == 0:
        body = body[: draw(st.integers(0, len(body)))]  # cut short
    status = draw(st.sampled_from([200] * 8 + [400, 500, 404, 429]))
    return api, stream, status, ctype, body


class Server:
    def __init__(self):
        self.reply = (200, "application/json", b"{}")
        outer = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args):
                pass

            def do_POST(self):
                self.rfile.read(int(self.headers.get("Content-Length") or 0))
                status, ctype, body = outer.reply
                self.send_response(status)
                self.send_header("Content-Type", ctype)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.httpd.daemon_threads = True
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}/v1"
        threading.Thread(target=self.httpd.serve_forever, daemon=True).start()


@pytest.fixture(scope="module")
def server():
    s = Server()
    yield s
    s.httpd.shutdown()


# replies the fuzzer found that loom once took for its own bug (a TypeError, not a clear error)
_WHOLE = ("completions", False, 200, "application/json")


@settings(max_examples=EXAMPLES, deadline=None, suppress_health_check=list(HealthCheck), database=None)
@given(reply=replies())
@example(reply=(*_WHOLE, b'{"id": null, "object": "text_completion", "model": "m", "choices": true}'))
@example(reply=(*_WHOLE, b'{"choices": [1, "x"]}'))
@example(reply=(*_WHOLE, b'{"choices": [{"index": 0, "text": 5, "finish_reason": "stop"}]}'))
@example(reply=(*_WHOLE, b'{"choices": [{"index": 0, "text": "a", "logprobs": true, "finish_reason": 1}]}'))
@example(reply=("chat", False, 200, "application/json", b'{"choices": [{"index": 0, "message": "hi"}]}'))
@example(
    reply=(
        *_WHOLE,
        b'{"choices": [{"index": 0, "text": " hello world", "finish_reason": "length", "logprobs": {"tokens": '
        b'[" hello", " world"], "token_logprobs": [-0.5, -1.0], "top_logprobs": true, "text_offset": [0, 6]}}]}',
    )
)
@example(
    reply=(
        *_WHOLE,
        b'{"choices": [{"index": 0, "text": "a", "finish_reason": "length", "logprobs": {"tokens": ["a"], '
        b'"token_logprobs": 3}}]}',
    )
)
def test_any_reply_gives_nodes_or_a_clear_error(server, tmp_path_factory, reply):
    api, stream, status, ctype, body = reply
    server.reply = (status, ctype, body)
    backend = OpenAIBackend(
        Profile(
            name="fuzz",
            model="m",
            base_url=server.url,
            api=api,
            stream=stream,
            max_retries=0,
            timeout=5,
            n_per_request=True,
        )
    )
    path = tmp_path_factory.mktemp("fuzz") / "s.loom"
    outcome: dict = {}

    def work():
        try:
            with Session(path) as s:
                root = s.add_node(None, "Hello", "prompt")
                outcome["result"] = generate_children(
                    s, backend, root.id, GenerationParams(n=1, max_tokens=4, logprobs=2)
                )
        except BackendError as exc:
            outcome["error"] = str(exc)
        except BaseException as exc:  # the invariant under test: nothing else escapes
            outcome["crash"] = exc

    t = threading.Thread(target=work, daemon=True)
    t.start()
    t.join(30)
    backend.close()
    assert not t.is_alive(), f"hung on {body[:200]!r}"
    if "crash" in outcome:
        raise AssertionError(
            f"{type(outcome['crash']).__name__} on {api} stream={stream} {status} {body[:300]!r}"
        ) from outcome["crash"]
    if "error" in outcome:
        assert "127.0.0.1" in outcome["error"]
        event("clear error: " + outcome["error"].split(": ", 1)[1][:40])
    else:
        event(f"{len(outcome['result'].nodes)} node(s)")
    with Session(path) as s:  # whatever was written is whole
        for nid in s.all_ids():
            node = s.node(nid)
            if node.tokens:
                assert "".join(t.text for t in node.tokens) == node.text
