"""``--device`` for evaluation (issue 40): refused clearly where torch sees no such device or the
model cannot go there; on a device, the model is moved before the evaluation, every timed query
ends with the device synchronised, and the record names the accelerator, whose name joins the
machine's (so a GPU row is never compared with a CPU row). This machine has no GPU: the CUDA
path runs with torch's CUDA queries stood in for, and a model that stays on the CPU."""

from __future__ import annotations

import pytest
import torch

from recbench.protocol.devices import DeviceError, check_device
from recbench.protocol.registry import baselines
from recbench.protocol.settings import EvalSettings
from recbench.run.cells import Cell, CellError
from recbench.run.runner import run_cell
from tests.toy_plugin_models import LetterCounts

FAST = EvalSettings(n_bootstrap=20, latency_queries=5, progress=False, use_cache=False, offline_texts=0)


class Movable(LetterCounts):
    """The plugin tests' bag of letters, saying it evaluates on CUDA and recording where it is sent."""

    name = "movable"
    eval_devices = ("cpu", "cuda")
    moved: list[str] = []

    def to_device(self, device: str) -> None:
        Movable.moved.append(device)


@pytest.fixture
def movable():
    baselines.add("movable", Movable)
    Movable.moved = []
    yield
    baselines.remove("movable")


@pytest.fixture
def fake_cuda(monkeypatch):
    """torch says it sees one CUDA device; synchronising it is counted."""
    synced = []
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    monkeypatch.setattr(torch.cuda, "device_count", lambda: 1)
    monkeypatch.setattr(torch.cuda, "synchronize", lambda device=None: synced.append(device))

    class Props:
        name, total_memory = "Fake H100", 80 * 1024 ** 3

    monkeypatch.setattr(torch.cuda, "get_device_properties", lambda device: Props())
    return synced


@pytest.mark.skipif(torch.cuda.is_available(), reason="this test is about a machine without CUDA")
def test_a_device_torch_does_not_see_is_refused_before_anything_loads():
    with pytest.raises(CellError, match="torch sees no CUDA device here"):
        Cell.resolve("sbert", "sts-b", settings=EvalSettings(device="cuda"))


@pytest.mark.parametrize("device, message", [("gpu", "write cpu, cuda, cuda:N or mps"), ("cuda:x", "write cpu"),
                                             ("cuda", "evaluates on cpu only")])
def test_a_malformed_device_or_one_the_model_cannot_use_is_refused(device, message):
    with pytest.raises(CellError, match=message):
        Cell.resolve("sif", "sts-b", settings=EvalSettings(device=device))


def test_a_cuda_index_beyond_the_devices_is_refused(fake_cuda):
    with pytest.raises(DeviceError, match="sees 1 CUDA device"):
        check_device("cuda:3", "sbert", ("cpu", "cuda"))
    check_device("cuda:0", "sbert", ("cpu", "cuda"))


def test_the_cpu_is_the_default_and_keeps_every_key():
    assert Cell.resolve("sif", "sts-b").key == Cell.resolve("sif", "sts-b", settings=EvalSettings(device="cpu")).key


@pytest.mark.usefixtures("movable")
def test_on_a_device_the_model_moves_queries_synchronise_and_the_record_names_the_gpu(fake_cuda, tmp_path):
    pairs = tmp_path / "pairs.csv"
    words = ["apple pie", "green tea", "blue sky", "hot soup", "red wine", "cold beer", "fresh bread", "dark night"]
    pairs.write_text("sentence1,sentence2,score\n" + "".join(f"{a},{b},{(i * 7) % 5}\n" for i, (a, b) in
                                               enumerate(zip(words, words[3:] + words[:3]))))
    dataset = f"pairs:{pairs}"
    cpu = run_cell("movable", dataset, settings=FAST, results_dir=tmp_path).record
    assert Movable.moved == [] and fake_cuda == []
    gpu = run_cell("movable", dataset, settings=EvalSettings(**{**FAST.__dict__, "device": "cuda"}),
                   results_dir=tmp_path).record
    assert Movable.moved == ["cuda"]
    assert len(fake_cuda) >= FAST.latency_queries  # every timed query waited for the device
    assert gpu["environment"]["accelerator"] == {"device": "cuda", "name": "Fake H100", "memory_gb": 80.0}
    assert gpu["environment"]["fingerprint"] == cpu["environment"]["fingerprint"] + ", Fake H100"
    assert gpu["model"]["label"] == "movable{device=cuda}" and gpu["cell_key"] != cpu["cell_key"]
    assert "accelerator" not in cpu["environment"]
    assert gpu["metrics"]["spearman"]["value"] == pytest.approx(cpu["metrics"]["spearman"]["value"])


def test_sbert_refuses_torch_int8_off_the_cpu_and_onnx_without_its_cuda_provider():
    int8 = baselines.get("sbert")(quantize="int8")
    with pytest.raises(ValueError, match="CPU kernel"):
        int8.to_device("cuda")
    onnx = baselines.get("sbert")(backend="onnx")
    import onnxruntime

    if "CUDAExecutionProvider" not in onnxruntime.get_available_providers():
        with pytest.raises(ValueError, match="onnxruntime-gpu"):
            onnx.to_device("cuda")
    torch_sbert = baselines.get("sbert")()
    torch_sbert.to_device("cpu")  # where it is: nothing moves
    assert torch_sbert.device == "cpu"
