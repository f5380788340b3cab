"""Record a running OpenAI-compatible server's replies as test fixtures.

    python tools/record_replies.py http://127.0.0.1:8077 tests/replies/llama-cpp-python \\
        --server llama-cpp-python --version 0.3.36 --model demo --command "python -m llama_cpp.server ..."

For each case below it sends one request (standard library HTTP, no client
library between the server and the file) and writes two files:

- NAME.body: the reply body exactly as it came (an SSE stream byte for byte,
  after HTTP's chunked transfer coding is taken off);
- NAME.json: a header: server name, version, date, the request as sent, the
  status and content type, and what the case shows.

The `cancel` case starts a long streamed request and, once its first bytes
have come, a second one, and records both (llama-cpp-python's server ends the
first when the second arrives). tests/fake_openai_server.py replays these
files; tests/backends/test_server_matrix.py runs `loom generate` through them. See
docs/how-to/servers.md for the whole matrix."""

from __future__ import annotations

import argparse
import datetime
import http.client
import json
import threading
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

PROMPT = "Once upon a time"

#: name -> (path, body fields beyond model and prompt/messages, what it shows)
CASES: dict[str, tuple[str, dict[str, Any], str]] = {
    "completions": ("/v1/completions", {"max_tokens": 8, "seed": 1}, "legacy completions, no logprobs asked"),
    "completions-logprobs": (
        "/v1/completions",
        {"max_tokens": 8, "seed": 1, "logprobs": 3},
        "legacy completions with top-3 logprobs",
    ),
    "completions-stream": (
        "/v1/completions",
        {"max_tokens": 8, "seed": 1, "stream": True},
        "legacy completions streamed, no logprobs asked",
    ),
    "completions-stream-logprobs": (
        "/v1/completions",
        {"max_tokens": 8, "seed": 1, "stream": True, "logprobs": 3},
        "legacy completions streamed with top-3 logprobs",
    ),
    "completions-n3": (
        "/v1/completions",
        {"max_tokens": 8, "seed": 1, "n": 3, "logprobs": 3},
        "n=3 in one request, with logprobs",
    ),
    "completions-stream-n3": (
        "/v1/completions",
        {"max_tokens": 8, "seed": 1, "n": 3, "logprobs": 3, "stream": True},
        "n=3 in one streamed request, with logprobs",
    ),
    "completions-echo": (
        "/v1/completions",
        {"max_tokens": 1, "temperature": 0, "echo": True, "logprobs": 1},
        "echo=true: the prompt's own tokens and logprobs before one new token",
    ),
    "chat": ("/v1/chat/completions", {"max_tokens": 8, "seed": 1}, "chat, no logprobs asked"),
    "chat-logprobs": (
        "/v1/chat/completions",
        {"max_tokens": 8, "seed": 1, "logprobs": True, "top_logprobs": 3},
        "chat with top-3 logprobs",
    ),
    "chat-stream": (
        "/v1/chat/completions",
        {"max_tokens": 8, "seed": 1, "stream": True},
        "chat streamed, no logprobs asked",
    ),
    "chat-stream-logprobs": (
        "/v1/chat/completions",
        {"max_tokens": 8, "seed": 1, "stream": True, "logprobs": True, "top_logprobs": 3},
        "chat streamed with top-3 logprobs",
    ),
    "chat-n3": (
        "/v1/chat/completions",
        {"max_tokens": 8, "seed": 1, "n": 3, "logprobs": True, "top_logprobs": 3},
        "chat, n=3 in one request, with logprobs",
    ),
    "chat-stream-n3": (
        "/v1/chat/completions",
        {"max_tokens": 8, "seed": 1, "n": 3, "stream": True, "logprobs": True, "top_logprobs": 3},
        "chat, n=3 in one streamed request, with logprobs",
    ),
}
#: the long first request of the cancel case, and the one sent while it runs
CANCEL_FIRST = {"max_tokens": 200, "seed": 1, "stream": True, "logprobs": 3}
CANCEL_SECOND = {"max_tokens": 8, "seed": 2, "stream": True, "logprobs": 3}


def request_body(path: str, fields: dict[str, Any], model: str) -> dict[str, Any]:
    if path.endswith("/chat/completions"):
        return {"model": model, "messages": [{"role": "user", "content": PROMPT}], **fields}
    return {"model": model, "prompt": PROMPT, **fields}


class Recorder:
    def __init__(self, base: str, out: Path, meta: dict[str, Any]):
        self.base = urlsplit(base)
        self.out = out
        self.meta = meta

    def connect(self) -> http.client.HTTPConnection:
        return http.client.HTTPConnection(self.base.hostname or "127.0.0.1", self.base.port or 80, timeout=300)

    def send(self, path: str, body: dict[str, Any], first_bytes: threading.Event | None = None):
        conn = self.connect()
        conn.request("POST", path, json.dumps(body).encode(), {"Content-Type": "application/json"})
        resp = conn.getresponse()
        data = b""
        while True:
            piece = resp.read1(65536) if hasattr(resp, "read1") else resp.read(65536)
            if not piece:
                break
            data += piece
            if first_bytes is not None:
                first_bytes.set()
        conn.close()
        return resp.status, resp.getheader("Content-Type", ""), data

    def save(self, name: str, path: str, body: dict[str, Any], reply, shows: str, **extra: Any) -> None:
        status, ctype, data = reply
        self.out.mkdir(parents=True, exist_ok=True)
        (self.out / f"{name}.body").write_bytes(data)
        header = {
            **self.meta,
            "date": datetime.datetime.now(datetime.UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
            "provenance": "recorded",
            "source": "tools/record_replies.py against the running server",
            "request": {"method": "POST", "path": path, "body": body},
            "status": status,
            "content_type": ctype,
            "shows": shows,
            **extra,
        }
        (self.out / f"{name}.json").write_text(json.dumps(header, indent=2, ensure_ascii=False) + "\n")
        print(f"{name}: {status} {ctype} {len(data)} bytes")

    def record(self, name: str, model: str) -> None:
        path, fields, shows = CASES[name]
        body = request_body(path, fields, model)
        self.save(name, path, body, self.send(path, body), shows)

    def record_cancel(self, model: str) -> None:
        path = "/v1/completions"
        first_body = request_body(path, CANCEL_FIRST, model)
        second_body = request_body(path, CANCEL_SECOND, model)
        started = threading.Event()
        got: dict[str, Any] = {}
        thread = threading.Thread(target=lambda: got.update(first=self.send(path, first_body, started)))
        thread.start()
        started.wait(60)
        second = self.send(path, second_body)
        thread.join()
        # the first stream was ended by the second if no choice in it got a finish reason
        finished = b'"finish_reason": "' in got["first"][2] or b'"finish_reason":"' in got["first"][2]
        self.save(
            "cancel-first",
            path,
            first_body,
            got["first"],
            "a long streamed request; a second request was sent once its first bytes had come; "
            + ("both were served" if finished else "the server ended this stream without a finish reason"),
            **({} if finished else {"overtaken_by": "cancel-second"}),
        )
        self.save("cancel-second", path, second_body, second, "the request sent while cancel-first was streaming")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("base", help="the server's root URL, e.g. http://127.0.0.1:8077")
    ap.add_argument("out", type=Path, help="folder for NAME.json and NAME.body")
    ap.add_argument("--server", required=True, help="the server's name, for the header")
    ap.add_argument("--version", required=True, help="the server's version, for the header")
    ap.add_argument("--model", default="demo", help="the model name the server answers to")
    ap.add_argument("--command", default="", help="how the server was started, for the header")
    ap.add_argument("--model-file", default="", help="what the model is, for the header")
    ap.add_argument("--cases", nargs="*", default=[*CASES, "cancel"], help="which cases (default: all)")
    args = ap.parse_args()
    meta = {"server": args.server, "version": args.version, "command": args.command, "model_file": args.model_file}
    rec = Recorder(args.base, args.out, meta)
    for name in args.cases:
        if name == "cancel":
            rec.record_cancel(args.model)
        else:
            rec.record(name, args.model)


if __name__ == "__main__":
    main()
