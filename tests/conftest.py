import os

import pytest

# Tests never reach a hub: everything is local or on 127.0.0.1.
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
# The suite's expected numbers are float32 on the CPU, wherever it runs; LOOM_DEVICE=cuda runs it on a GPU
# (tests/test_device.py checks the automatic choice itself).
os.environ.setdefault("LOOM_DEVICE", "cpu")


@pytest.fixture(scope="session")
def demo_backend():
    """The bundled demo model through the real transformers loading code, loaded
    once: the one the app, the CLI and the API share in this process."""
    from loom.experiments.models import open_model

    return open_model("demo")


@pytest.fixture
def session(tmp_path):
    from loom.store import Session

    with Session(tmp_path / "test.loom") as s:
        yield s
