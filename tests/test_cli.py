"""The strided-train and strided-predict commands as a user meets them: every strided.models function on
every dataset format (fake files the tests write: MNIST IDX, CIFAR-10 batches, malaria zip and folder with a
labels CSV), a predict round trip and strided.load_model, resume semantics, and each user mistake as one
line with exit status 2 (130 for Ctrl-C)."""
import pickle
import re
import sys
import types
import zipfile

import numpy as np
import pytest

import strided
from strided import data as D
from strided import predict as P
from strided import train as T
from strided.data._png import write_png
from strided.train import build

ACC = re.compile(r"^test accuracy: \d{1,3}\.\d\d%$", re.M)
QUICK = ["--limit", "12", "--epochs", "1", "--batch-size", "4", "--val", "0.25", "--test", "0.25",
         "--no-progress", "--threads", "1"]


def _labels(n, k, seed=0):
    return np.arange(n) % k if seed is None else np.random.default_rng(seed).permutation(np.arange(n) % k)


@pytest.fixture(scope="module")
def datasets(tmp_path_factory):
    root = tmp_path_factory.mktemp("data")
    rng = np.random.default_rng(0)
    mnist = root / "mnist"
    mnist.mkdir()
    D.write_idx(mnist / "train-images-idx3-ubyte", rng.integers(0, 256, (40, 28, 28), dtype=np.uint8))
    D.write_idx(mnist / "train-labels-idx1-ubyte", _labels(40, 10).astype(np.uint8))
    D.write_idx(mnist / "t10k-images-idx3-ubyte.gz", rng.integers(0, 256, (10, 28, 28), dtype=np.uint8))
    D.write_idx(mnist / "t10k-labels-idx1-ubyte.gz", _labels(10, 10).astype(np.uint8))
    cifar = root / "cifar-10-batches-py"
    cifar.mkdir()
    for name, n in (("data_batch_1", 40), ("test_batch", 10)):
        batch = {b"data": rng.integers(0, 256, (n, 3072), dtype=np.uint8), b"labels": _labels(n, 10).tolist()}
        (cifar / name).write_bytes(pickle.dumps(batch, protocol=2))
    (cifar / "batches.meta").write_bytes(pickle.dumps({b"label_names": [b"c%d" % i for i in range(10)]}))
    cells = {f"cells/img_{i}.png": write_png(rng.integers(0, 256, (20, 18, 3), dtype=np.uint8)) for i in range(40)}
    csv = "filename,label\n" + "".join(f"img_{i}.png,{lab}\n" for i, lab in enumerate(_labels(40, 2)))
    zdir = root / "malaria_zip"
    zdir.mkdir()
    with zipfile.ZipFile(zdir / "train_data.zip", "w") as z:
        for n, b in cells.items():
            z.writestr(n, b)
    (zdir / "train_labels.csv").write_text(csv)
    fdir = root / "malaria_folder"
    for n, b in cells.items():
        (fdir / n).parent.mkdir(parents=True, exist_ok=True)
        (fdir / n).write_bytes(b)
    (fdir / "train_labels.csv").write_text(csv)
    return {"mnist": mnist, "cifar10": cifar, "malaria_zip": zdir / "train_data.zip", "malaria_folder": fdir}


SLOW = {"vgg", "vgg13", "vgg16", "vgg19", "googlenet"}  # every dataset marked slow
HEAVY = {"vgg11", "resnet18", "googlenet_small"}        # quick on MNIST (where images are resized), else slow
DATASETS = ["mnist", "cifar10", "malaria_zip", "malaria_folder"]


def _pair(model, dataset):
    slow = model in SLOW or (model in HEAVY and dataset != "mnist")
    return pytest.param(model, dataset, marks=pytest.mark.slow) if slow else (model, dataset)


@pytest.mark.parametrize("model,dataset", [_pair(m, d) for m in build.model_names() for d in DATASETS])
def test_every_model_trains_on_every_dataset(datasets, model, dataset, capsys):
    size = ["--image-size", "16"] if dataset.startswith("malaria") else []
    assert T.main(["--model", model, "--data", str(datasets[dataset]), *size, *QUICK]) == 0
    out = capsys.readouterr().out
    assert ACC.search(out), out


def test_model_args_and_the_size_fit(datasets, capsys, tmp_path):
    T.main(["--model", "vgg11", "--model-args", "hidden=32,dropout=0.1,batch_norm=True", "--data",
            str(datasets["mnist"]), *QUICK, "--checkpoint-dir", str(tmp_path)])
    captured = capsys.readouterr()
    assert "resizing them to 32x32" in captured.err and ACC.search(captured.out)
    info = T.load_checkpoint(tmp_path)["info"]
    assert info["model"] == "vgg11" and info["image_size"] == 32 and info["in_channels"] == 1
    assert info["model_args"] == {"num_classes": 10, "in_channels": 1, "batch_norm": True, "input_size": 32,
                                  "hidden": 32, "dropout": 0.1}
    assert build.fit_image_size("lenet5", 2, 3, 64) == 32 and build.fit_image_size("googlenet", 10, 1, 28) > 32


def test_default_constructions_are_unchanged():
    from strided import models, nn

    with nn.init.skip_init():
        assert models.vgg16(num_classes=1000).num_parameters() == 138_357_544
        assert models.alexnet().num_parameters() == 62_378_344
        assert models.vgg().num_parameters() == 138_357_544     # config 'D' by default
        assert models.lenet5().num_parameters() == 61_706
    assert models.alexnet(small=True, num_classes=10, input_size=28).classifier[2].in_features == 256 * 3 * 3


def _rgb_zip(path, n=6):
    rng = np.random.default_rng(1)
    with zipfile.ZipFile(path, "w") as z:
        for i in range(n):
            z.writestr(f"x/{i}.png", write_png(rng.integers(0, 256, (25, 30, 3), dtype=np.uint8)))


def test_predict_round_trip(datasets, tmp_path, capsys):
    ck = tmp_path / "ck"
    T.main(["--data", str(datasets["malaria_zip"]), "--image-size", "16", "--model", "brain_baseline",
            *QUICK, "--checkpoint-dir", str(ck)])
    capsys.readouterr()
    _rgb_zip(tmp_path / "new.zip")
    one = tmp_path / "one.png"
    one.write_bytes(write_png(np.full((40, 40), 200, np.uint8)))   # grey: converted to the model's 3 channels
    rows = P.run([str(ck / "last.npz"), str(tmp_path / "new.zip"), str(one), "--top", "2"])
    out = capsys.readouterr().out.strip().splitlines()
    assert len(rows) == len(out) == 7
    assert all(re.fullmatch(r".+: [01] \d+\.\d\d%, [01] \d+\.\d\d%", line) for line in out), out
    assert all(abs(sum(p for _, p in r) - 1) < 1e-5 for _, r in rows)
    model = strided.load_model(ck / "last.npz")
    assert not model.training and model.classes == ["0", "1"] and model.preprocess.image_size == 16
    img = np.random.default_rng(2).integers(0, 256, (3, 16, 16), dtype=np.uint8)
    batch = model.preprocess(img)   # one (C, H, W) image
    assert batch.shape == (1, 3, 16, 16) and batch.dtype == np.float32
    probs = T.predict_proba(model, batch)
    assert probs.shape == (1, 2)
    # the same numbers as the training pipeline's eval transform
    info = model.info
    want = (img[None] / np.float32(255) - np.reshape(info["mean"], (1, 3, 1, 1))) / np.reshape(info["std"],
                                                                                             (1, 3, 1, 1))
    np.testing.assert_allclose(batch, want, rtol=1e-5, atol=1e-5)


def test_resume_extends_the_schedule_and_writes_where_it_resumed(tmp_path, capsys):
    ck = tmp_path / "ck"
    base = ["--limit", "60", "--batch-size", "30", "--no-progress", "--no-augment", "--seed", "2"]
    T.main([*base, "--epochs", "12", "--checkpoint-dir", str(ck)])
    first = T.load_checkpoint(ck)["history"]["lr"]
    assert first[0] == pytest.approx(2e-3) and first[-1] > 0
    T.main([*base, "--epochs", "14", "--resume", str(ck)])    # no --checkpoint-dir: writes to ck
    meta = T.load_checkpoint(ck / "last.npz")
    assert meta["epoch"] == 14 and meta["history"]["epoch"] == list(range(1, 15))
    lr = meta["history"]["lr"]
    assert lr[:12] == first
    assert lr[12] == pytest.approx(2e-3 * (1 + np.cos(np.pi * 12 / 14)) / 2)   # epoch 13: not lr 0
    assert lr[12] > 0 and lr[13] < lr[12]
    assert ACC.search(capsys.readouterr().out)


def _error(argv, capsys, fn=T.main, code=2):
    with pytest.raises(SystemExit) as e:
        fn(argv)
    err = capsys.readouterr().err.strip()
    assert e.value.code == code, err
    assert len(err.splitlines()) == 1 and "Traceback" not in err, err
    return err


def test_user_errors_are_one_line(tmp_path, capsys, monkeypatch):
    assert "--data" in _error(["--data", str(tmp_path / "nope")], capsys) and "no such file" in \
        _error(["--data", str(tmp_path / "nope")], capsys)
    assert "--epochs must be at least 1, got 0" in _error(["--epochs", "0"], capsys)
    assert "--test is a share in [0, 1) or a whole number of samples, got -5" in _error(["--test", "-5"], capsys)
    assert "--val is a share" in _error(["--val", "2.5"], capsys)
    assert "leave no training samples out of 5000" in _error(["--val", "100000"], capsys)
    assert "invalid choice: 'cpus'" in _error(["--device", "cpus"], capsys)
    err = _error(["--model", "resnet"], capsys)
    assert "unknown model 'resnet'" in err and "resnet18" in err and "googlenet_small" in err
    assert "'oops' is not key=value" in _error(["--model-args", "oops"], capsys)
    err = _error(["--model", "lenet5", "--model-args", "colour=1"], capsys)
    assert "lenet5 takes no argument 'colour'" in err and "activation" in err
    assert "activation" in _error(["--model", "lenet5", "--model-args", "activation=swish", *QUICK], capsys)
    monkeypatch.setitem(sys.modules, "cupy", None)
    assert "strided[cuda12]" in _error(["--device", "cuda"], capsys)
    fake = types.ModuleType("cupy")
    fake.__version__ = "13.0"

    def no_driver():
        raise RuntimeError("cudaErrorInsufficientDriver: CUDA driver version is insufficient")

    fake.cuda = types.SimpleNamespace(runtime=types.SimpleNamespace(getDeviceCount=no_driver))
    monkeypatch.setitem(sys.modules, "cupy", fake)
    err = _error(["--device", "cuda"], capsys)
    assert "cannot reach a GPU" in err and "InsufficientDriver" in err and "--device cpu" in err
    monkeypatch.setitem(sys.modules, "matplotlib", None)
    assert "matplotlib is not installed" in _error(["--plot", str(tmp_path / "c.png")], capsys)


def test_data_errors_are_one_line(tmp_path, capsys):
    bad = tmp_path / "cells"
    bad.mkdir()
    (bad / "a.png").write_bytes(b"not a png")
    (bad / "b.png").write_bytes(write_png(np.zeros((4, 4), np.uint8)))
    (bad / "labels.csv").write_text("filename,label\na.png,0\nb.png,1\n")
    err = _error(["--data", str(bad), *QUICK], capsys)
    assert "a.png" in err and err.startswith("strided-train: error: --data: ")
    corrupt = tmp_path / "train_data.zip"
    corrupt.write_bytes(b"PK\x03\x04 broken")
    assert "corrupt zip" in _error(["--data", str(corrupt)], capsys)


def test_debug_shows_the_traceback(tmp_path):
    with pytest.raises(build.UsageError, match="--epochs must be at least 1"):
        T.main(["--epochs", "0", "--debug"])


def test_ctrl_c_names_the_checkpoint_and_the_resume_command(tmp_path, capsys, monkeypatch):
    calls = []
    real = T.Trainer._run_epoch

    def interrupt_second_epoch(self, loader, epoch, epochs):
        calls.append(epoch)
        if epoch == 1:
            raise KeyboardInterrupt
        return real(self, loader, epoch, epochs)

    monkeypatch.setattr(T.Trainer, "_run_epoch", interrupt_second_epoch)
    ck = tmp_path / "ck"
    err = _error(["--limit", "60", "--epochs", "3", "--no-progress", "--checkpoint-dir", str(ck)], capsys,
                 code=130)
    assert f"the last checkpoint is {ck / 'last.npz'} (epoch 1)" in err
    assert f"--resume {ck}" in err and "--checkpoint-dir" not in err
    err = _error(["--limit", "60", "--epochs", "3", "--no-progress"], capsys, code=130)
    assert "--checkpoint-dir" in err


def test_predict_errors_are_one_line(tmp_path, capsys):
    assert "no such checkpoint file" in _error([str(tmp_path / "none.npz"), "x.png"], capsys, fn=P.main)
    strided.nn.init.seed(0)
    T.save_checkpoint(tmp_path / "bare.npz", strided.models.lenet5())   # weights but no description
    assert "does not describe its model" in _error([str(tmp_path / "bare.npz"), "x.png"], capsys, fn=P.main)


def test_python_m_strided_reports_the_gpu(capsys, monkeypatch):
    from strided import __main__ as M

    monkeypatch.setattr(M, "self_check", lambda: [])
    M.main()
    out = capsys.readouterr().out
    gpu = [line for line in out.splitlines() if line.strip().startswith("GPU")]
    assert len(gpu) == 1 and ("CuPy" in gpu[0])


def test_pretrained_and_frozen_backbone(datasets, capsys, tmp_path):
    """--pretrained names a missing file in one line; --freeze-backbone trains the head alone."""
    import numpy as np

    from strided.train import load_checkpoint

    with pytest.raises(SystemExit) as e:
        T.main(["--model", "resnet18", "--pretrained", str(tmp_path / "none.safetensors"), *QUICK])
    assert e.value.code == 2 and "--pretrained" in capsys.readouterr().err
    states = {}
    for flags in ([], ["--freeze-backbone"]):
        ckpt = tmp_path / f"ckpt{len(flags)}"
        assert T.main([*flags, "--checkpoint-dir", str(ckpt), *QUICK]) == 0
        states[bool(flags)] = load_checkpoint(ckpt / "last.npz")["model_state"]
    same = {k: np.array_equal(states[True][k], states[False][k]) for k in states[True]}
    assert not same["conv1.weight"] and not same["fc3.weight"]  # both runs trained from the same start...
    from strided import models
    from strided.nn import init

    init.seed(0)
    start = models.lenet5().state_dict()
    assert np.array_equal(states[True]["conv1.weight"], start["conv1.weight"])  # ...but frozen stays put
