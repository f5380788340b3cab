"""Bugs the strict type check found in the store and the experiment layer, each as it showed."""

import json
import threading

from loom.experiments.generate import generate_children
from loom.experiments.sweep import sweep
from loom.tree import GenerationParams

PROMPT = "Once upon a time there was a fox. The fox was hungry. It went to the farm."


def test_a_sweep_cancelled_before_its_first_perturbation_names_the_original(session, demo_backend):
    # the original continuation was only known after the first replay: cancelled before it, the
    # sweep looked up node None and failed with a KeyError instead of returning what it did (nothing)
    root = session.add_node(None, PROMPT, "prompt")
    orig = generate_children(session, demo_backend, root.id, GenerationParams(n=1, max_tokens=4, seed=1)).nodes[0]
    cancel = threading.Event()
    cancel.set()
    result = sweep(session, demo_backend, root.id, 2, kinds=["first_word"], seed=3, cancel=cancel)
    assert result.original_child == orig.id and result.original_text == orig.text
    assert result.items == [] and result.summary["perturbations"] == 0
    assert session.records("sweep")[0]["result"]["original_child"] == orig.id


def test_socketteer_export_of_a_kept_empty_completion_without_tokens(session):
    # a node imported by an earlier loom keeps its response's completion in its meta; where that was
    # empty and the node has no tokens, the export made the completion from the tokens: None (TypeError)
    from loom.io import export_text

    root = session.add_node(None, "A prompt.", "prompt")
    meta = {"socketteer": {"id": "n1", "generation": {"id": "r1", "index": 0}, "response": {"completion": None}}}
    session.add_node(root.id, " Text.", "model", meta=meta)
    text, count = export_text(session, "socketteer")
    data = json.loads(text)
    assert count == 2 and data["root"]["children"][0]["id"] == "n1"
    completion = data["model_responses"]["r1"]["completions"][0]
    assert completion["text"] == "" and completion["tokens"] == []
