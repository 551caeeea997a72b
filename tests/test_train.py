"""strided.train: fit/evaluate/predict, history, atomic checkpoints (a save that fails midway keeps the old
one), resume giving the same weights as an uninterrupted run, early stopping with best-weight restore,
regularization, the ensemble helper, and quick end-to-end runs of the CLI on a tiny subset."""
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

import strided
from strided import data as D
from strided import losses, models, nn, optim
from strided import train as T


def blobs(n=240, seed=0):
    """Three separable classes of 1x4x4 'images' (class c lights up quadrant c)."""
    rng = np.random.default_rng(seed)
    y = rng.integers(0, 3, n)
    x = rng.normal(0, 0.3, (n, 1, 4, 4)).astype(np.float32)
    for c, (r, s) in enumerate([(0, 0), (0, 2), (2, 0)]):
        x[y == c, 0, r:r + 2, s:s + 2] += 1.5
    return x, y


def small_model(seed=0):
    nn.init.seed(seed)
    return nn.Sequential(nn.Conv2d(1, 4, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2), nn.Flatten(),
                         nn.Linear(16, 3))


def weights(model):
    return {k: v.copy() for k, v in model.state_dict().items()}


def test_fit_evaluate_predict_history():
    x, y = blobs()
    model = small_model()
    opt = optim.Adam(model.parameters(), lr=0.02)
    sched = optim.StepLR(opt, step_size=2, gamma=0.5)
    trainer = T.Trainer(model, opt, losses.CrossEntropyLoss(), scheduler=sched, progress=False, seed=1)
    hist = trainer.fit((x[:200], y[:200]), epochs=4, batch_size=32, val_data=(x[200:], y[200:]))
    assert set(hist) >= {"epoch", "loss", "accuracy", "val_loss", "val_accuracy", "lr", "time", "images_per_s"}
    assert hist["epoch"] == [1, 2, 3, 4] and hist["lr"] == [0.02, 0.02, 0.01, 0.01]
    assert hist["loss"][-1] < hist["loss"][0]
    ev = trainer.evaluate((x[200:], y[200:]))
    assert ev["accuracy"] >= 0.95 and ev["loss"] == pytest.approx(hist["val_loss"][-1])
    p = trainer.predict(x[200:])
    assert p.shape == (40, 3) and np.allclose(p.sum(1), 1, atol=1e-5)
    assert np.mean(p.argmax(1) == y[200:]) == ev["accuracy"]
    assert model.training  # evaluate/predict put the mode back


def test_functional_fit_uint8_and_transforms():
    x, y = blobs(seed=2)
    xu = np.clip((x + 1) * 60, 0, 255).astype(np.uint8)
    mean, std = D.channel_stats(xu)
    tf = D.Compose([D.ToFloat(), D.GaussianNoise(0.01), D.Normalize(mean, std)])
    ev_tf = D.Compose([D.ToFloat(), D.Normalize(mean, std)])
    model = small_model(1)
    hist, trainer = T.fit(model, (xu, y), epochs=3, batch_size=32, optimizer="adam", lr=0.02, progress=False,
                          transform=tf, eval_transform=ev_tf, regularization=losses.L2Regularization(1e-4))
    assert len(hist["loss"]) == 3 and trainer.evaluate((xu, y))["accuracy"] > 0.9


def test_regularization_adds_to_loss_and_gradient():
    x, y = blobs(32)
    model = small_model()
    opt = optim.SGD(model.parameters(), lr=0.0)
    reg = losses.L2Regularization(0.5)
    tr = T.Trainer(model, opt, losses.CrossEntropyLoss(), regularization=reg, progress=False)
    plain = losses.CrossEntropyLoss()(model(x), y)
    value, _ = tr.train_step(x, y)
    assert value == pytest.approx(plain + reg(list(model.parameters())), rel=1e-5)


def test_checkpoint_round_trip_and_atomic_save(tmp_path, monkeypatch):
    x, y = blobs()
    model = small_model()
    opt = optim.Adam(model.parameters(), lr=0.01)
    sched = optim.CosineAnnealingLR(opt, T_max=5)
    tr = T.Trainer(model, opt, losses.CrossEntropyLoss(), scheduler=sched, progress=False)
    tr.fit((x, y), epochs=2, batch_size=64, val_data=(x[:40], y[:40]), checkpoint_dir=tmp_path)
    assert (tmp_path / "last.npz").exists() and (tmp_path / "best.npz").exists()
    saved = weights(model)
    # the file is a plain npz (no pickles) with model, optimizer and metadata
    with np.load(tmp_path / "last.npz", allow_pickle=False) as z:
        assert "__meta__" in z.files and any(k.startswith("optim/") for k in z.files)
    meta = T.load_checkpoint(tmp_path / "last.npz")
    assert meta["epoch"] == 2 and len(meta["history"]["loss"]) == 2

    # a save that dies midway (after writing part of the file) must not touch the previous checkpoint
    tr.fit((x, y), epochs=3, batch_size=64)  # weights move on

    def broken_savez(f, **arrays):
        f.write(b"PK\x03\x04 partial garbage")
        raise OSError("disk full (simulated)")

    monkeypatch.setattr(np, "savez", broken_savez)
    with pytest.raises(OSError, match="simulated"):
        tr.save(tmp_path / "last.npz")
    monkeypatch.undo()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["best.npz", "last.npz"]  # no temp file left
    other = small_model(5)
    meta = T.load_checkpoint(tmp_path / "last.npz", other)
    assert meta["epoch"] == 2
    for k, v in other.state_dict().items():
        np.testing.assert_array_equal(v, saved[k])

    # an interrupted os.replace leaves the old file too
    def broken_replace(src, dst):
        raise KeyboardInterrupt

    monkeypatch.setattr(os, "replace", broken_replace)
    with pytest.raises(KeyboardInterrupt):
        tr.save(tmp_path / "last.npz")
    monkeypatch.undo()
    assert T.load_checkpoint(tmp_path)["epoch"] == 2  # a directory means its last.npz
    assert sorted(p.name for p in tmp_path.iterdir()) == ["best.npz", "last.npz"]


def _run(epochs, ckpt=None, resume=None, seed=3):
    x, y = blobs(seed=4)
    model = small_model(seed)
    opt = optim.Adam(model.parameters(), lr=0.01)
    sched = optim.CosineAnnealingLR(opt, T_max=4)
    tf = D.Compose([D.GaussianNoise(0.05)])  # augmentation randomness must also resume identically
    tr = T.Trainer(model, opt, losses.CrossEntropyLoss(), scheduler=sched, transform=tf, progress=False, seed=7)
    tr.fit((x, y), epochs=epochs, batch_size=50, val_data=(x[:30], y[:30]), checkpoint_dir=ckpt, resume=resume)
    return tr


def test_resume_matches_an_uninterrupted_run(tmp_path):
    straight = _run(4)
    _run(2, ckpt=tmp_path)
    resumed = _run(4, ckpt=tmp_path, resume=tmp_path / "last.npz", seed=99)  # fresh init, then overwritten
    assert resumed.epoch == 4 and resumed.history["epoch"] == [1, 2, 3, 4]
    assert resumed.optimizer.lr == pytest.approx(straight.optimizer.lr)
    a, b = weights(straight.model), weights(resumed.model)
    for k in a:
        np.testing.assert_allclose(b[k], a[k], rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(resumed.history["loss"], straight.history["loss"], rtol=1e-5)


def test_early_stopping_restores_best_weights(tmp_path):
    x, y = blobs()
    model = small_model()
    opt = optim.SGD(model.parameters(), lr=0.05, momentum=0.9)
    # 'epoch' only grows, so in mode 'min' epoch 1 stays the best: stop after `patience` more epochs
    es = T.EarlyStopping(patience=2, monitor="epoch", mode="min")
    tr = T.Trainer(model, opt, losses.CrossEntropyLoss(), progress=False)
    logs = []
    hist = tr.fit((x, y), epochs=10, batch_size=60, early_stopping=es, checkpoint_dir=tmp_path, log=logs.append)
    assert hist["epoch"] == [1, 2, 3] and tr.stopped_early and es.best_epoch == 1
    assert any("early stopping" in s for s in logs)
    best = T.load_checkpoint(tmp_path / "best.npz")
    assert best["epoch"] == 1
    for k, v in model.state_dict().items():
        np.testing.assert_array_equal(v, best["model_state"][k])
    assert T.load_checkpoint(tmp_path / "last.npz")["epoch"] == 3


def test_early_stopping_rules():
    es = T.EarlyStopping(patience=2, monitor="val_accuracy")
    assert es.mode == "max"

    class M:
        def state_dict(self):
            return {"w": np.zeros(1)}

    assert not es.update(0.5, 1, M()) and not es.update(0.6, 2, M())
    assert not es.update(0.6, 3, M()) and es.update(0.55, 4, M()) and es.best_epoch == 2
    assert not T.EarlyStopping(patience=None).update(1.0, 1, M())
    with pytest.raises(ValueError):
        T.EarlyStopping(mode="up")


def test_ensemble_predict():
    x, y = blobs(60)
    m1, m2 = small_model(1), small_model(2)
    p1, p2 = T.predict_proba(m1, x), T.predict_proba(m2, x)
    np.testing.assert_allclose(T.ensemble_predict([m1, m2], x), (p1 + p2) / 2, rtol=1e-6)
    np.testing.assert_allclose(T.ensemble_predict([m1, m2], x, weights=[3, 1]), (3 * p1 + p2) / 4, rtol=1e-6)
    with pytest.raises(ValueError):
        T.ensemble_predict([], x)


def test_binary_logit_accuracy_and_probabilities():
    x, y = blobs(90)
    yb = (y == 0).astype(np.float32)[:, None]
    nn.init.seed(0)
    model = nn.Sequential(nn.Flatten(), nn.Linear(16, 1))
    tr = T.Trainer(model, optim.Adam(model.parameters(), lr=0.05), losses.BCEWithLogitsLoss(), progress=False)
    tr.fit((x, yb), epochs=5, batch_size=30)
    assert tr.evaluate((x, yb))["accuracy"] > 0.9
    p = tr.predict(x)
    assert p.shape == (90, 1) and p.min() >= 0 and p.max() <= 1


@pytest.mark.gpu
def test_trains_on_cuda():
    cp = pytest.importorskip("cupy")
    try:
        cp.cuda.runtime.getDeviceCount()
    except Exception:  # pragma: no cover
        pytest.skip("no CUDA device")
    x, y = blobs()
    model = small_model()
    tr = T.Trainer(model, "adam", device="cuda", progress=False, lr=0.02)
    tr.fit((x, y), epochs=3, batch_size=32)
    assert tr.device == "cuda" and tr.evaluate((x, y))["accuracy"] > 0.9
    assert isinstance(tr.predict(x), np.ndarray)


# ---- the command line --------------------------------------------------------------------------------
ACC = re.compile(r"^test accuracy: \d{1,3}\.\d\d%$", re.M)


def test_cli_tiny_end_to_end(tmp_path, capsys):
    pytest.importorskip("tqdm")
    plot = tmp_path / "curves.png"
    try:  # without matplotlib --plot stops the command before training (test_cli_plot_without_matplotlib)
        import matplotlib  # noqa: F401
        plotting = ["--plot", str(plot)]
    except ImportError:
        plotting = []
    res = T.run(["--limit", "400", "--epochs", "1", "--batch-size", "32", "--threads", "1", "--checkpoint-dir",
                  str(tmp_path / "ck"), *plotting, "--no-progress", "--seed", "1"])
    out = capsys.readouterr().out
    assert ACC.search(out) and out.strip().splitlines()[-1].startswith("test accuracy: ")
    assert 0.0 <= res["accuracy"] <= 1.0
    assert (tmp_path / "ck" / "last.npz").exists()
    meta = T.load_checkpoint(tmp_path / "ck")
    assert meta["epoch"] == 1
    assert plot.exists() == bool(plotting) and (not plotting or plot.stat().st_size > 1000)
    # resume to 2 epochs: the history continues
    T.main(["--limit", "400", "--epochs", "2", "--batch-size", "32", "--resume", str(tmp_path / "ck"),
            "--checkpoint-dir", str(tmp_path / "ck"), "--no-progress", "--seed", "1"])
    assert ACC.search(capsys.readouterr().out)
    assert T.load_checkpoint(tmp_path / "ck")["history"]["epoch"] == [1, 2]


def test_cli_plot_without_matplotlib(tmp_path, capsys, monkeypatch):
    monkeypatch.setitem(sys.modules, "matplotlib", None)
    with pytest.raises(SystemExit) as e:  # before training, not after it
        T.main(["--limit", "200", "--epochs", "1", "--no-progress", "--no-augment", "--plot",
                str(tmp_path / "c.png"), "--optimizer", "sgd", "--checkpoint-dir", str(tmp_path / "ck")])
    err = capsys.readouterr().err
    assert "matplotlib is not installed" in err and not (tmp_path / "c.png").exists()
    assert e.value.code == 2 and len(err.strip().splitlines()) == 1 and not (tmp_path / "ck").exists()


def test_cli_on_an_idx_folder(tmp_path, capsys):
    x, y = D.load_mnist_sample()
    D.write_idx(tmp_path / "train-images-idx3-ubyte.gz", x[::20, 0])
    D.write_idx(tmp_path / "train-labels-idx1-ubyte.gz", y[::20].astype(np.uint8))
    D.write_idx(tmp_path / "t10k-images-idx3-ubyte.gz", x[7::50, 0])
    D.write_idx(tmp_path / "t10k-labels-idx1-ubyte.gz", y[7::50].astype(np.uint8))
    T.main(["--data", str(tmp_path), "--epochs", "1", "--no-progress"])
    out = capsys.readouterr().out
    assert ACC.search(out)


def test_cli_on_a_malaria_zip(tmp_path, capsys):
    import zipfile

    from strided.data import _png
    rng = np.random.default_rng(0)
    labels = []
    with zipfile.ZipFile(tmp_path / "train_data.zip", "w") as zf:
        for i in range(24):
            sick = i % 2
            img = rng.integers(150, 230, (20 + i % 5, 22, 3), dtype=np.uint8)
            if sick:
                img[5:10, 6:11] = (120, 20, 120)  # a purple parasite blob
            zf.writestr(f"img_{i}.png", _png.write_png(img))
            labels.append(f"img_{i}.png,{'Parasitized' if sick else 'Uninfected'}")
    (tmp_path / "train_labels.csv").write_text("filename,label\n" + "\n".join(labels) + "\n")
    T.main(["--data", str(tmp_path / "train_data.zip"), "--model", "brain_baseline", "--image-size", "32",
            "--epochs", "1", "--test", "0.25", "--no-progress"])
    assert ACC.search(capsys.readouterr().out)


def test_python_dash_m_entry_point():
    env = dict(os.environ, OMP_NUM_THREADS="1")
    r = subprocess.run([sys.executable, "-m", "strided.train", "--limit", "200", "--epochs", "1", "--no-progress"],
                       capture_output=True, text=True, timeout=120, env=env,
                       cwd=Path(strided.__file__).resolve().parents[2])
    assert r.returncode == 0, r.stderr
    assert ACC.search(r.stdout) and "RuntimeWarning" not in r.stderr
    exe = shutil.which("strided-train")
    if exe:
        r = subprocess.run([exe, "--limit", "100", "--epochs", "1", "--no-progress"], capture_output=True,
                           text=True, timeout=120, env=env)
        assert r.returncode == 0 and ACC.search(r.stdout) and r.stderr == "", r.stderr


def test_bad_cli_arguments():
    with pytest.raises(SystemExit):
        T.main(["--model", "no_such_model", "--limit", "50", "--epochs", "1", "--no-progress"])
    assert models.lenet5 is not None


# ---- parity with PyTorch -----------------------------------------------------------------------------
@pytest.mark.parametrize("opt_name", ["sgd", "adam"])
def test_lenet5_training_steps_match_torch(opt_name):
    torch = pytest.importorskip("torch")
    nn.init.seed(0)
    model = models.lenet5().to(np.float64)
    tm = nn.to_torch(model)
    x, y = D.load_mnist_sample()
    x = (x[::100].astype(np.float64) / 255 - 0.13) / 0.31
    y = y[::100]
    if opt_name == "sgd":
        opt = optim.SGD(model.parameters(), lr=0.05, momentum=0.9, nesterov=True, weight_decay=1e-4)
        topt = torch.optim.SGD(tm.parameters(), lr=0.05, momentum=0.9, nesterov=True, weight_decay=1e-4)
    else:
        opt = optim.Adam(model.parameters(), lr=1e-3)
        topt = torch.optim.Adam(tm.parameters(), lr=1e-3)
    tr = T.Trainer(model, opt, losses.CrossEntropyLoss(label_smoothing=0.1), progress=False)
    tx, ty = torch.from_numpy(x), torch.from_numpy(y)
    for _ in range(3):
        value, _ = tr.train_step(x, y)
        topt.zero_grad()
        tl = torch.nn.functional.cross_entropy(tm(tx), ty, label_smoothing=0.1)
        tl.backward()
        topt.step()
        assert value == pytest.approx(tl.item(), rel=1e-9)
    for p, tp in zip(model.parameters(), tm.parameters()):
        np.testing.assert_allclose(p.data, tp.detach().numpy(), rtol=1e-7, atol=1e-9)
