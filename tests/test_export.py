"""Models out of strided: ONNX (strided.export.to_onnx, checked by onnx.checker, run by onnxruntime),
safetensors weights (model.save / model.load) and PyTorch (nn.to_torch), each compared with strided's own
eval-mode outputs on every model of strided.models (tests/zoo.py) and on a model holding every layer type.
Each part skips cleanly when its package (onnx + onnxruntime, safetensors, torch) is missing."""
from functools import lru_cache

import numpy as np
import pytest

import strided.nn as nn
from strided import export
from zoo import MODELS, build, layer_zoo, norm_zoo, randomize_norms, untested_models

CASES = list(MODELS) + ["layer_zoo", "norm_zoo"]
ZOOS = {"layer_zoo": layer_zoo, "norm_zoo": norm_zoo}


@lru_cache(maxsize=None)  # built once for the ONNX, to_torch and safetensors tests, which do not change it
def _model(name):
    nn.init.seed(0)
    model, shape = ZOOS[name]() if name in ZOOS else build(name)
    return randomize_norms(model, np.random.default_rng(1)).eval(), shape


def _input(shape, n=2):
    return np.random.default_rng(2).standard_normal((n, *shape)).astype(np.float32)


def _close(got, want):
    np.testing.assert_allclose(got, want, rtol=1e-4, atol=1e-5 * max(1.0, float(np.abs(want).max())))


def test_every_model_function_is_exported_by_these_tests():
    assert untested_models() == []


@pytest.mark.parametrize("name", CASES)
def test_onnxruntime_gives_strided_outputs(name, tmp_path):
    onnx = pytest.importorskip("onnx")
    ort = pytest.importorskip("onnxruntime")
    model, shape = _model(name)
    path = tmp_path / "model.onnx"
    proto = export.to_onnx(model, shape, path)
    onnx.checker.check_model(onnx.load(str(path)), full_check=True)
    assert [i.name for i in proto.graph.input] == ["input"] and [o.name for o in proto.graph.output] == ["output"]
    session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    for n in (1, 3):  # the batch axis is symbolic
        x = _input(shape, n)
        _close(session.run(["output"], {"input": x})[0], model(x))


def test_onnx_export_errors():
    pytest.importorskip("onnx")

    class Custom(nn.Module):
        def forward(self, x):
            return x

    with pytest.raises(TypeError, match="no conversion for Custom .*Conv2d"):
        export.to_onnx(nn.Sequential(nn.ReLU(), Custom()), (3, 8, 8))
    with pytest.raises(ValueError, match=r"\(C, H, W\) or \(F,\)"):
        export.to_onnx(nn.Sequential(nn.ReLU()), (1, 3, 8, 8))
    proto = export.to_onnx(nn.Sequential(nn.Dropout()), (4,), batch_size=2)   # no node but the output's
    assert [n.op_type for n in proto.graph.node] == ["Identity"]


@pytest.mark.parametrize("name", ["resnet18", "googlenet_small", "layer_zoo"])
def test_safetensors_weights_round_trip(name, tmp_path):
    pytest.importorskip("safetensors")
    model, shape = _model(name)
    model.save(tmp_path / "w.safetensors")
    nn.init.seed(5)  # other weights, then the saved ones back
    other = (layer_zoo()[0] if name == "layer_zoo" else build(name)[0]).eval()
    x = _input(shape)
    assert not np.allclose(other(x), model(x))
    assert other.load(tmp_path / "w.safetensors") is other
    np.testing.assert_array_equal(other(x), model(x))
    for k, v in model.state_dict().items():
        np.testing.assert_array_equal(other.state_dict()[k], v)


def test_weights_file_errors(tmp_path):
    pytest.importorskip("safetensors")
    model = _model("lenet5")[0]
    model.save(tmp_path / "w.safetensors", metadata={"arch": "lenet5"})
    with pytest.raises(KeyError, match="missing keys"):
        nn.load_weights(_model("brain_baseline")[0], tmp_path / "w.safetensors")
    with pytest.raises(FileNotFoundError):
        model.load(tmp_path / "nothing.safetensors")
    with pytest.raises(TypeError, match="str to str"):
        nn.save_weights(model, tmp_path / "x.safetensors", metadata={"epochs": 3})


@pytest.mark.parametrize("name", CASES)
def test_to_torch_gives_strided_outputs(name):
    torch = pytest.importorskip("torch")
    model, shape = _model(name)
    tm = nn.to_torch(model).eval()
    x = _input(shape)
    with torch.no_grad():
        _close(tm(torch.from_numpy(x)).numpy(), model(x))
    assert set(tm.state_dict()) == set(model.state_dict())
