"""Where a local model runs: the device chosen (cuda, else mps, else cpu, or the
one a setting names), its precision (float32 on the CPU), both recorded in the
model's identity; a bad setting is refused with one clear line."""

import os
import subprocess
import sys

import pytest
import torch

from loom.backends.base import BackendError
from loom.backends.device import choose_device, choose_dtype, requested
from loom.backends.local import LocalBackend
from loom.config import ConfigError, load_config
from loom.tree import ParamError


def test_auto_picks_the_gpu_when_there_is_one_else_the_cpu():
    expected = "cuda" if torch.cuda.is_available() else "mps" if torch.backends.mps.is_available() else "cpu"
    assert choose_device("auto") == expected


def test_the_cpu_runs_in_float32_and_the_identity_says_where_and_how():
    backend = LocalBackend("demo", device="cpu", prefix_cache=0)
    assert backend.model.dtype == torch.float32  # the demo's weights are saved in float16
    assert next(backend.model.parameters()).device.type == "cpu"
    identity = backend.identity()
    assert identity["device"] == "cpu" and identity["dtype"] == "float32"
    assert len(identity["weights_sha256"]) == 64


def test_a_gpu_uses_half_precision_where_the_model_allows():
    assert choose_dtype("cpu", "auto", torch.float16) == torch.float32
    # a model saved in float16 keeps it on a GPU; one saved in float32 gets bfloat16 where the GPU has it
    assert choose_dtype("cuda", "auto", "float16") == torch.float16
    bf16 = torch.cuda.is_available() and torch.cuda.is_bf16_supported()
    assert choose_dtype("cuda", "auto", "float32") == (torch.bfloat16 if bf16 else torch.float32)
    assert choose_dtype("mps", "auto", "float32") == torch.float32
    assert choose_dtype("cuda", "float32", "float16") == torch.float32  # a setting overrides


def test_a_setting_can_name_the_device_and_precision(monkeypatch):
    monkeypatch.setenv("LOOM_DEVICE", "CPU")
    monkeypatch.setenv("LOOM_DTYPE", "bfloat16")
    assert requested() == ("cpu", "bfloat16")
    assert requested("auto", "float32") == ("auto", "float32")  # an argument comes first
    backend = LocalBackend("demo", prefix_cache=0)
    assert backend.model.dtype == torch.bfloat16 and backend.identity()["dtype"] == "bfloat16"


@pytest.mark.parametrize("bad", ["gpu", "cuda:x", "tpu", ""])
def test_a_bad_device_is_refused(bad):
    with pytest.raises(ParamError, match="must be auto, cpu, cuda"):
        requested(bad or " ", "auto")


def test_a_device_that_is_not_here_is_refused_with_why():
    if torch.cuda.is_available():
        with pytest.raises(BackendError, match="CUDA GPU"):
            LocalBackend("demo", device=f"cuda:{torch.cuda.device_count()}")
    else:
        with pytest.raises(BackendError, match="sees no CUDA GPU"):
            LocalBackend("demo", device="cuda")


def test_the_config_file_names_the_device_and_a_bad_one_names_its_line(tmp_path, monkeypatch):
    path = tmp_path / "config.toml"
    monkeypatch.setenv("LOOM_CONFIG", str(path))
    path.write_text('model = "demo"\ndevice = "cpu"\ndtype = "float32"\n', encoding="utf-8")
    config = load_config()
    assert (config.device, config.dtype) == ("cpu", "float32")
    path.write_text('model = "demo"\ndevice = "gpu"\n', encoding="utf-8")
    with pytest.raises(ConfigError, match=r"line 2: device: .*must be auto, cpu"):
        load_config()


def test_the_cli_refuses_a_bad_device_in_one_line(tmp_path):
    env = {**os.environ, "LOOM_CONFIG": str(tmp_path / "none.toml")}
    run = subprocess.run(
        [sys.executable, "-m", "loom", "--device", "gpu", "show", str(tmp_path / "s.loom")],
        capture_output=True,
        text=True,
        env=env,
    )
    assert run.returncode == 2
    assert run.stderr.strip().splitlines() == [
        "loom: error: device 'gpu': must be auto, cpu, cuda, cuda:N (a GPU's index) or mps"
    ]
