"""model.summary(): the course's Keras tables (file 003 of the seeds), receptive fields and FLOPs of
known networks, totals, and the fallback for user modules."""
import numpy as np
import pytest

import strided.models as M
import strided.nn as nn


def _baseline():
    return nn.Sequential(nn.Conv2d(1, 32, 5), nn.ReLU(), nn.MaxPool2d(4), nn.Flatten(), nn.Linear(30752, 2))


def test_brain_baseline_table():
    s = _baseline().summary((1, 128, 128))
    assert [r.output_shape for r in s.rows] == [(32, 124, 124), (32, 124, 124), (32, 31, 31), (30752,), (2,)]
    assert [r.params for r in s.rows] == [832, 0, 0, 0, 61506]
    assert [r.type for r in s.rows] == ["Conv2d", "ReLU", "MaxPool2d", "Flatten", "Linear"]
    assert (s.total_params, s.trainable_params, s.non_trainable_params) == (62338, 62338, 0)
    assert [r.receptive_field for r in s.rows][:3] == [(5, 5, 1, 1), (5, 5, 1, 1), (8, 8, 4, 4)]
    assert s.rows[-1].receptive_field == "all"
    assert s.rows[0].flops == 2 * 32 * 124 * 124 * 25 and s.rows[-1].flops == 2 * 30752 * 2
    text = str(s)
    lines = text.splitlines()
    row = {line.split()[0]: line.split() for line in lines if line[:1].isdigit()}
    assert row["0"][1:4] == ["(Conv2d)", "32x124x124", "832"]
    assert row["1"][1:4] == ["(ReLU)", "32x124x124", "0"]
    assert row["2"][1:4] == ["(MaxPool2d)", "32x31x31", "0"]
    assert row["3"][1:4] == ["(Flatten)", "30752", "0"]
    assert row["4"][1:4] == ["(Linear)", "2", "61,506"]
    for needle in ("Layer (type)", "Output Shape", "Param #", "FLOPs", "Receptive field",
                   "Total params: 62,338", "Trainable params: 62,338", "Non-trainable params: 0"):
        assert needle in text
    assert repr(s) == text


def test_brain_second_table():
    s = M.brain_second().summary((1, 128, 128))
    convs_pools = [r for r in s.rows if r.type in ("Conv2d", "MaxPool2d", "Flatten", "Linear")]
    assert [r.output_shape for r in convs_pools] == [(32, 124, 124), (32, 31, 31), (32, 30, 30), (32, 7, 7),
                                                     (1568,), (128,), (2,)]
    assert [r.params for r in convs_pools] == [832, 0, 4128, 0, 0, 200832, 258]
    assert s.total_params == 206050 and "Total params: 206,050" in str(s)
    assert [r.receptive_field for r in convs_pools][2:4] == [(12, 12, 4, 4), (24, 24, 16, 16)]


def test_known_receptive_fields_and_flops():
    with nn.init.skip_init():
        vgg = M.vgg16().summary((3, 224, 224))
        res = M.resnet18().summary((3, 224, 224))
    assert vgg.rows[-1].output_shape == (1000,) and vgg.total_params == 138357544
    last_pool = [r for r in vgg.rows if r.type == "MaxPool2d"][-1]
    assert last_pool.output_shape == (512, 7, 7) and last_pool.receptive_field[:2] == (212, 212)
    assert abs(vgg.total_flops / 2 - 15.47e9) < 0.02e9               # VGG-16: 15.47 G multiply-adds
    stage4 = [r for r in res.rows if r.name == "layer4.1.relu"][0]
    assert stage4.output_shape == (512, 7, 7) and stage4.receptive_field[:2] == (435, 435)
    assert abs(res.total_flops / 2 - 1.82e9) < 0.03e9                 # ResNet-18: 1.8 G multiply-adds
    adds = [r for r in res.rows if r.type == "Add"]
    assert len(adds) == 8 and adds[0].name == "layer1.0.residual"


def test_inception_concat_row():
    s = nn.Sequential(nn.Inception(192, 64, 96, 128, 16, 32, 32)).summary((192, 28, 28))
    assert s.rows[-1].type == "Inception" and s.rows[-1].output_shape == (256, 28, 28)
    assert s.rows[-1].receptive_field[:2] == (5, 5)
    assert s.total_params == sum(r.params for r in s.rows) == 163696


def test_frozen_parameters_are_non_trainable():
    m = _baseline()
    m[0].requires_grad_(False)
    s = m.summary((1, 128, 128))
    assert (s.total_params, s.trainable_params, s.non_trainable_params) == (62338, 61506, 832)
    assert "Non-trainable params: 832" in str(s)


def test_mlp_and_custom_module_fallback():
    s = nn.Sequential(nn.Linear(4, 3), nn.ReLU(), nn.Linear(3, 2)).summary((4,))
    assert [r.output_shape for r in s.rows] == [(3,), (3,), (2,)] and s.rows[0].receptive_field is None
    first = [line for line in str(s).splitlines() if line.startswith("0 (Linear)")][0]
    assert first.split() == ["0", "(Linear)", "3", "15", "24", "-"]

    class Twice(nn.Module):
        def __init__(self):
            super().__init__()
            self.conv = nn.Conv2d(2, 3, 3)

        def forward(self, x):
            return self.conv(x) * 2

    m = nn.Sequential(Twice(), nn.Flatten())
    m.train()
    s = m.summary((2, 5, 5))
    assert s.rows[0].output_shape == (3, 3, 3) and s.rows[0].params == 3 * 2 * 9 + 3 and s.rows[0].flops is None
    assert all(sub.training for sub in m.modules())                 # the probe restored the mode
    with pytest.raises(ValueError, match="one sample's shape"):
        m.summary((1, 2, 5, 5))


def test_summary_uses_shape_rules_not_a_forward(monkeypatch):
    import strided
    monkeypatch.setattr(strided.functional, "conv2d", lambda *a, **k: pytest.fail("summary ran a convolution"))
    assert _baseline().summary((1, 128, 128)).output_shape == (2,)
    assert np.prod((32, 31, 31)) == 30752
