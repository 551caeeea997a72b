"""Hostile and damaged checkpoints (issue 19 item 6): a load that fails leaves model and optimizer untouched,
a deflate bomb is refused before it is decompressed, non-finite weights are refused unless asked for, and
the temp files of killed saves are cleaned by the next save; plus the scheduler rule of a resumed run."""
import json
import os
import socket
import subprocess
import sys
import tracemalloc
import zipfile

import numpy as np
import pytest

from strided import models, nn, optim
from strided.train import load_checkpoint, save_checkpoint
from strided.train.checkpoint import read_checkpoint_info


def _trained(num_classes=10, seed=0):
    nn.init.seed(seed)
    m = models.lenet5(num_classes=num_classes)
    opt = optim.Adam(m.parameters(), lr=1e-3)
    for p in m.parameters():
        p.grad = np.ones_like(p.data)
    opt.step()
    return m, opt


def _snapshot(m, opt):
    return m.state_dict(), {i: {k: np.copy(v) for k, v in s.items()} for i, s in enumerate(opt.state)}


def _same(a, b):
    assert a[0].keys() == b[0].keys()
    for k in a[0]:
        np.testing.assert_array_equal(a[0][k], b[0][k])
    for i in a[1]:
        for k in a[1][i]:
            np.testing.assert_array_equal(a[1][i][k], b[1][i][k])


def test_wrong_shapes_leave_model_and_optimizer_untouched(tmp_path):
    src, src_opt = _trained(num_classes=5, seed=1)   # only the last layer differs in shape
    save_checkpoint(tmp_path / "c.npz", src, src_opt, epoch=3)
    m, opt = _trained(num_classes=10, seed=2)
    before = _snapshot(m, opt)
    with pytest.raises(ValueError, match=r"fc3.weight.*\(5, 84\).*\(10, 84\)"):
        load_checkpoint(tmp_path / "c.npz", m, opt)
    _same(before, _snapshot(m, opt))


def test_wrong_optimizer_state_leaves_the_model_untouched(tmp_path):
    src, _ = _trained(seed=1)
    sgd = optim.SGD(src.parameters(), lr=0.1, momentum=0.9)
    save_checkpoint(tmp_path / "c.npz", src, sgd)
    m, opt = _trained(seed=2)
    before = _snapshot(m, opt)
    with pytest.raises(ValueError, match="SGD, not of a Adam"):
        load_checkpoint(tmp_path / "c.npz", m, opt)
    _same(before, _snapshot(m, opt))


def _bomb(path, n_floats):
    """A checkpoint whose one weight member declares (n_floats,) float32 zeros: tiny when deflated."""
    m, _ = _trained()
    save_checkpoint(path, m)
    with zipfile.ZipFile(path) as z:
        members = {n: z.read(n) for n in z.namelist()}
    header = np.lib.format.header_data_from_array_1_0(np.zeros(0, np.float32))
    header["shape"] = (n_floats,)
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as z:
        for n, data in members.items():
            if n != "model/conv1.weight.npy":
                z.writestr(n, data)
                continue
            with z.open(n, "w", force_zip64=True) as f:
                np.lib.format.write_array_header_1_0(f, header)
                chunk = bytes(16 << 20)
                for _ in range(n_floats * 4 // len(chunk)):
                    f.write(chunk)


def test_deflate_bomb_is_refused_before_decompressing(tmp_path):
    n = 64 << 20 >> 2   # 64 MiB declared (the 2 GiB bomb works the same; this keeps the test fast)
    _bomb(tmp_path / "bomb.npz", n)
    assert os.path.getsize(tmp_path / "bomb.npz") < 1 << 20
    m, opt = _trained()
    before = _snapshot(m, opt)
    tracemalloc.start()
    try:
        with pytest.raises(ValueError, match=r"conv1.weight.*\(16777216,\).*\(6, 1, 5, 5\)"):
            load_checkpoint(tmp_path / "bomb.npz", m, opt)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert peak < 4 << 20, peak
    _same(before, _snapshot(m, opt))


def test_a_size_that_lies_about_the_header_is_refused(tmp_path):
    m, _ = _trained()
    save_checkpoint(tmp_path / "c.npz", m)
    with zipfile.ZipFile(tmp_path / "c.npz") as z:
        members = {n: z.read(n) for n in z.namelist()}
    members["model/fc1.bias.npy"] += b"\0" * 64   # more bytes than the header's shape needs
    with zipfile.ZipFile(tmp_path / "c.npz", "w") as z:
        for k, v in members.items():
            z.writestr(k, v)
    with pytest.raises(ValueError, match="fc1.bias' declares"):
        load_checkpoint(tmp_path / "c.npz", m)


def test_nonfinite_weights_are_refused_unless_asked(tmp_path):
    m, opt = _trained()
    m.fc2.bias.data[3] = np.nan
    save_checkpoint(tmp_path / "c.npz", m, opt)
    m2, opt2 = _trained(seed=5)
    before = _snapshot(m2, opt2)
    with pytest.raises(ValueError, match=r"'model/fc2.bias' holds 1 non-finite.*allow_nonfinite=True"):
        load_checkpoint(tmp_path / "c.npz", m2, opt2)
    _same(before, _snapshot(m2, opt2))
    load_checkpoint(tmp_path / "c.npz", m2, opt2, allow_nonfinite=True)
    assert np.isnan(m2.fc2.bias.data[3])


def test_pickled_objects_and_non_checkpoints_are_refused(tmp_path):
    np.savez(tmp_path / "obj.npz", __meta__=np.array("{}"), **{"model/x": np.array([{}], dtype=object)})
    with pytest.raises(ValueError, match="Python objects"):
        load_checkpoint(tmp_path / "obj.npz")
    (tmp_path / "junk.npz").write_bytes(b"not a zip at all")
    with pytest.raises(ValueError, match="not a checkpoint .npz"):
        load_checkpoint(tmp_path / "junk.npz")


def test_stale_temps_of_killed_saves_are_cleaned(tmp_path):
    m, _ = _trained()
    host = socket.gethostname()
    dead = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True,
                          text=True).stdout.strip()
    stale = tmp_path / f".last.npz.{host}.{dead}.abc.tmp"          # its writer is gone
    old = tmp_path / ".last.npz.unknownformat.tmp"                # no owner to ask: by age
    alive = tmp_path / f".last.npz.{host}.{os.getppid()}.xyz.tmp"  # a live process's in-flight save
    fresh_unknown = tmp_path / ".last.npz.recent.tmp"
    other = tmp_path / f".best.npz.{host}.{dead}.abc.tmp"         # another file's: not this save's business
    for f in (stale, old, alive, fresh_unknown, other):
        f.write_bytes(b"x" * 100)
    os.utime(old, (0, 0))
    save_checkpoint(tmp_path / "last.npz", m)
    assert not stale.exists() and not old.exists()
    assert alive.exists() and fresh_unknown.exists() and other.exists()
    assert sorted(p.name for p in tmp_path.glob("*.tmp")) == sorted(p.name for p in (alive, fresh_unknown, other))


def test_metadata_is_json_and_carries_the_version(tmp_path):
    import strided

    m, opt = _trained()
    save_checkpoint(tmp_path / "c.npz", m, opt, epoch=2, info={"model": "lenet5", "mean": np.float32(0.5)})
    info = read_checkpoint_info(tmp_path / "c.npz")
    assert info["strided_version"] == strided.__version__ and info["epoch"] == 2
    assert info["info"] == {"model": "lenet5", "mean": 0.5}
    with zipfile.ZipFile(tmp_path / "c.npz") as z:
        json.loads(str(np.load(z.open("__meta__.npy"), allow_pickle=False)))


def test_resumed_scheduler_keeps_its_own_plan(tmp_path):
    m, opt = _trained()
    sched = optim.CosineAnnealingLR(opt, T_max=12)
    for _ in range(12):
        sched.step()
    save_checkpoint(tmp_path / "c.npz", m, opt, sched, epoch=12)
    m2, opt2 = _trained()
    longer = optim.CosineAnnealingLR(opt2, T_max=30)
    load_checkpoint(tmp_path / "c.npz", m2, opt2, longer)
    assert longer.last_epoch == 12 and longer.T_max == 30
    assert opt2.lr == pytest.approx(1e-3 * (1 + np.cos(np.pi * 12 / 30)) / 2)
    assert opt2.lr > 1e-4   # not the first run's lr 0 at epoch 12/12
