"""The prompts of the original loom's model responses, kept as the path they repeat.

The original keeps, with each model response, the prompt it sent: the text of
the path above the node, up to `prompt_length` characters. In a big file these
prompts are most of its bytes (a file of 100,000 nodes that loom exported: 375
MB, 250 of them prompts), and an import kept them all in one session-state
value, held in memory whole. The tree already holds that text, so a response
whose prompt is exactly the path above every node that holds one of its
completions keeps `prompt.text` as null, and its id in the state
PATH_PROMPTS_KEY; an export writes the path's text back in its place. Any
other prompt (another length, an edited path, a prompt of its own) is kept
as it is."""

from __future__ import annotations

import bisect
from collections.abc import Mapping
from typing import Any

from .spool import slots

PATH_PROMPTS_KEY = "socketteer_path_prompts"


class PathText:
    """The texts of the nodes above the one being walked (in a walk that gives each node's depth),
    for the prompt the original would send from there."""

    def __init__(self, limit: int):
        self.limit = limit
        self.texts: list[str] = []
        self.ends: list[int] = []  # running lengths

    def at(self, depth: int) -> None:
        """The walk is at a node `depth` deep: keep only the texts above it."""
        del self.texts[depth:]
        del self.ends[depth:]

    def push(self, text: str) -> None:
        self.texts.append(text)
        self.ends.append((self.ends[-1] if self.ends else 0) + len(text))

    def prompt(self) -> str:
        if not self.ends:
            return ""
        first = max(0, bisect.bisect_right(self.ends, self.ends[-1] - self.limit) - 1)
        return "".join(self.texts[first:])[-self.limit :]


class Elider:
    """Which responses' prompts are the path's, as an import meets the nodes that hold their completions.
    Kept by each response's slot (spool.slots), not its id: a big file has one for most nodes."""

    def __init__(self, responses: Mapping[str, Any]):
        self.responses = responses
        self.key = slots(responses)
        self.same: dict[str | int, bool] = {}

    def see(self, gid: str, path: PathText) -> None:
        key = self.key(gid)
        if self.same.get(key) is False:
            return
        resp = self.responses.get(gid)
        p = resp.get("prompt") if isinstance(resp, dict) else None
        self.same[key] = isinstance(p, dict) and isinstance(p.get("text"), str) and p["text"] == path.prompt()

    def head(self, gid: str, resp: Any) -> Any:
        """The response as the session keeps it: without the prompt's text where it is the path's."""
        if self.same.get(self.key(gid)):
            return {**resp, "prompt": {**resp["prompt"], "text": None}}
        return resp

    def ids(self) -> list[str]:
        """The ids of the responses whose prompt is the path's, in the order the import met them."""
        if not any(self.same.values()):
            return []
        gid = {key: g for g in self.responses if self.same.get(key := self.key(g))}
        return [gid[key] for key, same in self.same.items() if same]
