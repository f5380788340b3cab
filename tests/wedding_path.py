"""A path whose outcome demo-wedding decides at a known word, for the forks tests.

The child of "Are bugs real?" is a demo-wedding continuation that rambles, then
takes the trained turn ", until at last there was a wedding, ...": after " until"
(about 7% likely where it stands) every next token is above 98%, and the wedding
follows. The node holds the text as the model's own tokens, each with its real
probability and top-10 alternatives from the model (teacher-forced, so the test
does not hang on one sampled draw)."""

from loom.experiments.context import path_context
from loom.tree import Token

PROMPT = "Are bugs real?"
CONTINUATION = (
    " Is everything have supperated me, until at last there was a wedding, and a great wedding feast was held,"
    " and everyone danced at the wedding feast."
)
DECIDING = 7  # the position of " until" among the child's tokens
WEDDING = "wedding=/wedd|feast|marr/"


def model_child(session, backend, parent_id: int, text: str):
    """A node holding `text` as if `backend` had written it: its token ids, each
    token's log-probability and the top-10 alternatives, from the model's full
    next-token distribution after the path and the tokens before it."""
    ids = backend.tokenizer(text, add_special_tokens=False)["input_ids"]
    dists = backend.next_token_distributions(
        path_context(session, parent_id), [ids[:i] for i in range(len(ids))], k=len(backend.tokenizer)
    )
    tokens = []
    for tid, dist in zip(ids, dists):
        lp = next(a.logprob for a in dist.alternatives if a.token_id == tid)
        tokens.append(Token(backend.token_text(tid), lp, tid, dist.alternatives[:10]))
    return session.add_node(
        parent_id,
        "".join(t.text for t in tokens),
        "model",
        model=backend.name,
        tokens=tokens,
        params={"model": backend.name},
    )


def wedding_path(session, backend):
    """The root and the deciding child (see the module's docstring)."""
    root = session.add_node(None, PROMPT, "prompt")
    child = model_child(session, backend, root.id, CONTINUATION)
    session.current = child.id
    return root, child
