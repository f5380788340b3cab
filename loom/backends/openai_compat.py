"""Any OpenAI-compatible server (OpenAI, vLLM, llama.cpp, Ollama, Together,
OpenRouter...) as a loom model, through the `openai` package.

The `openai` client does the HTTP, the SSE streaming and the retries (429
honouring Retry-After, 5xx and dropped connections, with backoff, up to the
profile's max_retries); this module builds the requests, reads the logprobs
dialects (openai_logprobs.py), keeps many requests in flight (its async client
on an event loop, openai_engine.py), and turns every fault into a BackendError
that names the server and the cause. The API key is read from the environment
at every request and never kept, logged or put in a message.

Branches and seeds: with no seed, n is asked for in requests of at most
`max_n` choices, so that several servers (a list of base URLs, or a load
balancer) share them; if the server returns fewer choices (llama.cpp and Ollama
ignore `n`), the rest are asked for one request each, and later calls do so at
once. With a seed, branch i is its own request with seed + i, so that it can be
replayed alone, as with the local backend. At most `concurrency` requests wait
on each server at once, whatever the number of items (a report's temperatures
run together: generate_many).

Replies are streamed only where a person watches tokens arrive (`live`, the
app): elsewhere each request returns whole, read as plain JSON, and a reply in
the common shape gives its tokens as one TokensEvent whose Token objects are
built only when read."""

from __future__ import annotations

import asyncio
import json
import os
import queue
import threading
from collections import deque
from collections.abc import Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING, Any, TypeAlias, TypeVar
from urllib.parse import urlsplit, urlunsplit

from ..config import Profile
from ..textsafe import redact
from ..tokenbytes import display_text
from ..tree import (
    Alternative,
    BranchDone,
    Context,
    Distribution,
    GenerationParams,
    Notice,
    Token,
    TokenEvent,
    TokensEvent,
)
from .base import Backend, BackendError, Event, Prompt, StopText, branch_seeds
from .openai_engine import Engine, async_key, loop_running_here
from .openai_logprobs import (
    LogprobsFormatError,
    TextAligner,
    WireToken,
    parse_logprobs,
    plain_legacy_tokens,
)

MAX_STOPS = 4  # OpenAI accepts at most four stop strings; loom applies the rest itself
CHAT_TOP_LOGPROBS = 20  # the chat API's limit for top_logprobs
T = TypeVar("T")
FINISH = {"stop": "stop", "length": "length", "eos": "eos", "content_filter": "stop", "tool_calls": "stop"}

if TYPE_CHECKING:
    from openai import Stream
    from openai.types import Completion
    from openai.types.chat import ChatCompletion, ChatCompletionChunk

    #: what the client returns for one request: a whole reply, or a stream of chunks
    Reply: TypeAlias = Completion | ChatCompletion | Stream[Completion] | Stream[ChatCompletionChunk]


class _Cancelled(Exception):
    pass


class _StreamError(Exception):
    """An error object sent inside a stream (vLLM, llama.cpp do this mid-generation)."""


class _EmptyStream(Exception):
    """A stream that closed before its first chunk."""


def plain(obj: Any) -> Any:
    """The JSON the server sent, from the client's response objects.

    The client builds typed objects without validating them, keeping fields
    it does not know as extras; dumping through the typed model would mangle
    dialects it does not expect (a `content` list on /v1/completions, top
    logprobs as lists), so the raw values are collected instead."""
    import pydantic

    if isinstance(obj, pydantic.BaseModel):
        extra = obj.__pydantic_extra__ or {}
        out = {k: plain(v) for k, v in obj.__dict__.items() if k in obj.model_fields_set}
        out.update({k: plain(v) for k, v in extra.items()})
        return out
    if isinstance(obj, list):
        return [plain(v) for v in obj]
    if isinstance(obj, dict):
        return {k: plain(v) for k, v in obj.items()}
    return obj


@dataclass
class _Branch:
    aligner: TextAligner
    stop: StopText
    done: bool = False
    tokens: int = 0


@dataclass
class _Run:
    """One (prompt, settings) item of a generate_many call, and where its branches are."""

    index: int
    prompt: Prompt
    wire: str | list[int]
    params: GenerationParams
    seeds: list[int] | None
    sofar: dict[int, list[Token]] | None  # streams only: each branch's tokens, to resume one the server cut
    running: int = 0  # its requests not yet ended
    finished: set[int] = field(default_factory=set)
    completed: int = 0
    errors: list[str] = field(default_factory=list)
    #: resumptions, sent one at a time
    waiting: list[tuple[str | list[int], GenerationParams, _Job]] = field(default_factory=list)

    def seed_of(self, branch: int) -> int | None:
        return self.seeds[branch] if self.seeds else None


@dataclass
class _Job:
    run: _Run
    branches: list[int]
    seed: int | None
    probe: bool = False  # asks for several choices in one request; missing ones are asked for again
    seen: set[int] = field(default_factory=set)
    overlapped: bool = False  # another request was in flight on its server when its reply ended


class _Call:
    """One generate_many call: the events its requests posted (lists of event tuples, one
    list per chunk or reply: ("token", run, branch, Token), ("done", run, branch, reason),
    ("notice", run, text), ("end", _Job, error, cut branches)), its tasks and its stop flag."""

    def __init__(self, engine: Engine, live: bool, stream: bool):
        self.engine = engine
        self.live = live
        self.stream = stream
        self.batches: deque[list[tuple[Any, ...]]] = deque()
        self.stop = threading.Event()
        self.tasks: list[asyncio.Task[None]] = []

    def post(self, batch: list[tuple[Any, ...]]) -> None:
        self.batches.append(batch)
        self.engine.arrived()


def _in_thread(events: Iterator[T]) -> Iterator[T]:
    """`events`, produced on a thread of their own (for a caller whose thread already
    runs an event loop, as in a notebook), handed over through a small queue."""
    handoff: queue.Queue[tuple[str, Any]] = queue.Queue(maxsize=1024)
    closed = threading.Event()

    def produce() -> None:
        try:
            for item in events:
                while not closed.is_set():
                    try:
                        handoff.put(("item", item), timeout=0.1)
                        break
                    except queue.Full:
                        continue
                if closed.is_set():
                    break
            handoff.put(("end", None))
        except BaseException as exc:  # handed to the caller, raised there
            handoff.put(("error", exc))
        finally:
            close = getattr(events, "close", None)
            if close:
                close()

    thread = threading.Thread(target=produce, name="loom-openai", daemon=True)
    thread.start()
    try:
        while True:
            kind, value = handoff.get()
            if kind == "end":
                return
            if kind == "error":
                raise value
            yield value
    finally:
        closed.set()


class OpenAIBackend(Backend):
    def __init__(self, profile: Profile, ref: str | None = None):
        import openai

        self.profile = profile
        self.name = redact(ref or profile.name)
        given = [url.rstrip("/") for url in profile.resolved_base_urls()]
        # URL credentials are never sent: httpx would turn them into Basic auth in
        # place of the key. Messages show the URL as http://***@host.
        clean = [without_credentials(url) for url in given]
        self.base_urls = [url for url, _ in clean]
        self.base_url = self.base_urls[0]  # tokenising, listing models, scoring: any server of the list will do
        self._url_had_credentials = any(had for _, had in clean)
        self._server_names = [f"server {redact(url)}" for url in given]
        named = f" (profile {profile.name!r})" if profile.name else ""
        if len(given) == 1:
            self.server = self._server_names[0] + named
        else:
            self.server = f"servers {', '.join(redact(url) for url in given)}{named}"
        self._ids_ok = profile.token_prompts  # None: not known yet whether the server takes id prompts
        self._vllm: bool | None = None  # whether to ask for the sampled ids (vLLM's return_token_ids)
        self._tokenized: dict[tuple[str, bool], list[int]] = {}
        self._last_wire: tuple[Prompt, tuple[str | list[int], dict[str, Any]]] | None = None
        self._url_note = (
            f"{self.server}: the credentials in its URL are not sent; loom authenticates with the key in "
            f"${profile.api_key_env}"
            if self._url_had_credentials
            else None
        )
        self.can_score = profile.api == "completions"
        self._n_ok = profile.n_per_request
        self._serial = profile.concurrency <= 1  # one request at a time (found out: a server that cuts parallel ones)
        self._told = threading.Lock()
        self._told_no_logprobs = False
        self._requests: Engine | None = None  # started at the first generation
        host = urlsplit(self.base_url).hostname or ""
        self.max_logprobs = (
            profile.max_logprobs
            if profile.max_logprobs is not None
            else (5 if host.endswith("api.openai.com") and profile.api == "completions" else CHAT_TOP_LOGPROBS)
        )
        # a callable key: the client asks for it at every request, so a key set
        # or changed after start is used, and none is kept on this object
        self._client = openai.OpenAI(
            base_url=self.base_url,
            api_key=self._api_key,
            timeout=profile.timeout,
            max_retries=profile.max_retries,
        )

    def _engine(self) -> Engine:
        """The event loop and async clients for generation, made once."""
        with self._told:
            if self._requests is None:
                import openai

                clients = [
                    openai.AsyncOpenAI(
                        base_url=url,
                        api_key=async_key(self._api_key),
                        timeout=self.profile.timeout,
                        max_retries=self.profile.max_retries,
                    )
                    for url in self.base_urls
                ]
                self._requests = Engine(clients, self._per_server)
            return self._requests

    def _per_server(self) -> int:
        return 1 if self._serial else self.profile.concurrency

    def requests_sent(self) -> list[int]:
        """How many generation requests went to each base URL so far."""
        return list(self._requests.sent) if self._requests else [0] * len(self.base_urls)

    def _take_url_note(self) -> str | None:
        with self._told:
            note, self._url_note = self._url_note, None
        return note

    def _api_key(self) -> str:
        # servers without keys (vLLM, llama.cpp by default) accept any value
        return os.environ.get(self.profile.api_key_env) or "no-key"

    def _server_name(self, server: int | None) -> str:
        return self.server if server is None or len(self.base_urls) == 1 else self._server_names[server]

    @property
    def full_distributions_refusal(self) -> str:  # type: ignore[override]
        return (
            f"{self.server} is an OpenAI-compatible server, which returns only the top {self.max_logprobs} "
            "logprobs of each position; a KL between two models' next-token distributions needs every "
            "token's probability, and loom does not approximate it from the top-k. Use local models "
            "(a model folder, or one in the Hugging Face cache) for this."
        )

    def close(self) -> None:
        self._client.close()
        if self._requests is not None:
            self._requests.close()
            self._requests = None

    # -- requests ---------------------------------------------------------------
    def _body(
        self,
        prompt: str | list[int],
        params: GenerationParams,
        n: int,
        seed: int | None,
        stream: bool,
        top: int | None = None,
    ) -> dict[str, Any]:
        p = self.profile
        body: dict[str, Any] = {
            "model": p.model,
            "max_tokens": params.max_tokens,
            "temperature": params.temperature,
            "n": n,
        }
        if params.top_p < 1:
            body["top_p"] = params.top_p
        if seed is not None:
            body["seed"] = seed
        if params.stop:
            body["stop"] = params.stop[:MAX_STOPS]
        # samplers outside the OpenAI API: sent only when used, in the names vLLM and llama.cpp use
        if params.top_k:
            body["top_k"] = params.top_k
        if params.min_p:
            body["min_p"] = params.min_p
        if params.xtc_probability and params.xtc_threshold:
            body["xtc_threshold"] = params.xtc_threshold
            body["xtc_probability"] = params.xtc_probability
        k = min(params.logprobs if top is None else top, self.max_logprobs)
        if p.api == "chat":
            messages: list[dict[str, Any]] = [{"role": "system", "content": p.system}] if p.system else []
            messages.append({"role": p.chat_prompt, "content": prompt})
            body.update(messages=messages, logprobs=True, top_logprobs=min(k, CHAT_TOP_LOGPROBS))
        else:
            body.update(prompt=prompt, logprobs=k)
            if self._names_ids():
                body["return_token_ids"] = True  # vLLM: the sampled ids beside the texts, so they can go back as ids
        if stream:
            body["stream"] = True
        body.update(p.extra)
        return body

    def _create(self, body: dict[str, Any]) -> Reply:
        """Send a request through the client; fields it does not type go in extra_body.
        A server that refuses the request for `return_token_ids` gets it again without."""
        import openai

        try:
            return self._send(body)
        except openai.BadRequestError as exc:
            if "return_token_ids" not in body or "return_token_ids" not in str(exc):
                raise
            self._vllm = False
            return self._send({k: v for k, v in body.items() if k != "return_token_ids"})

    def _send(self, body: dict[str, Any]) -> Reply:
        body = dict(body)
        stream = bool(body.pop("stream", False))
        model = body.pop("model")
        if self.profile.api == "chat":
            messages = body.pop("messages")
            return self._client.chat.completions.create(model=model, messages=messages, stream=stream, extra_body=body)
        prompt = body.pop("prompt")
        return self._client.completions.create(model=model, prompt=prompt, stream=stream, extra_body=body)

    async def _acreate(self, client: Any, body: dict[str, Any]) -> Any:
        """_create on an async client (a streamed request)."""
        import openai

        try:
            return await self._asend(client, body)
        except openai.BadRequestError as exc:
            if "return_token_ids" not in body or "return_token_ids" not in str(exc):
                raise
            self._vllm = False
            return await self._asend(client, {k: v for k, v in body.items() if k != "return_token_ids"})

    async def _asend(self, client: Any, body: dict[str, Any]) -> Any:
        body = dict(body)
        stream = bool(body.pop("stream", False))
        model = body.pop("model")
        if self.profile.api == "chat":
            messages = body.pop("messages")
            return await client.chat.completions.create(model=model, messages=messages, stream=stream, extra_body=body)
        prompt = body.pop("prompt")
        return await client.completions.create(model=model, prompt=prompt, stream=stream, extra_body=body)

    async def _post(self, client: Any, body: dict[str, Any]) -> Any:
        """A whole reply as the JSON the server sent. The client does the HTTP, the retries
        and the faults; its typed objects are skipped, as loom reads the plain JSON anyway
        (see `plain`) and building them costs more than everything else loom does per token."""
        import openai

        path = "/chat/completions" if self.profile.api == "chat" else "/completions"
        try:
            raw = await client.post(path, cast_to=bytes, body=body)
        except openai.BadRequestError as exc:
            if "return_token_ids" not in body or "return_token_ids" not in str(exc):
                raise
            self._vllm = False
            body = {k: v for k, v in body.items() if k != "return_token_ids"}
            raw = await client.post(path, cast_to=bytes, body=body)
        try:
            return json.loads(raw)
        except ValueError as exc:  # not JSON, or not text at all
            raise LogprobsFormatError(f"the reply is not JSON ({type(exc).__name__}: {exc})") from None

    def _text_of(self, choice: dict[str, Any]) -> str:
        if self.profile.api == "chat":
            part = choice.get("delta") or choice.get("message") or {}
            text = part.get("content") if isinstance(part, dict) else None
        else:
            text = choice.get("text")
        return text if isinstance(text, str) else ""

    # -- faults -----------------------------------------------------------------
    def explain(self, exc: BaseException, server: int | None = None) -> str:
        """A message naming the server (`server`: which of the profile's base URLs) and the cause; never the key."""
        import openai

        s, p = self._server_name(server), self.profile
        if isinstance(exc, openai.APITimeoutError):
            msg = (
                f"{s}: no answer within {p.timeout:g} s (timeout); the server may be busy or still loading "
                f"the model; raise `timeout` in the profile"
            )
        elif isinstance(exc, openai.APIConnectionError):
            cause = _root(exc)
            if isinstance(cause, ConnectionRefusedError) or "refused" in str(cause).lower():
                msg = f"{s}: connection refused: nothing is listening there; is the server running and base_url right?"
            else:
                msg = f"{s}: cannot connect ({type(cause).__name__}: {cause})"
        elif isinstance(exc, (openai.AuthenticationError, openai.PermissionDeniedError)):
            env = p.api_key_env
            why = f"${env} is not set" if not os.environ.get(env) else f"the key in ${env} was refused"
            if self._url_had_credentials:
                why += " (the credentials in base_url are not sent)"
            msg = f"{s}: {exc.status_code} {'unauthorized' if exc.status_code == 401 else 'forbidden'}: {why}{_detail(exc)}"
        elif isinstance(exc, openai.NotFoundError):
            msg = (
                f"{s}: 404 not found: the server does not know model {p.model!r}, or base_url lacks its "
                f"/v1 part{_detail(exc)}; `loom models --check {self.name}` lists the models it serves"
            )
        elif isinstance(exc, openai.RateLimitError):
            msg = (
                f"{s}: 429 too many requests, still after {p.max_retries} retries that waited as long as the "
                f"server's Retry-After asked{_detail(exc)}; try later or lower `concurrency` in the profile"
            )
        elif isinstance(exc, openai.APIStatusError) and exc.status_code >= 500:
            msg = f"{s}: server error {exc.status_code}, still after {p.max_retries} retries{_detail(exc)}"
        elif isinstance(exc, openai.APIStatusError):
            msg = f"{s}: rejected the request ({exc.status_code}){_detail(exc)}"
        elif isinstance(
            exc,
            (
                openai.APIResponseValidationError,
                json.JSONDecodeError,
                LogprobsFormatError,
                KeyError,
                TypeError,
                AttributeError,
            ),
        ):
            msg = f"{s}: sent a malformed response, not in the OpenAI format ({type(exc).__name__}: {_short(exc)})"
        elif isinstance(exc, openai.APIError) and not isinstance(exc, openai.APIConnectionError):
            # an error event inside a stream (vLLM and llama.cpp send one when generation fails)
            msg = f"{s}: reported an error in the middle of its reply: {_short(exc)}"
        else:
            msg = f"{s}: the connection broke off ({type(exc).__name__}: {_short(exc)})"
        return self._scrub(msg)

    def _scrub(self, text: str) -> str:
        key = os.environ.get(self.profile.api_key_env)
        return text.replace(key, "***") if key and len(key) >= 4 else text

    def _call(self, body: dict[str, Any]) -> dict[str, Any]:
        """One request without streaming; the response as plain JSON, or a BackendError."""
        try:
            data = plain(self._create({**body, "stream": False}))
            if not isinstance(data, dict) or not isinstance(data.get("choices"), list) or not data["choices"]:
                raise LogprobsFormatError("no choices in the response")
            return data
        except Exception as exc:
            if _ours(exc):
                raise BackendError(self.explain(exc)) from None
            raise

    # -- contexts as token ids ------------------------------------------------------
    def _names_ids(self) -> bool:
        """Whether to ask the server for the ids it samples (vLLM's
        `return_token_ids`; llama.cpp names them unasked; others ignore the
        field). Not asked of OpenAI's own API, which refuses unknown fields,
        nor of a server that refused it once (see _create)."""
        if self._vllm is None:
            host = urlsplit(self.base_url).hostname or ""
            self._vllm = (
                self.profile.api == "completions"
                and self.profile.token_prompts is not False
                and not host.endswith("openai.com")
            )
        return self._vllm

    def context_form(self, prompt: Prompt) -> dict[str, Any]:
        return self._wire_prompt(prompt)[1]

    def _wire_prompt(self, prompt: Prompt) -> tuple[str | list[int], dict[str, Any]]:
        """What the completions endpoint is sent for a context, and how (recorded with each node).

        Token ids where this server's model wrote part of the context and told
        which ids it sampled (llama.cpp's replies do): those ids exactly, human
        text tokenised by the server's /tokenize where it sits, nodes of other
        models tokenised and named. Text otherwise: chat, `token_prompts = false`,
        nothing the server wrote, or a server that cannot tokenise."""
        last = self._last_wire
        if last is not None and last[0] is prompt:
            return last[1]
        ctx = Context.of(prompt)
        text_form: tuple[str | list[int], dict[str, Any]] = (ctx.text, {"form": "text", "retokenised": []})
        own = any(seg.ids is not None and seg.model == self.name for seg in ctx.segments)
        if self.profile.api != "completions" or self._ids_ok is False or not (own or self._ids_ok):
            result = text_form
        else:
            ids: list[int] = []
            retokenised: list[int] = []
            try:
                for i, seg in enumerate(ctx.segments):
                    if seg.ids is not None and seg.model == self.name:
                        ids += seg.ids
                    else:
                        if seg.ids is not None and seg.node is not None:
                            retokenised.append(seg.node)
                        ids += self._tokenize(seg.text, first=i == 0)
                result = (ids, {"form": "ids", "retokenised": retokenised})
            except BackendError:
                if self.profile.token_prompts:
                    raise
                self._ids_ok = False  # this server cannot tokenise: text from now on
                result = text_form
        if isinstance(prompt, Context):
            self._last_wire = (prompt, result)
        return result

    def _tokenize(self, text: str, first: bool) -> list[int]:
        """The server's own token ids for human text (vLLM's and llama.cpp's /tokenize, beside /v1).
        The first segment gets the model's special start tokens, as a text prompt would."""
        if not text:
            return []
        key = (text, first)
        if key not in self._tokenized:
            import openai

            root = self.base_url[: -len("/v1")] if self.base_url.endswith("/v1") else self.base_url
            body = {
                "model": self.profile.model,
                "prompt": text,
                "content": text,
                "add_special": first,
                "add_special_tokens": first,
            }
            try:
                # through the client (its key, retries and timeout); an absolute URL leaves /v1 aside
                reply = self._client.post(f"{root}/tokenize", body=body, cast_to=object)
                tokens = reply["tokens"] if isinstance(reply, dict) else None
                if not isinstance(tokens, list) or not all(
                    isinstance(t, int) and not isinstance(t, bool) for t in tokens
                ):
                    raise ValueError("its reply holds no list of token ids")
            except (openai.OpenAIError, ValueError) as exc:
                raise BackendError(
                    self._scrub(
                        f"{self.server}: cannot tokenise text at {redact(root)}/tokenize ({type(exc).__name__}: "
                        f"{_short(exc)}), so the context cannot be sent as token ids; set token_prompts = false in the "
                        "profile to send text"
                    )
                ) from None
            self._tokenized[key] = tokens
        return list(self._tokenized[key])

    # -- generation ---------------------------------------------------------------
    def refuse_unsupported(self, params: GenerationParams) -> None:
        if params.cap < 1:
            # the sampler runs on the server, which has no such setting, and loom sees only a few
            # top logprobs per token: it cannot renormalise the rest itself
            raise BackendError(
                f"{self.server}: a probability cap (cap {params.cap:g}) cannot be applied on an "
                "OpenAI-compatible server: its sampler runs on the server, which has no such "
                "setting; use a local model, or set cap to 1 (off)"
            )

    def generate(
        self, prompt: Prompt, params: GenerationParams, cancel: threading.Event | None = None
    ) -> Iterator[Event]:
        """Branches as they arrive, token by token (streamed where the profile allows)."""
        for _, event in self.generate_many([(prompt, params)], cancel, live=True):
            yield event

    def generate_many(
        self,
        items: Sequence[tuple[Prompt, GenerationParams]],
        cancel: threading.Event | None = None,
        live: bool = True,
    ) -> Iterator[tuple[int, Event]]:
        """All items at once: every request of every item is sent as soon as there is room
        (`concurrency` per server), and events come as replies arrive. Replies are streamed
        only when `live` (a person is watching tokens arrive) and the profile allows; otherwise
        each request returns whole, which costs the server and loom far less per token."""
        items = list(items)
        for _prompt, params in items:
            params.validate()
            self.refuse_unsupported(params)  # before a request (even /tokenize) is sent
        events = self._generate_many(items, cancel, live)
        if loop_running_here():  # a notebook's loop runs on this thread: the engine's cannot run here
            events = _in_thread(events)
        yield from events

    def _generate_many(
        self, items: list[tuple[Prompt, GenerationParams]], cancel: threading.Event | None, live: bool
    ) -> Iterator[tuple[int, Event]]:
        engine = self._engine()
        call = _Call(engine, live, stream=live and self.profile.stream)
        runs = []
        for index, (prompt, params) in enumerate(items):
            wire, _form = self._wire_prompt(prompt)  # ids or text, as context_form reports
            seeds = branch_seeds(params) if params.seed is not None else None
            runs.append(_Run(index, prompt, wire, params, seeds, {} if call.stream else None))
        note = self._take_url_note()
        if note:
            yield 0, Notice(note)
        try:
            for run in runs:
                for job in self._first_jobs(run):
                    self._start(call, run.wire, run.params, job)
            while any(run.running for run in runs):
                if cancel is not None and cancel.is_set():
                    # the requests stop now; the user need not wait for them
                    call.stop.set()
                    for run in runs:
                        for b in range(run.params.n):
                            if b not in run.finished:
                                yield run.index, BranchDone(b, "cancelled", run.seed_of(b))
                    return
                if not call.batches:
                    engine.wait(lambda: bool(call.batches))
                    continue
                for ev in call.batches.popleft():
                    kind = ev[0]
                    if kind == "tokens":
                        yield ev[1].index, TokensEvent(ev[2], ev[3])
                    elif kind == "token":
                        _, run, b, tok = ev
                        if run.sofar is not None:
                            run.sofar.setdefault(b, []).append(tok)
                        yield run.index, TokenEvent(b, tok)
                    elif kind == "done":
                        _, run, b, reason = ev
                        run.finished.add(b)
                        run.completed += reason not in ("cancelled", "error")
                        yield run.index, BranchDone(b, reason, run.seed_of(b))
                    elif kind == "notice":
                        yield ev[1].index, Notice(ev[2])
                    elif kind == "bug":
                        raise ev[1]
                    elif kind == "end":
                        job = ev[1]
                        for event in self._end_job(call, *ev[1:]):
                            yield job.run.index, event
        finally:
            call.stop.set()
            engine.stop(call.tasks)

    def _first_jobs(self, run: _Run) -> list[_Job]:
        """Seeded branches one request each (seed + i, so each replays alone), as for a server
        that ignores n; else n in chunks of at most max_n, so several servers share the work."""
        n, seeds = run.params.n, run.seeds
        if seeds is not None or n == 1 or self._n_ok is False:
            return [_Job(run, [b], seeds[b] if seeds else None) for b in range(n)]
        size = max(1, self.profile.max_n)
        return [_Job(run, list(range(s, min(n, s + size))), None, probe=True) for s in range(0, n, size)]

    def _start(self, call: _Call, prompt: str | list[int], params: GenerationParams, job: _Job) -> None:
        job.run.running += 1
        call.tasks.append(call.engine.start(self._run_job(call.engine, call, prompt, params, job)))

    def _end_job(self, call: _Call, job: _Job, error: str | None, cut: list[int]) -> Iterator[Event]:
        """What a finished request means for its item: resume, ask again, fail, or finish."""
        run, params = job.run, job.run.params
        run.running -= 1
        if cut and job.overlapped and run.sofar is not None and not call.stop.is_set():
            # the stream ended with no finish reason while another request ran: a
            # server that serves one request at a time and drops the older
            # (llama-cpp-python's default). Resume the cut branches where they
            # stopped, one request at a time from now on.
            if not self._serial:
                self._serial = True
                yield Notice(
                    f"{self.server} ends a running request when another arrives (llama-cpp-python's "
                    "server does this), which cut branches short; loom resumed them where they were cut "
                    "and sends one request at a time from now on (set concurrency = 1 in the profile "
                    "to start that way)"
                )
            for b in cut:
                left = params.max_tokens - len(run.sofar.get(b, []))
                if left <= 0:
                    run.finished.add(b)
                    run.completed += 1
                    yield BranchDone(b, "length", run.seed_of(b))
                    continue
                resumed = self._resumed(run.prompt, run.wire, run.sofar.get(b, []))
                run.waiting.append((resumed, replace(params, max_tokens=left), _Job(run, [b], run.seed_of(b))))
            error, cut = None, []
        for b in cut:  # cut with nothing else running: the server's fault
            run.finished.add(b)
            kept = len((run.sofar or {}).get(b, []))
            error = error or (
                f"{self.server}: the response ended before branch {b} finished (no finish_reason, no "
                "error), so loom "
                + (
                    f"kept the {kept} token{'s' * (kept != 1)} it sent as an incomplete branch"
                    if kept
                    else "has nothing of it to keep"
                )
            )
            yield BranchDone(b, "error", run.seed_of(b))
        if error:
            run.errors.append(error)
        if run.waiting and not run.running:
            resumed, left_params, resumed_job = run.waiting.pop(0)
            self._start(call, resumed, left_params, resumed_job)
            return
        missing = [b for i, b in enumerate(job.branches) if i not in job.seen]
        if job.probe and not error and not call.stop.is_set() and missing:
            # the server gave fewer choices than asked for: ask for the rest one by one
            self._n_ok = False
            yield Notice(
                f"{self.server} sent {len(job.seen)} choice(s) for n = {len(job.branches)}: it ignores n "
                f"(llama-cpp-python's and Ollama's servers do); loom asked for the other "
                f"{len(missing)} branches one request each, and asks so from the start from now on "
                "(n_per_request = false in the profile says so up front)"
            )
            for b in missing:
                self._start(call, run.wire, params, _Job(run, [b], None))
            return
        if job.probe and not missing:
            self._n_ok = True
        for b in missing:
            if b not in run.finished:
                run.finished.add(b)
                if not error and not call.stop.is_set():
                    run.errors.append(f"{self.server}: sent no choice for branch {b}")
                yield BranchDone(b, "cancelled" if call.stop.is_set() else "error", run.seed_of(b))
        if not run.running and run.errors:
            if not run.completed:
                raise BackendError(run.errors[0])
            n = params.n
            yield Notice(f"{n - run.completed} of {n} branches failed: {run.errors[0]}")

    def _resumed(self, original: Prompt, sent: str | list[int], tokens: list[Token]) -> str | list[int]:
        """The prompt that continues a branch from its tokens so far."""
        ids = [t.token_id for t in tokens if t.token_id is not None]
        if isinstance(sent, list) and len(ids) == len(tokens):
            return sent + ids
        return Context.of(original).text + "".join(t.text for t in tokens)

    async def _run_job(
        self, engine: Engine, call: _Call, prompt: str | list[int], params: GenerationParams, job: _Job
    ) -> None:
        """One request (streamed or not) for the branches of `job`, on the engine's loop; posts
        its events, then ("end", job, error, cut): `cut` lists the branches the reply ended
        without a finish reason."""
        states: dict[int, _Branch] = {}
        out: list[tuple[Any, ...]] = []
        error: str | None = None
        cut: list[int] = []
        server = 0
        try:
            if call.stop.is_set():
                raise _Cancelled
            n = len(job.branches)
            body = self._body(prompt, params, n, job.seed, call.stream)
            async with engine.slot() as server:
                if call.stream:
                    await self._read_stream(engine.clients[server], call, body, params, job, states)
                    job.overlapped = engine.in_flight[server] > 1  # another request was being served meanwhile
                else:
                    data = await self._post(engine.clients[server], body)
                    self._read_chunk(data, params, job, states, out, whole=not call.live)
            # branches the reply left unfinished: the caller decides (resume, or an error)
            cut = [job.branches[i] for i, st in states.items() if not st.done]
            self._release(job, states, out)
            for st in states.values():
                st.done = True
        except _Cancelled:
            self._end_states(job, states, "cancelled", out)
        except Exception as exc:
            if not _ours(exc) and not isinstance(exc, (_StreamError, _EmptyStream)):
                out.append(("bug", exc))  # a fault of loom's, not the server's: raised on the caller's thread
                return
            if isinstance(exc, _StreamError):
                error = f"{self._server_name(server)}: reported an error in the middle of its reply: {exc}"
            elif isinstance(exc, _EmptyStream):
                error = (
                    f"{self._server_name(server)}: the streamed reply closed before its first chunk "
                    "(no choice, no [DONE]), so no branch got a token"
                )
            else:
                error = self.explain(exc, server)
            self._release(job, states, out)
            self._end_states(job, states, "cancelled" if call.stop.is_set() else "error", out)
        finally:
            out.append(("end", job, error, cut))
            call.post(out)

    async def _read_stream(
        self,
        client: Any,
        call: _Call,
        body: dict[str, Any],
        params: GenerationParams,
        job: _Job,
        states: dict[int, _Branch],
    ) -> None:
        stream = await self._acreate(client, body)
        try:
            got = 0
            async for chunk in stream:
                got += 1
                if call.stop.is_set():
                    raise _Cancelled
                out: list[tuple[Any, ...]] = []
                self._read_chunk(plain(chunk), params, job, states, out, streamed=True)
                if out:
                    call.post(out)
                if states and len(states) == len(job.branches) and all(s.done for s in states.values()):
                    break
            if not got and not call.stop.is_set():
                raise _EmptyStream
        finally:
            try:
                await stream.close()
            except Exception:  # closing a broken connection may fail again; the job is over anyway
                pass

    def _read_chunk(
        self,
        data: Any,
        params: GenerationParams,
        job: _Job,
        states: dict[int, _Branch],
        out: list[tuple[Any, ...]],
        whole: bool = False,
        streamed: bool = False,
    ) -> None:
        """The choices of one streamed chunk or one whole reply."""
        if not isinstance(data, dict):
            raise LogprobsFormatError(f"a response chunk is a {type(data).__name__}")
        if isinstance(data.get("error"), dict):  # some servers report failures inside the stream
            raise _StreamError(str(data["error"].get("message") or data["error"]))
        n = len(job.branches)
        choices = data.get("choices") or []
        if not isinstance(choices, list):
            raise LogprobsFormatError(f"'choices' is a {type(choices).__name__}, not a list")
        for choice in choices:
            if not isinstance(choice, dict):
                raise LogprobsFormatError(f"a choice is a {type(choice).__name__}, not an object")
            i = choice.get("index") or 0
            if not isinstance(i, int) or not 0 <= i < n:
                continue
            job.seen.add(i)
            st = states.get(i)
            if st is None:
                st = states[i] = _Branch(TextAligner(self.profile.raw_logprobs), StopText(params.stop))
            if not st.done:
                self._take(choice, job.run, job.branches[i], st, out, whole, streamed)

    @staticmethod
    def _release(job: _Job, states: dict[int, _Branch], out: list[tuple[Any, ...]]) -> None:
        """The text unfinished branches still hold (see TextAligner.take), as tokens, when a reply ends."""
        for i, st in states.items():
            for tok in [] if st.done else st.aligner.release():
                out.append(("token", job.run, job.branches[i], tok))

    @staticmethod
    def _end_states(job: _Job, states: dict[int, _Branch], reason: str, out: list[tuple[Any, ...]]) -> None:
        for i, st in states.items():
            if not st.done:
                st.done = True
                out.append(("done", job.run, job.branches[i], reason))

    def _take(
        self,
        choice: dict[str, Any],
        run: _Run,
        branch: int,
        st: _Branch,
        out: list[tuple[Any, ...]],
        whole: bool,
        streamed: bool = False,
    ) -> None:
        """The text, tokens and finish of one choice in one chunk (`whole`: a whole reply nobody
        watches; `streamed`: a chunk of a stream, where logprobs may come a chunk after their text)."""
        text = self._text_of(choice)
        ids = choice.get("token_ids")
        quick = plain_legacy_tokens(choice.get("logprobs"), text, st.aligner, ids)
        if quick is not None:  # the common case, read quickly
            finish = choice.get("finish_reason")
            if not whole or st.stop.stops:
                self._emit(list(quick), finish, run, branch, st, out)
                return
            out.append(("tokens", run, branch, quick))  # one event for the reply's tokens, built when read
            if finish:
                st.done = True
                out.append(("done", run, branch, FINISH.get(str(finish), "stop")))
            return
        wire = parse_logprobs(choice.get("logprobs"))
        if wire and isinstance(ids, list) and len(ids) == len(wire) and all(type(t) is int for t in ids):
            # vLLM names the sampled ids beside the logprobs (return_token_ids); its alternatives stay texts
            wire = [w if w.token_id is not None else replace(w, token_id=t) for w, t in zip(wire, ids)]
        finish = choice.get("finish_reason")
        tokens, bare = st.aligner.take(wire, text, hold=streamed and not finish)
        if bare:
            self._tell_no_logprobs(run, out)
        self._emit(tokens, finish, run, branch, st, out)

    @staticmethod
    def _emit(
        tokens: list[Token], finish: Any, run: _Run, branch: int, st: _Branch, out: list[tuple[Any, ...]]
    ) -> None:
        """A choice's tokens (cut at a stop string) and its finish, as events."""
        if finish:
            tokens += st.aligner.finish()
        stops = st.stop.stops
        for tok in tokens:
            if stops:
                keep, hit = st.stop.add(tok.text)
                if keep != tok.text:  # cut by a stop string: its id no longer stands for its text
                    tok = Token(keep, tok.logprob, None, tok.alternatives, tok.raw)
                out.append(("token", run, branch, tok))
                if hit:
                    st.done = True
                    out.append(("done", run, branch, "stop"))
                    return
            else:
                out.append(("token", run, branch, tok))
        if finish:
            st.done = True
            out.append(("done", run, branch, FINISH.get(str(finish), "stop")))

    def _tell_no_logprobs(self, run: _Run, out: list[tuple[Any, ...]]) -> None:
        with self._told:
            if self._told_no_logprobs:
                return
            self._told_no_logprobs = True
        out.append(
            (
                "notice",
                run,
                f"{self.server} sends no logprobs for model {self.profile.model!r}, so its tokens are "
                f"shown without probabilities (the provider does not support them"
                + (", or needs `stream = false` in the profile)" if self.profile.stream else ")"),
            )
        )

    # -- analysis helpers ---------------------------------------------------------
    def next_token_distribution(self, prompt: Prompt, k: int = 10) -> Distribution:
        """One token with its top alternatives (max_tokens=1); the server gives
        only the top k, so the entropy of the full distribution is unknown."""
        sent, _form = self._wire_prompt(prompt)
        params = GenerationParams(n=1, max_tokens=1, temperature=1.0, logprobs=max(1, min(k, 100)))
        data = self._call(self._body(sent, params, 1, None, False))
        try:
            wire = parse_logprobs(data["choices"][0].get("logprobs"))
        except LogprobsFormatError as exc:
            raise BackendError(self.explain(exc)) from None
        if not wire:
            raise BackendError(
                f"{self.server} sends no logprobs for model {self.profile.model!r}, so loom cannot show its next-token distribution"
            )
        first = wire[0]
        alts = [Alternative(display_text(t, d), lp, tid) for t, d, lp, tid in first.top]
        if not alts and first.logprob is not None:
            alts = [Alternative(display_text(first.text, first.data), first.logprob, first.token_id)]
        return Distribution(tuple(alts[:k]), None)

    def score(self, prompt: Prompt, continuations: list[str]) -> list[float]:
        """Total logprob of each continuation, from the server's logprobs of an
        echoed prompt (legacy completions with echo=true)."""
        prompt = Context.of(prompt).text
        if self.profile.api != "completions":
            raise BackendError(
                f'{self.server}: scoring text needs a legacy completions profile (api = "completions") '
                f"with echo support; profile {self.profile.name!r} uses the chat API"
            )
        if not continuations:
            return []
        with ThreadPoolExecutor(max_workers=self.profile.concurrency) as pool:
            return list(pool.map(lambda c: self._score_one(prompt, c), continuations))

    def _score_one(self, prompt: str, continuation: str) -> float:
        full = prompt + continuation
        body = {
            "model": self.profile.model,
            "prompt": full,
            "max_tokens": 1,
            "temperature": 0,
            "echo": True,
            "logprobs": 0,
            **self.profile.extra,
        }
        data = self._call(body)
        try:
            wire = parse_logprobs(data["choices"][0].get("logprobs")) or []
        except LogprobsFormatError as exc:
            raise BackendError(self.explain(exc)) from None
        start, end = len(prompt.encode("utf-8")), len(full.encode("utf-8"))
        self._check_echo(full, wire, data["choices"][0].get("text"))
        pos, total, counted = 0, 0.0, 0
        for w in wire:
            size = len(w.data if w.data is not None else w.text.encode("utf-8"))
            # the tokens holding continuation bytes (one may straddle the prompt's end)
            if pos + size > start and pos < end and w.logprob is not None:
                total += w.logprob
                counted += 1
            pos += size
        if pos < end or (continuation and not counted):
            raise BackendError(
                f"{self.server} does not return logprobs for the prompt (echo), so loom cannot score "
                f"text with model {self.profile.model!r}; use a local model or a server with echo support (vLLM)"
            )
        return total

    def identity(self) -> dict[str, Any]:
        """Several base URLs serve the same model (the profile says so): all are recorded."""

        def clean(url: str) -> str:  # no credentials
            parts = urlsplit(url)
            return f"{parts.scheme}://{parts.hostname or ''}" + (f":{parts.port}" if parts.port else "") + parts.path

        servers = [clean(url) for url in self.base_urls]
        return {
            "name": self.name,
            "server_model": self.profile.model,
            "server": servers[0] if len(servers) == 1 else servers,
        }

    def _check_echo(self, full: str, wire: list[WireToken], text: Any = None) -> None:
        """Refuse a score the echo cannot support: the echoed tokens must rebuild
        the scored text byte for byte, and the reply's whole text (echo and new
        token); and the first of them, with nothing before it, can have no
        log-probability (a server that gives it one has moved every number one
        token early)."""
        if not wire:
            return  # no echo at all: the caller says so
        echoed = b"".join(w.data if w.data is not None else w.text.encode("utf-8") for w in wire)
        want = full.encode("utf-8")
        if not echoed.startswith(want):
            got = echoed[: len(want) + 20].decode("utf-8", "replace")
            raise BackendError(
                f"{self.server}: the echoed prompt tokens do not rebuild the scored text (sent {full[:60]!r}, "
                f"echoed {got[:60]!r}), so its log-probabilities cannot be matched to the text; loom refuses to score "
                f"with model {self.profile.model!r} rather than attribute them to the wrong tokens"
            )
        if isinstance(text, str) and echoed.decode("utf-8", "replace") != text:
            raise BackendError(
                f"{self.server}: the echo's logprobs cover {echoed.decode('utf-8', 'replace')[-40:]!r} but its text is "
                f"{text[-40:]!r}: they leave out the new token, and each echoed token's number comes from the position "
                "after it (llama-cpp-python's server does this), so none belongs to its token; loom refuses to score "
                f"with model {self.profile.model!r} rather than attribute them to the wrong tokens (use vLLM or a local "
                "model)"
            )
        if wire[0].logprob is not None:
            raise BackendError(
                f"{self.server}: the echo gives the first prompt token a log-probability ({wire[0].logprob:.3f}), "
                "which it cannot have with nothing before it: the server's logprobs are shifted by one token "
                "(llama-cpp-python's server does this), so each would be attributed to the wrong token; loom refuses "
                "to score with it (use vLLM or a local model)"
            )

    # -- checks (loom models --check) --------------------------------------------
    def list_models(self) -> list[str]:
        try:
            return [m.id for m in self._client.models.list()]
        except Exception as exc:
            if _ours(exc):
                raise BackendError(self.explain(exc)) from None
            raise

    def check(self) -> dict[str, Any]:
        """Reach the server, look for the model, and see whether logprobs come back."""
        report: dict[str, Any] = {
            "profile": self.profile.name,
            "base_url": redact(self.profile.resolved_base_url()),
            "model": self.profile.model,
            "api": self.profile.api,
            "reachable": False,
            "models": None,
            "model_listed": None,
            "generates": False,
            "logprobs": None,
            "error": None,
            "note": self._url_note,
        }
        try:
            models = self.list_models()
            report.update(reachable=True, models=models, model_listed=self.profile.model in models)
        except BackendError as exc:
            report["error"] = str(exc)
            if "404" not in str(exc):  # a server without /models can still generate
                return report
            report["reachable"] = True
        try:
            params = GenerationParams(n=1, max_tokens=1, temperature=1.0, logprobs=min(5, self.max_logprobs))
            data = self._call(self._body("Hello", params, 1, None, False))
            report["generates"] = True
            wire = parse_logprobs(data["choices"][0].get("logprobs"))
            report["logprobs"] = bool(wire and wire[0].logprob is not None)
            report["top_logprobs"] = len(wire[0].top) if wire else 0
            report["error"] = None
        except (BackendError, LogprobsFormatError) as exc:
            report["error"] = str(exc) if isinstance(exc, BackendError) else self.explain(exc)
        if len(self.base_urls) > 1:
            report["servers"] = [self._check_listed(i) for i in range(len(self.base_urls))]
            report["reachable"] = report["reachable"] and all(srv["reachable"] for srv in report["servers"])
            broken = next((srv for srv in report["servers"] if srv["error"]), None)
            if broken and not report["error"]:
                report["error"] = broken["error"]
        return report

    def _check_listed(self, server: int) -> dict[str, Any]:
        """One of several servers: does it answer, and does it list the model?"""
        import openai

        out: dict[str, Any] = {
            "base_url": redact(self.profile.resolved_base_urls()[server]),
            "reachable": False,
            "model_listed": None,
            "error": None,
        }
        client = openai.OpenAI(
            base_url=self.base_urls[server], api_key=self._api_key, timeout=self.profile.timeout, max_retries=0
        )
        try:
            models = [m.id for m in client.models.list()]
            out.update(reachable=True, model_listed=self.profile.model in models)
        except Exception as exc:
            if not _ours(exc):
                raise
            out["reachable"] = isinstance(exc, openai.NotFoundError)  # a server without /models can still generate
            out["error"] = None if out["reachable"] else self.explain(exc, server)
        finally:
            client.close()
        return out


def _root(exc: BaseException) -> BaseException:
    seen = exc
    while True:
        further = seen.__cause__ or seen.__context__
        if further is None:
            return seen
        seen = further


def _short(exc: BaseException) -> str:
    return " ".join(str(exc).split())[:200]


def _detail(exc: Any) -> str:
    body = getattr(exc, "body", None)
    msg = None
    if isinstance(body, dict):
        err = body.get("error", body)
        msg = err.get("message") if isinstance(err, dict) else err
    text = " ".join(str(msg or "").split())[:200]
    return f" ({text})" if text else ""


def _ours(exc: BaseException) -> bool:
    """Whether an exception is a fault of the server or the network (turned
    into a message), rather than a bug in loom (which must surface)."""
    import openai

    if isinstance(exc, (openai.OpenAIError, json.JSONDecodeError, LogprobsFormatError, OSError)):
        return True
    # httpx (or httpx2, which the client uses) transport errors raised while reading a stream
    module = type(exc).__module__.split(".")[0]
    return module in ("httpx", "httpx2", "httpcore", "h11")


def open_openai(ref: str) -> OpenAIBackend:
    """`openai:MODEL`, `openai:MODEL@URL` (legacy completions) or
    `openai-chat:MODEL@URL` (chat): a model on a server without a profile."""
    kind, _, rest = ref.partition(":")
    # the model ends at the first @http(s)://: the URL may hold user:password@ of its own
    model, at, url = rest.partition("@http")
    url = "http" + url if at else ""
    if not model:
        raise BackendError(
            f"model {redact(ref)!r}: write openai:MODEL, openai:MODEL@http://HOST:PORT/v1 or openai-chat:MODEL@URL"
        )
    profile = Profile(
        name="", model=model, base_url=url or None, api="chat" if kind == "openai-chat" else "completions"
    )
    # the reference as stored in sessions and shown: without the URL's credentials (they are never sent)
    clean = f"{kind}:{model}" + (f"@{without_credentials(url)[0]}" if url else "")
    return OpenAIBackend(profile, ref=clean)


def without_credentials(url: str) -> tuple[str, bool]:
    """(the URL without user:password@, whether it had any)."""
    parts = urlsplit(url)
    if "@" not in parts.netloc:
        return url, False
    return urlunsplit(parts._replace(netloc=parts.netloc.rpartition("@")[2])), True
