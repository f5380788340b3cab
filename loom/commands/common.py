"""Argument helpers shared by subcommands."""

from __future__ import annotations

import argparse

from ..tree import GenerationParams


def add_generation_args(p: argparse.ArgumentParser) -> None:
    g = p.add_argument_group("generation")
    d = GenerationParams()
    g.add_argument("-n", type=int, help=f"branches to generate (default {d.n})")
    g.add_argument("--max-tokens", type=int, help=f"tokens per branch (default {d.max_tokens})")
    g.add_argument("--temperature", type=float, help=f"(default {d.temperature})")
    g.add_argument("--top-p", type=float, help="nucleus sampling mass, 1 = off")
    g.add_argument("--top-k", type=int, help="keep the k most likely tokens, 0 = off")
    g.add_argument("--min-p", type=float, help="drop tokens below min-p times the top probability")
    g.add_argument("--xtc-threshold", type=float, help="XTC: tokens above this probability are candidates for removal")
    g.add_argument("--xtc-probability", type=float, help="XTC: chance per token that the removal happens")
    g.add_argument("--stop", action="append", help="stop string (repeatable)")
    g.add_argument("--seed", type=int, help="random seed (branch i uses seed + i)")
    g.add_argument("--logprobs", type=int, help="alternatives recorded per token (default 10)")


def params_from_args(args: argparse.Namespace, base: GenerationParams | None = None) -> GenerationParams:
    params = base or GenerationParams()
    changes = {}
    for name in ("n", "max_tokens", "temperature", "top_p", "top_k", "min_p", "xtc_threshold", "xtc_probability", "stop", "seed", "logprobs"):
        value = getattr(args, name, None)
        if value is not None:
            changes[name] = value
    return params.replace(**changes).validate()


def add_json(p: argparse.ArgumentParser) -> None:
    p.add_argument("--json", action="store_true", help="print machine-readable JSON")


def open_session(args: argparse.Namespace, create: bool = False):
    from ..cli import sessions_dir
    from ..store import Session, resolve_session

    return Session(resolve_session(args.session, sessions_dir(args)), create=create)


def node_dict(node, tokens: bool = False) -> dict:
    d = {
        "id": node.id, "parent": node.parent_id, "author": node.author, "text": node.text,
        "derived_from": node.derived_from, "model": node.model, "params": node.params,
        "created": node.created, "complete": node.complete, "mean_prob": node.mean_prob, "meta": node.meta,
    }
    if tokens and node.tokens:
        d["tokens"] = [
            {"text": t.text, "id": t.token_id, "logprob": t.logprob,
             "top": [{"text": a.text, "id": a.token_id, "logprob": a.logprob} for a in t.alternatives]}
            for t in node.tokens
        ]
    return d


def target_node(session, args) -> int:
    """The node a command works on: --node, else the session's current node."""
    from ..cli import CliError

    node_id = args.node if getattr(args, "node", None) is not None else session.current
    if node_id is None:
        raise CliError(f"{session.path}: has no nodes; create it with `loom new`")
    session.node(node_id)  # a KeyError names a node that does not exist
    return node_id


def model_ref(session, args) -> str:
    """--model, else the session's last model, else the config's default."""
    from ..config import load_config

    return getattr(args, "model", None) or session.get_state("model") or load_config().model
