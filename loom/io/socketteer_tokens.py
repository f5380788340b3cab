"""The original loom's token data, in the two shapes its files hold: read into
loom Tokens, checked, and written back.

From socketteer/loom's history (`git log -p model.py gpt.py`):

- 2021 shape, from 57a11a3 (2021-03-07) to c3129ad (2021-08-13): model.py
  (`generated_nodes_metadata` from ea92bd3) keeps OpenAI's choice whole in the
  node's `meta.generation`: text, index, logprobs {tokens, token_logprobs,
  top_logprobs, text_offset}, finish_reason, and adds model and prompt.
  text_offset counts from the start of the prompt until 1434976 (2021-04-16),
  from the start of the completion after it; ea92bd3 (2021-05-25) adds
  echo_text_offset (the same list). top_logprobs is null while it asked for
  logprobs=0 (until 1434976), [] after "delete counterfactuals" (3f4b1df).
- Response shape, from c3129ad: the node names {id, index} of a response in
  the file's `model_responses`: {completions: [{text, tokens, finishReason}],
  prompt: {text, tokens}, id, model, timestamp}, a token {generatedToken:
  {token, logprob}, position, counterfactuals: {token: logprob} or null}
  (gpt.py). position is {start, end} counted from the start of the prompt
  (920d1b6, 2021-09-27: OpenAI's text_offset with echo, AI21's textRange
  shifted by the prompt's length), an int (the token's end) from 000f8c3
  (2024-06-19), the token's index for chat models (de04ddd).

A node's tokens are fitted to its text: the original puts its "start" and
"restart" text around a completion, and lets users edit and split nodes. Token
data the tokens rebuild exactly is not stored twice: the file's own record is
kept only where they do not (byte tokens, text after <|endoftext|>, a node cut
out of a completion), and is then written back as it was.
"""

from __future__ import annotations

import codecs
from dataclasses import dataclass
from json.encoder import encode_basestring, encode_basestring_ascii
from typing import Any

from ..tokenbytes import display_text, token_bytes
from ..tree import Alternative, Token
from .jsonstream import dumps_at, leaf

END_OF_TEXT = "<|endoftext|>"

# why a node that the file says a model wrote has no tokens in loom (the import summary counts them)
NO_RESPONSE = "its model response is not in the file"
NO_COMPLETION = "its model response has no such completion"
NO_LOGPROBS = "the file has no token data for it"
EDITED = "its text no longer matches its tokens (edited)"
CUT = "it was cut inside a token (split)"
DROPPED = (EDITED, CUT)  # token data in the file that loom could not keep


@dataclass
class Found:
    """What a node of the file holds of token data."""

    tokens: list[Token] | None = None  # fitted to the node's text
    model: str | None = None
    form: dict[str, Any] | None = None  # how the tokens rebuild the file's record exactly (None: they do not)
    why: str | None = None  # why a generated node has no tokens here
    named: str | None = None  # the id of the model response the node names, where the file has it


# -- reading -------------------------------------------------------------------
def _decoded(pieces: list[tuple[str, Any, dict[str, Any] | None]]) -> list[Token]:
    """(token text, logprob, counterfactuals) as OpenAI wrote them, as loom Tokens: a token inside a
    character (`bytes:\\xe2\\x80`) is joined with the next, the token that completes the character
    carries it and the pieces before it are empty; the completion ends at <|endoftext|>."""
    tokens: list[Token] = []
    decoder: codecs.IncrementalDecoder | None = None  # from the first `bytes:` piece (most completions have none)
    pending = b""
    for text, lp, cf in pieces:
        if text == END_OF_TEXT:  # the completion ended here; what the file has after it was never shown
            break
        if decoder is not None:
            pending = decoder.getstate()[0]
        alts = []
        for k, v in cf.items() if cf else ():
            if isinstance(v, (int, float)) and not isinstance(v, bool):
                k = k if type(k) is str else str(k)
                alts.append((_piece_text(k, pending) if k.startswith("bytes:") else k, float(v)))
        alts.sort(key=_minus_logprob)
        if text.startswith("bytes:"):
            if decoder is None:
                decoder = codecs.getincrementaldecoder("utf-8")("replace")
            piece = decoder.decode(token_bytes(text) or b"")
        else:  # a whole token, kept exactly as written (after any character left open before it)
            piece = text
            if decoder is not None:
                piece = (decoder.decode(b"", final=True) if pending else "") + text
                decoder.reset()
        tokens.append(
            Token(piece, None if lp is None else float(lp), None, tuple([Alternative(t, p) for t, p in alts]))
        )
    rest = decoder.decode(b"", final=True) if decoder is not None else ""  # a character the completion never finished
    if rest and tokens:
        last = tokens[-1]
        tokens[-1] = Token(last.text + rest, last.logprob, last.token_id, last.alternatives, last.raw)
    return tokens


def _minus_logprob(alt: tuple[str, float]) -> float:
    return -alt[1]


def _piece_text(text: str, pending: bytes) -> str:
    """An alternative's text: a `bytes:` piece decoded with the bytes left open before it."""
    return display_text(text, token_bytes(text), pending) if text.startswith("bytes:") else text


def _fit(text: str, core: list[Token]) -> tuple[list[Token] | None, list[int] | None, str | None]:
    """(the tokens of a node whose text is `text`, [tokens before, after the completion's] or None
    when only a part of the completion is the node's, why none fit)."""
    joined = "".join(t.text for t in core)
    if not joined:
        return None, None, NO_LOGPROBS
    at = text.find(joined)
    if at >= 0:  # text the original put before and after the completion: tokens without a probability
        head, tail = text[:at], text[at + len(joined) :]
        return (
            [Token(head, None)] * bool(head) + core + [Token(tail, None)] * bool(tail),
            [int(bool(head)), int(bool(tail))],
            None,
        )
    # a node split in the original keeps the end of the completion (or its parent the start): the
    # tokens from a boundary between tokens
    if text and (joined.endswith(text) or joined.startswith(text)):
        cut = len(joined) - len(text) if joined.endswith(text) else len(text)
        pos = 0
        for k, t in enumerate(core):
            if pos == cut:
                return (core[k:] if joined.endswith(text) else core[:k]), None, None
            pos += len(t.text)
        return None, None, CUT
    return None, None, EDITED


def from_response(text: str, comp: Any) -> Found:
    """A completion of the response shape, for a node whose text is `text`."""
    raw = comp.get("tokens") if isinstance(comp, dict) else None
    if not raw:
        return Found(why=NO_LOGPROBS)
    pieces = []
    for td in raw:
        g = td.get("generatedToken") or {}
        cf = td.get("counterfactuals") or {}
        if isinstance(cf, list):  # an older shape: a list of {token: logprob}
            cf = {k: v for d in cf if isinstance(d, dict) for k, v in d.items()}
        pieces.append((str(g.get("token", "")), g.get("logprob"), cf))
    core = _decoded(pieces)
    tokens, trim, why = _fit(text, core)
    if tokens is None or trim is None:
        return Found(tokens=tokens, why=why)
    form = {"positions": _position_form(raw), "trim": trim, "finish": comp.get("finishReason")}
    exact = form["positions"] is not None and completion_out(core, form["finish"], form["positions"]) == comp
    return Found(tokens=tokens, form=form if exact else None)


def from_meta(text: str, gen: dict[str, Any]) -> Found:
    """The 2021 shape: OpenAI's choice in the node's `meta.generation`."""
    model = gen.get("model") if isinstance(gen.get("model"), str) else None
    lp = gen.get("logprobs")
    if not isinstance(lp, dict) or not lp.get("tokens"):
        return Found(model=model, why=NO_LOGPROBS)
    lps = lp.get("token_logprobs") or []
    tops = lp.get("top_logprobs")
    pieces = [
        (
            str(s),
            lps[i] if i < len(lps) else None,
            tops[i] if isinstance(tops, list) and i < len(tops) and isinstance(tops[i], dict) else None,
        )
        for i, s in enumerate(lp["tokens"])
    ]
    core = _decoded(pieces)
    tokens, trim, why = _fit(text, core)
    if tokens is None or trim is None:
        return Found(tokens=tokens, model=model, why=why)
    offsets = lp.get("text_offset")
    form = {
        "at": list(gen).index("logprobs"),
        "trim": trim,
        "base": offsets[0] if isinstance(offsets, list) and offsets and isinstance(offsets[0], int) else 0,
        "top": "absent" if "top_logprobs" not in lp else "null" if tops is None else "list" if tops else "empty",
        "offsets": "text_offset" in lp,
        "echo": "echo_text_offset" in lp,
    }
    return Found(tokens=tokens, model=model, form=form if logprobs_out(core, form) == lp else None)


def _position_form(raw: list[Any]) -> list[Any] | None:
    """How the file wrote token positions: ["span", first start] ({start, end}), ["end", where
    the first token starts] (an int, the token's end), ["index"] (chat), ["none"]."""
    if "position" not in raw[0]:
        return ["none"]
    first = raw[0]["position"]
    if isinstance(first, dict) and isinstance(first.get("start"), int):
        return ["span", first["start"]]
    if isinstance(first, int) and not isinstance(first, bool):
        second = raw[1].get("position") if len(raw) > 1 else None
        if first == 0 and (len(raw) == 1 or second == 1):
            return ["index"]
        return ["end", first - len(str((raw[0].get("generatedToken") or {}).get("token", "")))]
    return None


# -- writing -------------------------------------------------------------------
def core_of(tokens: list[Token], trim: list[int]) -> list[Token]:
    """The tokens of the completion itself, without the text the original put around it."""
    return tokens[trim[0] : len(tokens) - trim[1]]


def completion_out(core: list[Token], finish: Any, positions: list[Any]) -> dict[str, Any]:
    """A completion of the response shape, with positions in the file's form."""
    kind = positions[0]
    base = positions[1] if len(positions) > 1 else 0
    toks = []
    pos = base
    for i, t in enumerate(core):
        d: dict[str, Any] = {"generatedToken": {"token": t.text, "logprob": t.logprob}}
        if kind == "span":
            d["position"] = {"start": pos, "end": pos + len(t.text)}
        elif kind == "end":
            d["position"] = pos + len(t.text)
        elif kind == "index":
            d["position"] = i
        cf = _counterfactuals(t)
        d["counterfactuals"] = cf or None
        toks.append(d)
        pos += len(t.text)
    return {"text": "".join([t.text for t in core]), "tokens": toks, "finishReason": finish}


def completion_text(core: list[Token], finish: Any, positions: list[Any], level: int, ea: bool) -> str:
    """dumps_at(completion_out(core, finish, positions), level, indent=1, ensure_ascii=ea), written
    straight from the tokens: an export to the original format writes one for most nodes, and
    building the dicts to indent them generically took a third of its time (a test checks they agree)."""
    enc = encode_basestring_ascii if ea else encode_basestring

    def p(n: int) -> str:
        return "\n" + " " * n

    p1, p2, p3, p4 = p(level + 1), p(level + 2), p(level + 3), p(level + 4)
    kind = positions[0]
    pos = positions[1] if len(positions) > 1 else 0
    head_g, head_t, head_l = "{" + p4 + '"token": ', "," + p4 + '"logprob": ', p3 + "}"
    items = []
    for i, t in enumerate(core):
        n = len(t.text)
        lp = t.logprob
        part = p2 + "{" + p3 + '"generatedToken": ' + head_g + enc(t.text) + head_t + leaf(lp, ea) + head_l
        if kind == "span":
            part += "," + p3 + '"position": {' + p4 + '"start": ' + leaf(pos, ea) + "," + p4 + '"end": '
            part += leaf(pos + n, ea) + p3 + "}"
        elif kind == "end":
            part += "," + p3 + '"position": ' + leaf(pos + n, ea)
        elif kind == "index":
            part += "," + p3 + '"position": ' + leaf(i, ea)
        cf = _counterfactuals(t)
        if cf:
            part += (
                "," + p3 + '"counterfactuals": {' + ",".join(p4 + enc(k) + ": " + leaf(v, ea) for k, v in cf.items())
            )
            part += p3 + "}" + p2 + "}"
        else:
            part += "," + p3 + '"counterfactuals": null' + p2 + "}"
        items.append(part)
        pos += n
    tokens = "[" + ",".join(items) + p1 + "]" if items else "[]"
    return (
        "{"
        + p1
        + '"text": '
        + enc("".join(t.text for t in core))
        + ","
        + p1
        + '"tokens": '
        + tokens
        + ","
        + p1
        + '"finishReason": '
        + dumps_at(finish, level + 1, indent=1, ensure_ascii=ea)
        + p(level)
        + "}"
    )


def logprobs_out(core: list[Token], form: dict[str, Any]) -> dict[str, Any]:
    """OpenAI's logprobs object of the 2021 shape."""
    out: dict[str, Any] = {"tokens": [t.text for t in core], "token_logprobs": [t.logprob for t in core]}
    if form["top"] != "absent":
        out["top_logprobs"] = {"null": None, "empty": []}.get(form["top"], [_counterfactuals(t) for t in core])
    offsets = []
    pos = form["base"]
    for t in core:
        offsets.append(pos)
        pos += len(t.text)
    if form["offsets"]:
        out["text_offset"] = offsets
    if form["echo"]:
        out["echo_text_offset"] = list(offsets)
    return out


def generation_out(gen: dict[str, Any], tokens: list[Token], form: dict[str, Any]) -> dict[str, Any]:
    """The node's `meta.generation` with its logprobs rebuilt where the file had them."""
    items = [kv for kv in gen.items() if kv[0] != "logprobs"]
    items.insert(form["at"], ("logprobs", logprobs_out(core_of(tokens, form["trim"]), form)))
    return dict(items)


def _counterfactuals(t: Token) -> dict[str, float]:
    cf: dict[str, float] = {}
    alts = t.alternatives
    # most likely first, as the original sorts them; a repeated text keeps its best
    if type(alts) is tuple:
        for a in alts:
            cf.setdefault(a.text, a.logprob)
        return cf
    rows = getattr(alts, "rows", None)  # the store's lazy alternatives: without making objects
    for text, lp, _ in rows() if rows else ((a.text, a.logprob, None) for a in alts):
        cf.setdefault(text, lp)
    return cf


# -- checking ------------------------------------------------------------------
def _number(v: Any) -> bool:
    return v is None or (isinstance(v, (int, float)) and not isinstance(v, bool))


def response_problem(node: dict[str, Any], gen: dict[str, Any], resp: Any) -> str | None:
    """What would stop reading a node's completion of the response shape, if anything."""
    if "text" not in node:
        return "the node has no text"
    try:
        comp = resp["completions"][gen.get("index", 0)]
    except (KeyError, IndexError, TypeError):
        return None  # no such completion: the node keeps its text, and the summary says so
    return _completion_problem(comp)


def any_response_problem(resp: Any) -> bool:
    """Whether response_problem could find a problem for some node with text that names the response:
    whether any completion it holds (a list's items or an object's values) is malformed."""
    comps = resp.get("completions") if isinstance(resp, dict) else None
    items = comps if isinstance(comps, list) else comps.values() if isinstance(comps, dict) else ()
    return any(_completion_problem(c) is not None for c in items)


def _completion_problem(comp: Any) -> str | None:
    raw = comp.get("tokens") if isinstance(comp, dict) else None
    if not raw:
        return None
    if not isinstance(raw, list):
        return "tokens must be a list"
    for j, td in enumerate(raw):
        if not isinstance(td, dict):
            return f"token {j} is not an object"
        g = td.get("generatedToken") or {}
        cf = td.get("counterfactuals") or {}
        if not isinstance(g, dict) or not isinstance(cf, (dict, list)):
            return f"token {j}: generatedToken and counterfactuals must be objects"
        if isinstance(cf, list) and not all(isinstance(d, dict) for d in cf):
            return f"token {j}: counterfactuals must be objects"
        lp = g.get("logprob")
        if lp is not None and not isinstance(lp, (int, float)):
            try:
                float(lp)
            except (TypeError, ValueError):
                return f"token {j}: logprob {lp!r} is not a number"
    return None


def meta_problem(gen: Any) -> str | None:
    """What would stop reading the 2021 shape's `meta.generation.logprobs`, if anything."""
    lp = gen.get("logprobs") if isinstance(gen, dict) else None
    if lp is None:
        return None
    if not isinstance(lp, dict):
        return "meta.generation.logprobs must be an object"
    toks, lps, tops = lp.get("tokens"), lp.get("token_logprobs"), lp.get("top_logprobs")
    if toks is None:
        return None
    if not isinstance(toks, list) or not all(isinstance(t, str) for t in toks):
        return "meta.generation.logprobs.tokens must be a list of strings"
    if not isinstance(lps, list) or len(lps) != len(toks) or not all(_number(v) for v in lps):
        return "meta.generation.logprobs.token_logprobs must be a number (or null) for each token"
    if tops is not None and (
        not isinstance(tops, list)
        or not all(d is None or (isinstance(d, dict) and all(_number(v) for v in d.values())) for d in tops)
    ):
        return "meta.generation.logprobs.top_logprobs must be a list of {token: logprob} objects"
    return None
