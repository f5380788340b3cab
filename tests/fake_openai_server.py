"""A real HTTP server on 127.0.0.1 that speaks the OpenAI wire format, backed
by the bundled demo model (through LocalBackend, so every probability is the
model's own), with switches for each logprobs dialect and each fault.

Endpoints: GET /v1/models, POST /v1/completions, POST /v1/chat/completions,
streamed (SSE) or not. Built on the standard library's http.server.

It can also replay the recorded replies of real servers (tests/replies/SERVER/
NAME.json + NAME.body, see docs/how-to/servers.md): `server.play([load_reply(
"llama-cpp-python", "chat-stream"), ...])` answers each request with the first
recording whose request had the same route, `stream`, `n` and model, body bytes as
recorded (an SSE stream event by event).

    with FakeOpenAI(backend) as server:
        server.url            # "http://127.0.0.1:PORT/v1"
        server.dialect = "content"
        server.fault = "429"

`FakeOpenAI(None, instant=True)` needs no model: it answers at once from
canned continuations (deterministic, varied, with logprobs and alternatives),
over keep-alive connections, to measure what a client costs per sample
(bench/serve.py runs it in its own process: `python tests/fake_openai_server.py
--instant` prints its URL).
"""

from __future__ import annotations

import codecs
import json
import math
import random
import re
import sys
import threading
import time
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

FAULTS = ("401", "403", "429", "500", "503", "malformed", "hang", "cut", "stream_error")


def _bytes_to_unicode() -> dict[int, str]:
    """GPT-2's byte-level alphabet (the demo tokenizer's): byte -> printable character."""
    bs = list(range(ord("!"), ord("~") + 1)) + list(range(ord("¡"), ord("¬") + 1)) + list(range(ord("®"), ord("ÿ") + 1))
    cs = bs[:]
    n = 0
    for b in range(256):
        if b not in bs:
            bs.append(b)
            cs.append(256 + n)
            n += 1
    return dict(zip(bs, map(chr, cs)))


_UNICODE_TO_BYTE = {c: b for b, c in _bytes_to_unicode().items()}

REPLIES = Path(__file__).parent / "replies"


@dataclass(frozen=True)
class Reply:
    """One recorded reply: its header (server, version, date, provenance, request) and its body bytes."""

    server: str
    name: str
    header: dict[str, Any]
    body: bytes

    @property
    def path(self) -> str:
        return self.header["request"]["path"]

    @property
    def request(self) -> dict[str, Any]:
        return self.header["request"]["body"]

    @property
    def stream(self) -> bool:
        return bool(self.request.get("stream"))

    @property
    def n(self) -> int:
        return int(self.request.get("n") or 1)

    def events(self) -> list[bytes]:
        """The body as SSE events, each with its blank-line ending, bytes as recorded."""
        return [p for p in re.split(rb"(?<=\r\n\r\n)|(?<=\n\n)", self.body) if p]

    def payloads(self, events: int | None = None) -> list[Any]:
        """The JSON objects the body holds (each event's data; [DONE] and comments left out),
        of its first `events` events where given."""
        if not self.stream:
            return [json.loads(self.body)]
        out = []
        for event in self.events()[:events]:
            data = "\n".join(line[5:].strip() for line in event.decode().splitlines() if line.startswith("data:"))
            if data and data != "[DONE]":
                out.append(json.loads(data))
        return out

    def choices(self, events: int | None = None) -> dict[int, dict[str, Any]]:
        """What the reply says of each choice, read plainly (not through loom): its text, the chosen
        tokens' logprobs (None where it has none), their ids (where it names them) and its finish
        reason (None where none came)."""
        out: dict[int, dict[str, Any]] = {}
        for obj in self.payloads(events):
            for ch in obj.get("choices") or []:
                c = out.setdefault(ch.get("index") or 0, {"text": "", "logprobs": None, "finish": None, "ids": None})
                part = ch.get("delta") or ch.get("message") or {}
                c["text"] += (ch["text"] if "text" in ch else part.get("content")) or ""
                lp = ch.get("logprobs")
                if lp:
                    if "token_logprobs" in lp:
                        values = lp["token_logprobs"]
                    else:
                        values = [t["logprob"] for t in lp.get("content") or []]
                        if lp.get("content") and all("id" in t for t in lp["content"]):  # llama.cpp names ids
                            c["ids"] = (c["ids"] or []) + [t["id"] for t in lp["content"]]
                    c["logprobs"] = (c["logprobs"] or []) + values
                if isinstance(ch.get("token_ids"), list):  # vLLM's return_token_ids
                    c["ids"] = (c["ids"] or []) + ch["token_ids"]
                c["finish"] = ch.get("finish_reason") or c["finish"]
        return out


def load_reply(server: str, name: str) -> Reply:
    folder = REPLIES / server
    header = json.loads((folder / f"{name}.json").read_text(encoding="utf-8"))
    return Reply(server, name, header, (folder / f"{name}.body").read_bytes())


WORDS = [
    " " + w
    for w in (
        "the king queen a wedding in castle and she said that he was there for all of them when "
        "night fell over hills , . ! dragon bride ring golden river forest old man sword bell"
    ).split()
]
POOL = 64  # distinct canned continuations of an instant server


class FakeOpenAI:
    def __init__(self, backend, model: str = "demo", instant: bool = False, port: int = 0):
        self._count = threading.Lock()
        self.backend = backend
        self.model = model
        self.instant = instant
        self._canned: dict[tuple, list[str]] = {}
        self.reset()
        self._stopping = threading.Event()
        handler = _handler(self)
        if instant:
            handler.protocol_version = "HTTP/1.1"  # keep-alive, as real serving engines
            handler.disable_nagle_algorithm = True  # headers and body go out at once, without a 40 ms ACK wait
        self._httpd = ThreadingHTTPServer(("127.0.0.1", port), handler)
        self._httpd.daemon_threads = True
        self.port = self._httpd.server_address[1]
        self.url = f"http://127.0.0.1:{self.port}/v1"
        self._thread = threading.Thread(target=self._httpd.serve_forever, daemon=True)
        self._thread.start()

    def reset(self) -> None:
        """Back to a well-behaved vLLM-like server."""
        self.epoch = getattr(self, "epoch", 0) + 1
        self.dialect = "legacy"  # logprobs shape on /v1/completions: "legacy" or "content" (llama.cpp, Ollama)
        self.partial = (
            "bytes"  # a token inside a character: "bytes" (bytes:\xNN / bytes arrays) or "fffd" (U+FFFD only)
        )
        self.logprobs = True  # False: "logprobs": null, as providers that do not support them
        self.drop_chosen = False  # leave the sampled token out of its own top_logprobs
        self.offset_from_prompt = False  # legacy text_offset counted from the start of the prompt
        self.max_n = None  # most choices per request (llama.cpp, Ollama: 1)
        self.echo = True  # whether echo=true returns the prompt's logprobs
        self.cancel_on_new = False  # llama-cpp-python: a new request ends the running stream, no finish_reason
        self.chunk_delay = 0.0  # seconds between streamed chunks
        self.generation = 0  # completions requests so far (which one is the newest)
        self.token_ids = False  # llama.cpp-like: prompts as token ids, "id" in logprobs entries, POST /tokenize
        self.vllm_ids = False  # vLLM-like: prompts as token ids, POST /tokenize, "token_ids" in each choice when
        #                        the request asks (return_token_ids); the logprobs themselves name no ids
        self.strict = False  # OpenAI-like: a request field it does not know is refused with 400
        self.echo_shift = False  # echoed logprobs moved one token early (llama-cpp-python's server)
        self.echo_drop_first = False  # the echo leaves out the prompt's first token
        self.force: str | None = None  # the server "samples" exactly this text (real logprobs, teacher-forced)
        self.api_key: str | None = None  # the key the server requires (None: any)
        self.fault: str | None = None  # one of FAULTS
        self.fault_times = math.inf  # how many requests the fault hits before the server recovers
        self.retry_after: str | None = "0.05"  # Retry-After sent with 429/503
        self.cut_after = 2  # tokens a "cut" or "stream_error" stream sends before breaking
        self.hang_s = 5.0
        self.replies: list[Reply] | None = None  # recorded replies to play instead of the model (see play)
        self.replayed: list[str] = []  # the names of the recordings played, in order
        self._overtaker = threading.Event()  # the request that overtakes a recorded cancelled one has come
        self._overtaken_sent = threading.Event()  # the cancelled one has been played
        self.overlap_s = 3.0  # how long the overtaking reply stays in flight after the other ended (a busy machine)
        self.requests: list[dict[str, Any]] = []
        self.prompts: list[Any] = []  # each completions prompt as sent: text or token ids
        self.in_flight = self.max_in_flight = 0  # requests being answered now / at most at once
        self.delay = 0.0  # seconds a completions request waits before it is answered
        self.temperatures: dict[float, int] = {}  # completions requests being answered now, by temperature
        self.max_temperatures = 0  # the most distinct temperatures being answered at once

    def wait_idle(self, seconds: float = 30.0) -> None:
        """Until no request is being answered (a client may close a stream the server still writes)."""
        end = time.monotonic() + seconds
        while self.in_flight > 0 and time.monotonic() < end:
            time.sleep(0.01)

    def play(self, replies: list[Reply]) -> None:
        """Answer requests with these recordings. A request gets the first one with its route, `stream`
        and `n`; a second request of the same kind the next such one, and so on (the last repeats).
        A recording whose header says `overtaken_by` (a stream the server ended when another request
        came) is played once that other request has arrived, and that one is played after it, still
        in flight when it ends, as the real server did."""
        self.replies = list(replies)
        self._overtaker.clear()
        self._overtaken_sent.clear()

    def __enter__(self) -> FakeOpenAI:
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def close(self) -> None:
        self._stopping.set()
        self._httpd.shutdown()
        self._httpd.server_close()

    # -- the model ------------------------------------------------------------------
    def token_bytes(self, token_id: int) -> bytes:
        if self.instant:
            return WORDS[token_id].encode()
        piece = self.backend.tokenizer.convert_ids_to_tokens(token_id)
        try:
            return bytes(_UNICODE_TO_BYTE[c] for c in piece)
        except KeyError:  # a special token
            return piece.encode("utf-8")

    def wire_token(self, token_id: int, legacy: bool) -> dict[str, Any]:
        """How this server writes a token: text, plus bytes where the dialect has them."""
        data = self.token_bytes(token_id)
        try:
            return {"token": data.decode("utf-8"), "bytes": list(data)}
        except UnicodeDecodeError:
            if self.partial == "bytes" and legacy:
                return {"token": "bytes:" + "".join(f"\\x{b:02x}" for b in data)}
            out = {"token": data.decode("utf-8", "replace")}
            if self.partial == "bytes":
                out["bytes"] = list(data)
            return out

    def forced(
        self, context: list[int], target: list[int], k: int
    ) -> list[tuple[int, float | None, list[tuple[int, float]]]]:
        """The model's real logprob and top-k alternatives for each token of
        `target` after `context` (one forward pass); None for a first token."""
        import torch

        ids = context + target
        with self.backend._lock, torch.inference_mode():
            logits = self.backend.model(input_ids=torch.tensor([ids])).logits[0].float()
        logp = torch.log_softmax(logits, -1)
        out = []
        for pos in range(len(context), len(ids)):
            if pos == 0:
                out.append((ids[pos], None, []))
                continue
            row = logp[pos - 1]
            vals, idx = row.topk(k) if k else (torch.tensor([]), torch.tensor([], dtype=torch.long))
            out.append((ids[pos], float(row[ids[pos]]), list(zip(idx.tolist(), vals.tolist()))))
        return out

    def sample(self, prompt: str, req: dict[str, Any], n: int, k: int) -> list[dict[str, Any]]:
        """n branches: each a list of (token_id, logprob, top, text) and a finish reason."""
        from loom.tree import BranchDone, GenerationParams, TokenEvent

        if self.instant:  # streamed from the canned continuations (whole replies: canned_reply)
            tokens = int(req.get("max_tokens") or 16)
            with self._count:
                self.generation += 1
                first = req["seed"] if isinstance(req.get("seed"), int) else self.generation * n
            return [
                {
                    "tokens": [
                        (w, lp, [(tw, tv) for _, tw, tv in top], text)
                        for text, w, lp, top in self._canned_steps((first + i) % POOL, tokens, k)
                    ],
                    "finish": "length",
                }
                for i in range(n)
            ]
        if self.force is not None:
            ctx = self.backend.encode(prompt)
            target = self.backend.tokenizer(self.force, add_special_tokens=False)["input_ids"]
            steps = self.forced(ctx, target, k)[: int(req.get("max_tokens") or 16)]
            dec = codecs.getincrementaldecoder("utf-8")()
            toks = [(tid, lp, top, dec.decode(self.token_bytes(tid))) for tid, lp, top in steps]
            return [{"tokens": toks, "finish": "length"} for _ in range(n)]
        stop = req.get("stop") or []
        params = GenerationParams(
            n=n,
            max_tokens=int(req.get("max_tokens") or 16),
            temperature=float(req.get("temperature", 1.0)),
            top_p=float(req.get("top_p", 1.0)),
            top_k=int(req.get("top_k", 0)),
            min_p=float(req.get("min_p", 0.0)),
            stop=[stop] if isinstance(stop, str) else list(stop),
            seed=req.get("seed"),
            logprobs=k,
        ).validate()
        branches = [{"tokens": [], "finish": None} for _ in range(n)]
        for ev in self.backend.generate(prompt, params):
            if isinstance(ev, TokenEvent):
                t = ev.token
                top = [(a.token_id, a.logprob) for a in t.alternatives]
                branches[ev.branch]["tokens"].append((t.token_id, t.logprob, top, t.text))
            elif isinstance(ev, BranchDone):
                branches[ev.branch]["finish"] = "length" if ev.reason == "length" else "stop"
        return branches

    # -- the instant server --------------------------------------------------------
    def canned_reply(self, req: dict[str, Any], legacy: bool) -> bytes:
        """A whole reply from canned continuations: choice i of the r-th request is
        continuation (r * n + i) % POOL (with a seed: (seed + i) % POOL), in this server's dialect."""
        tokens = int(req.get("max_tokens") or 16)
        k = int(req.get("logprobs") or 0) if legacy else int(req.get("top_logprobs") or 0)
        wants = req.get("logprobs") is not None if legacy else bool(req.get("logprobs"))
        n = min(int(req.get("n") or 1), self.max_n or 10**9)
        key = (tokens, k if wants else -1, legacy, self.dialect)
        with self._count:
            pool = self._canned.get(key)
            if pool is None:
                pool = self._canned[key] = [self._canned_choice(j, tokens, k, wants, legacy) for j in range(POOL)]
            self.generation += 1
            first = req["seed"] if isinstance(req.get("seed"), int) else self.generation * n
        choices = ",".join(f'{{"index": {i}, {pool[(first + i) % POOL]}}}' for i in range(n))
        kind = "text_completion" if legacy else "chat.completion"
        return (
            f'{{"id": "cmpl-loom", "object": "{kind}", "created": {int(time.time())}, "model": '
            f'{json.dumps(self.model)}, "choices": [{choices}]}}'
        ).encode()

    @staticmethod
    def _canned_steps(j: int, tokens: int, k: int) -> list[tuple[str, int, float, list[tuple[str, int, float]]]]:
        """Canned continuation j: (text, word id, logprob, top k as (text, id, logprob)) per token."""
        rng = random.Random(j)
        steps = []
        for _ in range(tokens):
            ranked = rng.sample(range(len(WORDS)), max(k, 1))
            lps = sorted((math.log(rng.uniform(0.01, 0.9)) for _ in ranked), reverse=True)
            pick = 0 if rng.random() < 0.6 else rng.randrange(len(ranked))
            top = [(WORDS[w], w, lp) for w, lp in zip(ranked, lps)][:k]
            steps.append((WORDS[ranked[pick]], ranked[pick], lps[pick], top))
        return steps

    def _canned_choice(self, j: int, tokens: int, k: int, wants: bool, legacy: bool) -> str:
        """One continuation's JSON fields (without its index): text, logprobs, finish_reason."""
        steps = self._canned_steps(j, tokens, k)
        text = "".join(s[0] for s in steps)
        lp: dict[str, Any] | None = None
        if wants and legacy and self.dialect == "legacy":
            lp = {
                "tokens": [s[0] for s in steps],
                "token_logprobs": [s[2] for s in steps],
                "top_logprobs": [{t: v for t, _, v in s[3]} for s in steps],
                "text_offset": [],
            }
        elif wants:
            ids = (lambda i: {"id": i}) if self.token_ids else (lambda i: {})
            lp = {
                "content": [
                    {
                        **ids(w),
                        "token": t,
                        "bytes": list(t.encode()),
                        "logprob": v,
                        "top_logprobs": [
                            {**ids(tw), "token": tt, "bytes": list(tt.encode()), "logprob": tv} for tt, tw, tv in top
                        ],
                    }
                    for t, w, v, top in steps
                ]
            }
        body = {"text": text} if legacy else {"message": {"role": "assistant", "content": text}}
        return json.dumps({**body, "logprobs": lp, "finish_reason": "length"})[1:-1]

    def logprobs_obj(self, steps, legacy: bool, offset: int) -> dict[str, Any] | None:
        """One logprobs object for some (token_id, logprob, top, text) steps, in this server's dialect."""
        if not self.logprobs:
            return None
        if legacy and self.dialect == "legacy":
            tokens, chosen, tops, offsets = [], [], [], []
            for tid, lp, top, text in steps:
                tokens.append(self.wire_token(tid, True)["token"])
                chosen.append(lp)
                alts = {self.wire_token(a, True)["token"]: v for a, v in top if not (self.drop_chosen and a == tid)}
                tops.append(alts if lp is not None else None)
                offsets.append(offset)
                offset += len(text)
            return {"tokens": tokens, "token_logprobs": chosen, "top_logprobs": tops, "text_offset": offsets}
        content = []
        ids = (lambda t: {"id": t}) if self.token_ids else (lambda t: {})
        for tid, lp, top, _text in steps:
            item = {**ids(tid), **self.wire_token(tid, False), "logprob": lp if lp is not None else -9999.0}
            item["top_logprobs"] = [
                {**ids(a), **self.wire_token(a, False), "logprob": v}
                for a, v in top
                if not (self.drop_chosen and a == tid)
            ]
            content.append(item)
        return {"content": content}


def _handler(server: FakeOpenAI):
    class Handler(BaseHTTPRequestHandler):
        def log_message(self, *args) -> None:  # keep test output clean
            pass

        # -- plumbing ----------------------------------------------------------------
        def send_json(self, status: int, obj: Any, headers: dict[str, str] | None = None) -> None:
            body = obj if isinstance(obj, bytes) else json.dumps(obj).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            for k, v in (headers or {}).items():
                self.send_header(k, v)
            self.end_headers()
            self.wfile.write(body)

        def error(self, status: int, message: str, code: str | None = None, headers=None) -> None:
            self.send_json(
                status, {"error": {"message": message, "type": "invalid_request_error", "code": code}}, headers
            )

        def sse(self, obj: Any) -> None:
            data = obj if isinstance(obj, str) else json.dumps(obj)
            self.wfile.write(f"data: {data}\n\n".encode())
            self.wfile.flush()

        # -- routes ----------------------------------------------------------------------
        def do_GET(self) -> None:
            server.requests.append({"path": self.path, "body": None, "auth": self.headers.get("Authorization")})
            if self.fault_hit():
                return
            if self.path.rstrip("/") == "/v1/models":
                self.send_json(
                    200, {"object": "list", "data": [{"id": server.model, "object": "model", "owned_by": "loom-tests"}]}
                )
            else:
                self.error(404, f"no route {self.path}")

        def do_POST(self) -> None:
            length = int(self.headers.get("Content-Length") or 0)
            try:
                req = json.loads(self.rfile.read(length) or b"{}")
            except json.JSONDecodeError:
                return self.error(400, "body is not JSON")
            server.requests.append({"path": self.path, "body": req, "auth": self.headers.get("Authorization")})
            t = req.get("temperature") if isinstance(req, dict) else None
            with server._count:
                epoch = server.epoch  # a request still answered after a reset() is not counted against the next test
                server.in_flight += 1
                server.max_in_flight = max(server.max_in_flight, server.in_flight)
                if isinstance(t, (int, float)):
                    server.temperatures[t] = server.temperatures.get(t, 0) + 1
                    server.max_temperatures = max(server.max_temperatures, len(server.temperatures))
            try:
                if server.delay:
                    time.sleep(server.delay)
                self.post(req)
            finally:
                with server._count:
                    if epoch == server.epoch:
                        server.in_flight -= 1
                        if isinstance(t, (int, float)):
                            server.temperatures[t] -= 1
                            if not server.temperatures[t]:
                                del server.temperatures[t]

        def post(self, req: dict[str, Any]) -> None:
            if self.fault_hit():
                return
            path = self.path.rstrip("/")
            if path == "/tokenize" and (server.token_ids or server.vllm_ids):  # llama.cpp's and vLLM's, beside /v1
                text = req.get("content", req.get("prompt", ""))
                special = bool(req.get("add_special", req.get("add_special_tokens", True)))
                return self.send_json(
                    200, {"tokens": server.backend.tokenizer(text, add_special_tokens=special)["input_ids"]}
                )
            if path not in ("/v1/completions", "/v1/chat/completions"):
                return self.error(404, f"no route {self.path}")
            if server.replies is not None:
                return self.replay(req, path)
            if req.get("model") != server.model:
                return self.error(404, f"The model `{req.get('model')}` does not exist.", "model_not_found")
            if server.strict and "return_token_ids" in req:
                return self.error(400, "Unrecognized request argument supplied: return_token_ids")
            self.complete(req, legacy=path == "/v1/completions")

        def replay(self, req: dict[str, Any], path: str) -> None:
            stream, n = bool(req.get("stream")), int(req.get("n") or 1)
            same = [r for r in server.replies or [] if r.path == path and r.stream == stream and r.n == n]
            if not same:
                return self.error(400, f"no recorded reply for {path} with stream={stream} n={n}")
            if req.get("model") != same[0].request.get("model"):
                return self.error(404, f"The model `{req.get('model')}` does not exist.", "model_not_found")
            with server._count:
                rec = same[min(sum(1 for name in server.replayed if name in {r.name for r in same}), len(same) - 1)]
                server.replayed.append(rec.name)
            overtakes = any(r.header.get("overtaken_by") == rec.name for r in server.replies or [])
            if rec.header.get("overtaken_by"):
                server._overtaker.wait(10)  # the real server ended this stream when the other request came
            elif overtakes and not server._overtaker.is_set():
                server._overtaker.set()
                server._overtaken_sent.wait(10)
            else:
                overtakes = False
            self.send_response(rec.header.get("status", 200))
            self.send_header("Content-Type", rec.header.get("content_type") or "application/json")
            if not rec.stream:
                self.send_header("Content-Length", str(len(rec.body)))
                self.end_headers()
                self.wfile.write(rec.body)
                return
            self.end_headers()
            for i, event in enumerate(rec.events()):
                if server.fault == "cut" and i >= server.cut_after:
                    return  # the connection closes here, in the middle of the recorded stream
                self.wfile.write(event)
                self.wfile.flush()
                if overtakes and i == 0:
                    time.sleep(server.overlap_s)  # still in flight when the overtaken stream has ended
            if rec.header.get("overtaken_by"):
                server._overtaken_sent.set()

        def fault_hit(self) -> bool:
            """Answer with the switched-on fault, if it still applies; True if answered."""
            if server.api_key and self.headers.get("Authorization") != f"Bearer {server.api_key}":
                self.error(401, "Incorrect API key provided.", "invalid_api_key")
                return True
            fault = server.fault
            if fault is None or server.fault_times <= 0 or fault in ("cut", "stream_error", "malformed"):
                return False
            server.fault_times -= 1
            after = {"Retry-After": server.retry_after} if server.retry_after else {}
            if fault == "hang":
                server._stopping.wait(server.hang_s)
                return False
            if fault in ("401", "403"):
                self.error(int(fault), "You are not allowed to use this model.", "forbidden")
            elif fault == "429":
                self.error(429, "Rate limit reached for requests", "rate_limit_exceeded", after)
            else:
                self.error(int(fault), "The server had an error while processing your request.", None, after)
            return True

        def complete(self, req: dict[str, Any], legacy: bool) -> None:
            if server.instant and not req.get("stream"):
                return self.send_json(200, server.canned_reply(req, legacy))
            if legacy:
                prompt = req.get("prompt", "")
                server.prompts.append(prompt)
                if isinstance(prompt, list):
                    if not (server.token_ids or server.vllm_ids):
                        return self.error(400, "prompt must be a string")
                    from loom.tree import Context, Segment

                    ids = tuple(prompt)
                    prompt = Context((Segment(server.backend.tokenizer.decode(ids), ids, server.backend.name, None),))
                k = int(req.get("logprobs") or 0) if req.get("logprobs") is not None else 0
                wants_lp = req.get("logprobs") is not None
            else:
                prompt = "".join(str(m.get("content") or "") for m in req.get("messages", []))
                k = int(req.get("top_logprobs") or 0)
                wants_lp = bool(req.get("logprobs"))
            n = int(req.get("n") or 1)
            n = min(n, server.max_n) if server.max_n else n
            stream = bool(req.get("stream"))
            if server.fault == "malformed" and server.fault_times > 0 and not stream:
                server.fault_times -= 1
                return self.send_json(200, b'{"id": "cmpl-1", "choices": [{"text": "oops"')
            echo = legacy and req.get("echo") and server.echo
            branches = server.sample(prompt, req, n, k)
            prefix: list = []
            if echo:
                ids = server.backend.encode(prompt)
                dec = codecs.getincrementaldecoder("utf-8")()
                prefix = [
                    (tid, lp, top, dec.decode(server.token_bytes(tid)))
                    for tid, lp, top in server.forced([], ids, max(k, 1))
                ]
                if server.echo_shift:  # token i is given token i+1's numbers
                    prefix = [(p[0], q[1], q[2], p[3]) for p, q in zip(prefix, prefix[1:] + [(None, -1.0, [], "")])]
                if server.echo_drop_first:
                    prefix = prefix[1:]
            base = {
                "id": "cmpl-loom",
                "created": int(time.time()),
                "model": server.model,
                "object": "text_completion" if legacy else ("chat.completion.chunk" if stream else "chat.completion"),
            }
            offset0 = len(prompt) if server.offset_from_prompt else 0

            def lp_of(steps, offset):
                return server.logprobs_obj(steps, legacy, offset) if wants_lp else None

            names_ids = server.vllm_ids and bool(req.get("return_token_ids"))

            if not stream:
                choices = []
                for i, br in enumerate(branches):
                    steps = prefix + br["tokens"]
                    text = "".join(s[3] for s in steps)
                    choice = {
                        "index": i,
                        "finish_reason": br["finish"],
                        "logprobs": lp_of(steps, 0 if echo else offset0),
                    }
                    if names_ids:
                        choice["token_ids"] = [t[0] for t in br["tokens"]]
                    choice.update({"text": text} if legacy else {"message": {"role": "assistant", "content": text}})
                    choices.append(choice)
                return self.send_json(200, {**base, "choices": choices})

            with server._count:
                server.generation += 1
                mine = server.generation
            self.send_response(200)
            self.send_header("Content-Type", "text/event-stream")
            self.send_header("Connection", "close")  # no length: the stream ends with the connection
            self.close_connection = True
            self.end_headers()
            if not legacy:
                self.sse(
                    {
                        **base,
                        "choices": [
                            {
                                "index": i,
                                "delta": {"role": "assistant", "content": ""},
                                "logprobs": None,
                                "finish_reason": None,
                            }
                            for i in range(len(branches))
                        ],
                    }
                )
            sent = 0
            offsets = [offset0] * len(branches)
            width = max((len(br["tokens"]) for br in branches), default=0)
            for step in range(width):  # interleave branches, as vLLM does
                for i, br in enumerate(branches):
                    if step >= len(br["tokens"]):
                        continue
                    if (
                        server.fault in ("cut", "stream_error", "malformed")
                        and server.fault_times > 0
                        and sent >= server.cut_after
                    ):
                        server.fault_times -= 1
                        if server.fault == "stream_error":
                            self.sse({"error": {"message": "CUDA out of memory", "code": 500}})
                        elif server.fault == "malformed":
                            self.sse('{"id": "cmpl-loom", "choices": [{"text": "br')
                        return  # "cut": the connection closes here, without [DONE]
                    if server.cancel_on_new and server.generation != mine:
                        self.wfile.write(b"data: [DONE]\n\n")  # a newer request took over: this one just ends
                        return
                    if server.chunk_delay:
                        time.sleep(server.chunk_delay)
                    tok = br["tokens"][step]
                    choice = {"index": i, "logprobs": lp_of([tok], offsets[i]), "finish_reason": None}
                    if names_ids:
                        choice["token_ids"] = [tok[0]]
                    choice.update({"text": tok[3]} if legacy else {"delta": {"content": tok[3]}})
                    offsets[i] += len(tok[3])
                    self.sse({**base, "choices": [choice]})
                    sent += 1
            for i, br in enumerate(branches):
                choice = {"index": i, "logprobs": None, "finish_reason": br["finish"]}
                choice.update({"text": ""} if legacy else {"delta": {}})
                self.sse({**base, "choices": [choice]})
            self.sse("[DONE]")

    return Handler


def main(argv: list[str]) -> None:
    """`python tests/fake_openai_server.py --instant [--port P] [--while-stdin]`: serve until killed
    (or, with --while-stdin, until standard input closes: its parent is gone); prints the URL."""
    port = int(argv[argv.index("--port") + 1]) if "--port" in argv else 0
    if "--instant" not in argv:
        raise SystemExit("only --instant runs on its own (the model-backed server needs a backend)")
    server = FakeOpenAI(None, instant=True, port=port)
    print(server.url, flush=True)
    if "--while-stdin" in argv:
        threading.Thread(target=lambda: (sys.stdin.read(), server._stopping.set()), daemon=True).start()
    try:
        server._stopping.wait()
    except KeyboardInterrupt:
        pass


if __name__ == "__main__":
    main(sys.argv[1:])
