"""Bugs the strict type check found in the store and the experiment layer, each as it showed."""

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
