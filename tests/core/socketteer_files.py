"""Files of the original loom (socketteer/loom), made here in the exact shapes its source
writes, for tests of import and export. Each builder names the commit and file it follows
(the repository's history, read with `git log -p model.py gpt.py`).

- 2021 shape (57a11a3 2021-03-07 .. c3129ad 2021-08-13): a generated node keeps OpenAI's
  choice in `meta.generation` (model.py: TreeModel.generate at 57a11a3 and 1434976,
  generated_nodes_metadata at 7152f84).
- Response shape (c3129ad on; gpt.py format_openAI_response at 920d1b6 2021-09-27): nodes
  name {id, index} of a response in `model_responses`; positions {start, end} counted from
  the start of the prompt (echo), prompt tokens from 0.
- Hoisting (model.py hoist/zip/unhoist at HEAD 91ca920): the root becomes a mask node whose
  `masked_head` holds the whole tree down to the hoisted node.
"""

from __future__ import annotations

import copy
import random
import re
import uuid
from pathlib import Path

MODEL = "davinci:2020-05-03"

# the original loom's own demo file, kept in the peers folder beside the checkout
PEERS_DEMO = Path(__file__).resolve().parents[3] / "shared" / "peers" / "socketteer-loom-demo.json"
if not PEERS_DEMO.exists():
    PEERS_DEMO = Path("/work/shared/peers/socketteer-loom-demo.json")


def pieces(text: str) -> list[str]:
    """Text cut into GPT-style tokens (a word with its leading space, or one blank)."""
    out = re.findall(r"\s?[^\s]+|\s", text)
    assert "".join(out) == text
    return out


def top_logprobs(rng: random.Random, token: str, lp: float, k: int) -> dict[str, float]:
    """OpenAI's top_logprobs entry: k candidates, the sampled one among them, most likely first."""
    others = {f" alt{rng.randrange(10_000)}": round(lp - rng.uniform(0.01, 6.0), 6) for _ in range(k - 1)}
    best = dict(sorted({**others, token: lp}.items(), key=lambda kv: -kv[1]))
    return best


def choice(index: int, tokens: list[str], prompt: str, *, k: int, seed: int, finish: str = "length") -> dict:
    """A choice of OpenAI's completions endpoint in 2021, in its key order (examples/openAI_response.json
    at 920d1b6): text, index, logprobs {tokens, token_logprobs, top_logprobs, text_offset}, finish_reason.
    text_offset counts from the start of the prompt; top_logprobs is null when asked for logprobs=0."""
    rng = random.Random(seed)
    lps = [round(-rng.expovariate(1.5), 6) for _ in tokens]
    offsets, pos = [], len(prompt)
    for t in tokens:
        offsets.append(pos)
        pos += len(t)
    tops = [top_logprobs(rng, t, lp, k) for t, lp in zip(tokens, lps)] if k else None
    text = "".join(t for t in tokens if t != "<|endoftext|>")
    return {
        "text": text,
        "index": index,
        "logprobs": {"tokens": tokens, "token_logprobs": lps, "top_logprobs": tops, "text_offset": offsets},
        "finish_reason": finish,
    }


def generated_2021(
    era: str, ch: dict, prompt: str, parent_id: str, *, prepend: str = "", stamp: str = "2021-07-02-11.20.05"
) -> dict:
    """A node as the original's model.py made it from one choice:
    - "2021-03": 57a11a3 TreeModel.generate: meta = {generation: choice + model + prompt, modified, origin};
      text_offset as OpenAI gave it (from the prompt's start);
    - "2021-04": 1434976: the same, text_offset made relative to the completion (n - len(prompt));
    - "2021-07": 7152f84 generated_nodes_metadata: node text = prepend_text + choice text, plus
      meta creation_timestamp and source "AI" (node_creation_metadata), and echo_text_offset.
    The node itself: new_node {id, text, children}, then create_child's open and tree_updated's parent_id."""
    gen = copy.deepcopy(ch)
    node = {"id": str(uuid.uuid1()), "text": "", "children": [], "open": True, "parent_id": parent_id}
    node["text"] = (prepend if era == "2021-07" else "") + gen["text"]
    node["meta"] = {}
    node["meta"]["generation"] = gen
    gen["model"] = MODEL
    gen["prompt"] = prompt
    node["meta"]["modified"] = False
    node["meta"]["origin"] = "generated"
    if era == "2021-07":
        node["meta"]["creation_timestamp"] = stamp
        node["meta"]["source"] = "AI"
    if era in ("2021-04", "2021-07"):
        gen["logprobs"]["text_offset"] = [n - len(prompt) for n in gen["logprobs"]["text_offset"]]
    if era == "2021-07":
        gen["logprobs"]["echo_text_offset"] = gen["logprobs"]["text_offset"]
    return node


def file_2021() -> dict:
    """A tree of July 2021: nodes of each era, a chat-mode node with text before its completion,
    an edited node, a node split at a token boundary (model.py split_node: the child keeps
    meta.generation, its text the end of the completion), one after "delete counterfactuals"
    (top_logprobs = []), byte tokens of a curly quote, a completion that runs past <|endoftext|>,
    and a node of the response shape beside them (files written after 2021-08-13)."""
    prompt = "The lighthouse keeper"
    root = {
        "id": str(uuid.uuid1()),
        "text": prompt,
        "children": [],
        "open": True,
        "meta": {"creation_timestamp": "2021-03-01-09.00.00", "source": "prompt"},
    }
    rid = root["id"]
    toks = pieces(" had not seen a ship in years.")
    kids = [
        generated_2021("2021-03", choice(0, toks, prompt, k=0, seed=1), prompt, rid),
        generated_2021("2021-04", choice(0, pieces(" kept a log of every storm."), prompt, k=10, seed=2), prompt, rid),
        generated_2021(
            "2021-07", choice(0, pieces(" counted the waves, as always."), prompt, k=10, seed=3), prompt, rid
        ),
        generated_2021(
            "2021-07",
            choice(1, pieces(" I am still here."), prompt + "\nKeeper:", k=10, seed=4),
            prompt + "\nKeeper:",
            rid,
            prepend="\nKeeper:",
        ),
    ]
    edited = generated_2021(
        "2021-07", choice(2, pieces(" walked down to the shore."), prompt, k=10, seed=5), prompt, rid
    )
    edited["text"] = " walked down to the harbour."
    edited["meta"]["modified"] = True
    edited["meta"]["source"] = "mixed"
    edited["meta"]["diffs"] = [
        {
            "diff": {"added": [], "removed": [], "old": [[], []], "new": [[], []]},
            "revision timestamp": "2021-07-02-11.25.00",
        }
    ]
    kids.append(edited)
    whole = generated_2021(
        "2021-07", choice(3, pieces(" lit the lamp and waited for dark."), prompt, k=10, seed=6), prompt, rid
    )
    cut = len(" lit the lamp")  # split_node(node, 13): the parent gets " lit the lamp", the node the rest
    parent = {
        "id": str(uuid.uuid1()),
        "children": [whole],
        "parent_id": rid,
        "text": whole["text"][:cut],
        "meta": {"origin": f"split (from child {whole['id']})", "source": "AI"},
    }
    whole["text"] = whole["text"][cut:]
    whole["parent_id"] = parent["id"]
    kids.append(parent)
    plain = generated_2021("2021-07", choice(0, pieces(" slept."), prompt, k=10, seed=7), prompt, rid)
    plain["meta"]["generation"]["logprobs"]["top_logprobs"] = []  # model.py delete_counterfactuals (3f4b1df)
    kids.append(plain)
    quote = generated_2021(
        "2021-07",
        choice(0, [" It", "bytes:\\xe2\\x80", "bytes:\\x99", "s", " late", "."], prompt, k=10, seed=8),
        prompt,
        rid,
    )
    quote["text"] = " It’s late."
    quote["meta"]["generation"]["text"] = " It’s late."
    kids.append(quote)
    ended = generated_2021(
        "2021-07",
        choice(0, [" The", " end", ".", "<|endoftext|>", "\n", "Chapter"], prompt, k=10, seed=9, finish="stop"),
        prompt,
        rid,
    )
    ended["text"] = " The end."
    ended["meta"]["generation"]["text"] = " The end."
    kids.append(ended)
    # a node of the response shape, written after the original moved its token data to model_responses
    later = {
        "id": str(uuid.uuid1()),
        "text": " climbed the stairs.",
        "children": [],
        "parent_id": rid,
        "meta": {"creation_timestamp": "2021-09-28-10.00.00", "source": "AI"},
        "generation": {"id": "cmpl-later", "index": 0},
    }
    kids.append(later)
    root["children"] = kids
    return {
        "root": root,
        "chapters": {},
        "canonical": [],
        "memories": {},
        "summaries": {},
        "model_responses": {"cmpl-later": response_920d1b6("cmpl-later", prompt, [later["text"]], k=5, seed=10)},
        "generation_settings": {
            "num_continuations": 4,
            "temperature": 0.9,
            "top_p": 1,
            "response_length": 100,
            "prompt_length": 6000,
            "logprobs": 10,
            "janus": False,
            "adaptive": False,
            "model": "davinci",
            "stop": "",
            "start_text": None,
            "restart_text": None,
        },
        "selected_node_id": kids[2]["id"],
    }


def token_data(rng: random.Random, token: str, start: int, k: int) -> dict:
    """gpt.py format_openAI_token_dict at 920d1b6: generatedToken, position {start, end}, counterfactuals
    (sorted, most likely first; null when top_logprobs was empty)."""
    lp = round(-rng.expovariate(1.5), 6)
    return {
        "generatedToken": {"token": token, "logprob": lp},
        "position": {"start": start, "end": start + len(token)},
        "counterfactuals": top_logprobs(rng, token, lp, k) if k else None,
    }


def response_920d1b6(rid: str, prompt: str, texts: list[str], *, k: int, seed: int, echo_tokens: bool = True) -> dict:
    """gpt.py format_openAI_response at 920d1b6 (2021-09-27), echo=True: completions [{text,
    finishReason, tokens}] with positions from the prompt's start, prompt {text, tokens from 0},
    id, model, timestamp."""
    rng = random.Random(seed)
    prompt_tokens, pos = [], 0
    for t in pieces(prompt):
        prompt_tokens.append(token_data(rng, t, pos, k))
        pos += len(t)
    if prompt_tokens:
        prompt_tokens[0]["generatedToken"]["logprob"] = None  # echo: the first token has no probability
        prompt_tokens[0]["counterfactuals"] = None
    comps = []
    for text in texts:
        toks, pos = [], len(prompt)
        for t in pieces(text):
            toks.append(token_data(rng, t, pos, k))
            pos += len(t)
        comps.append({"text": text, "finishReason": "length", "tokens": toks})
    return {
        "completions": comps,
        "prompt": {"text": prompt, "tokens": prompt_tokens if echo_tokens else None},
        "id": rid,
        "model": MODEL,
        "timestamp": "2021-09-28-10.00.00",
    }


def with_responses(demo: dict, limit: int = 6000) -> dict:
    """The peers demo file with the model responses its nodes name (the file ships without them):
    each response holds one completion per num_continuations (4), the ones no node names any more
    included (the original keeps a response when a user deletes a branch); an AI node's completion
    is its text, an edited ("mixed") node's what it was before the edit; every third response
    without echoed prompt tokens."""
    demo = copy.deepcopy(demo)
    parents: dict[str, tuple[dict, dict | None]] = {}
    stack: list[tuple[dict, dict | None]] = [(demo["root"], None)]
    gens: dict[str, list[dict]] = {}
    while stack:
        node, parent = stack.pop()
        parents[node["id"]] = (node, parent)
        if isinstance(node.get("generation"), dict):
            gens.setdefault(node["generation"]["id"], []).append(node)
        stack.extend((c, node) for c in node.get("children", []))

    def path_text(node_id: str | None) -> str:
        out = []
        while node_id is not None:
            node, parent = parents[node_id]
            out.append(node["text"])
            node_id = parent["id"] if parent else None
        return "".join(reversed(out))

    responses = {}
    for n, (rid, nodes) in enumerate(gens.items()):
        parent = parents[nodes[0]["id"]][1]
        prompt = path_text(parent["id"] if parent else None)[-limit:]
        texts = ["" for _ in range(4)]
        for node in nodes:
            i = node["generation"]["index"]
            text = node["text"]
            if node.get("meta", {}).get("source") == "mixed":  # the user changed a character in the middle
                mid = len(text) // 2
                text = text[:mid] + ("#" if text[mid : mid + 1] != "#" else "%") + text[mid + 1 :]
            texts[i] = text
        texts = [t or f" a branch deleted later {i}" for i, t in enumerate(texts)]
        responses[rid] = response_920d1b6(rid, prompt, texts, k=[10, 0, 5][n % 3], seed=n, echo_tokens=n % 3 != 2)
    demo["model_responses"] = responses
    return demo


def hoisted(data: dict, tail_id: str) -> dict:
    """The file after the original's hoist of node `tail_id` (model.py hoist and zip at HEAD): a new
    root node (the mask) with the text of the path down to the node, its children, and in
    `masked_head` the old root with the node's children cut off; the mask is selected."""
    data = copy.deepcopy(data)
    nodes: dict[str, tuple[dict, dict | None]] = {}
    stack: list[tuple[dict, dict | None]] = [(data["root"], None)]
    while stack:
        node, parent = stack.pop()
        nodes[node["id"]] = (node, parent)
        stack.extend((c, node) for c in node.get("children", []))
    head = data["root"]
    tail = nodes[tail_id][0]
    ancestry, at = [], tail_id
    while at is not None:
        node, parent = nodes[at]
        ancestry.append(node)
        at = parent["id"] if parent else None
    mask = {
        "id": str(uuid.uuid1()),
        "text": "".join(n["text"] for n in reversed(ancestry)),
        "children": [],
        "mutable": False,
    }  # new_node(text=..., mutable=False)
    children = tail["children"]  # sever_children, adopt_children
    tail["children"] = []
    for c in children:
        c["parent_id"] = mask["id"]
    mask["children"] = children
    mask["masked_head"] = head
    mask["tail_id"] = tail["id"]
    mask["text_attributes"] = {
        "nav_preview": head["text"].strip()[:15].replace("\n", "\\n")
        + "..."
        + tail["text"].strip()[:12].replace("\n", "\\n")
    }
    mask["visited"] = True
    data["root"] = mask
    mask["open"] = True
    mask["hoisted"] = True
    data["selected_node_id"] = mask["id"]  # select_node(new_root['id'])
    return data


def response_2024(rid: str, prompt: str, text: str, *, chat: bool, seed: int) -> dict:
    """gpt.py at HEAD 91ca920 (000f8c3 and de04ddd, 2024): a completion's position is an int, the
    token's end counted from the start of the prompt (echo), or for a chat model the token's index;
    counterfactuals sorted, most likely first. Echoed prompt tokens are left out (prompt tokens null,
    as it writes for servers without echo)."""
    rng = random.Random(seed)
    toks, offset = [], 0 if chat else len(prompt)
    for i, t in enumerate(pieces(text)):
        lp = round(-rng.expovariate(1.5), 6)
        offset += len(t)
        toks.append(
            {
                "generatedToken": {"token": t, "logprob": lp},
                "position": i if chat else offset,
                "counterfactuals": top_logprobs(rng, t, lp, 4),
            }
        )
    return {
        "completions": [{"text": text, "finishReason": "stop", "tokens": toks}],
        "prompt": {"text": prompt, "tokens": None},
        "id": rid,
        "model": "gpt-4o" if chat else "davinci-002",
        "timestamp": "2024-06-28-12.00.00",
    }
