"""The `strided-train` command (``python -m strided.train``): build_parser, run (train, then print
'test accuracy: NN.NN%') and main, with the model lookup, the per-dataset augmentation and the curve plot."""
from __future__ import annotations

import argparse
import inspect
import sys
import time

import numpy as np

from .. import data as sdata
from .. import distributed as sdist
from .. import losses as slosses
from .. import optim as soptim
from .callbacks import EarlyStopping
from .trainer import Trainer


DEFAULTS = {"epochs": 12, "batch_size": 64, "optimizer": "adam", "lr": 2e-3}


def _build_model(name, num_classes, in_channels, size):
    from .. import models

    fn = getattr(models, name, None)
    if fn is None or name.startswith("_") or not callable(fn):
        raise SystemExit(f"unknown model {name!r}")
    params = inspect.signature(fn).parameters
    kw = {"num_classes": num_classes}
    if "in_channels" in params:
        kw["in_channels"] = in_channels
    if "input_size" in params:
        kw["input_size"] = size
    if "small" in params:
        kw["small"] = size <= 64
    return fn(**kw)


def _augmentation(name, size):
    T = sdata
    if name.startswith("mnist"):
        return [T.RandomAffine(degrees=10, translate=(0.08, 0.08), scale=(0.92, 1.08))]
    if name == "cifar10":
        return [T.RandomCrop(size, padding=4), T.RandomHorizontalFlip()]
    return [T.RandomHorizontalFlip(), T.RandomVerticalFlip(), T.RandomAffine(degrees=15),
            T.ColorJitter(0.1, 0.1, 0.1)]


def _plot(history, path):
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        print(f"--plot {path}: matplotlib is not installed (pip install matplotlib, or the strided[plot] extra); "
              "no plot written", file=sys.stderr)
        return False
    ep = history["epoch"]
    fig, (a, b) = plt.subplots(1, 2, figsize=(10, 4))
    a.plot(ep, history["loss"], label="train")
    if "val_loss" in history:
        a.plot(ep, history["val_loss"], label="validation")
    a.set_xlabel("epoch")
    a.set_ylabel("loss")
    a.legend()
    if history.get("accuracy") and history["accuracy"][0] is not None:
        b.plot(ep, [100 * v for v in history["accuracy"]], label="train")
        if "val_accuracy" in history:
            b.plot(ep, [100 * v for v in history["val_accuracy"]], label="validation")
        b.set_ylabel("accuracy (%)")
        b.legend()
    b.set_xlabel("epoch")
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)
    return True


def build_parser():
    p = argparse.ArgumentParser(
        prog="strided-train",
        description="Train a strided model. Default: LeNet-5 on the bundled 5,000-image MNIST sample "
                    "(seeded split: 1,000 test images never trained on), ending with 'test accuracy: NN.NN%'.")
    p.add_argument("--model", default="lenet5", help="a strided.models function (default lenet5)")
    p.add_argument("--data", default=None,
                   help="MNIST IDX folder, CIFAR-10 batches folder, or malaria images folder/.zip "
                        "(+ labels CSV); default: the bundled MNIST sample")
    p.add_argument("--labels", default=None, help="labels CSV for --data images (default: *label*.csv next to it)")
    p.add_argument("--image-size", type=int, default=64, help="side images of --data folders/zips are resized to")
    p.add_argument("--epochs", type=int, default=DEFAULTS["epochs"], help=f"default {DEFAULTS['epochs']}")
    p.add_argument("--batch-size", type=int, default=DEFAULTS["batch_size"], help=f"the global batch, split over the MPI ranks (default {DEFAULTS['batch_size']})")
    p.add_argument("--optimizer", default=DEFAULTS["optimizer"],
                   choices=["sgd", "adam", "adamw", "rmsprop", "adagrad", "adadelta"],
                   help=f"default {DEFAULTS['optimizer']}")
    p.add_argument("--lr", type=float, default=None, help=f"learning rate (default {DEFAULTS['lr']} for adam/adamw, "
                                                          "0.05 for sgd, the optimizer's own otherwise)")
    p.add_argument("--momentum", type=float, default=0.9, help="SGD/RMSprop momentum (default 0.9)")
    p.add_argument("--weight-decay", type=float, default=0.0, help="L2 (decoupled for adamw); default 0")
    p.add_argument("--scheduler", default="cosine", choices=["cosine", "step", "none"],
                   help="per-epoch learning-rate schedule: cosine to 0 over the epochs (default), or x0.1 every "
                        "third of them")
    p.add_argument("--patience", type=int, default=0,
                   help="early stopping patience on validation loss (0: off; the best-validation weights are "
                        "restored at the end either way)")
    p.add_argument("--no-augment", action="store_true", help="no data augmentation")
    p.add_argument("--val", type=float, default=0.1, help="validation share of the training data (default 0.1)")
    p.add_argument("--test", type=float, default=0.2,
                   help="test share when the data have no test split (default 0.2: 1,000 of the 5,000 sample)")
    p.add_argument("--limit", type=int, default=None, help="use only the first N (shuffled) samples (quick runs)")
    p.add_argument("--threads", type=int, default=None, help="threads of the CPU kernels (strided.set_num_threads); under MPI, default: cores / "
                        "ranks on the node")
    p.add_argument("--checkpoint-dir", default=None, help="write last.npz each epoch and best.npz here")
    p.add_argument("--resume", default=None, help="continue from a checkpoint file or directory")
    p.add_argument("--device", default="cpu", help="cpu (default) or cuda (needs CuPy)")
    p.add_argument("--plot", default=None, metavar="PNG", help="save loss/accuracy curves (needs matplotlib)")
    p.add_argument("--seed", type=int, default=0,
                   help="seeds the split, the initial weights, the shuffling and the augmentation (default 0)")
    p.add_argument("--no-progress", action="store_true", help="no progress bars / per-epoch lines")
    return p


def run(argv=None) -> dict:
    """The command line's work: parse `argv`, train, print 'test accuracy: NN.NN%', return the test metrics."""
    args = build_parser().parse_args(argv)
    import strided
    from ..nn import init

    comm = sdist.init(threads=args.threads)  # under MPI: cores / (ranks on the node) threads by default
    if args.threads is not None:
        strided.set_num_threads(args.threads)
    if args.device == "cuda" and comm.size > 1:  # one GPU per rank
        import cupy

        cupy.cuda.Device(comm.local_rank % cupy.cuda.runtime.getDeviceCount()).use()
    t_start = time.perf_counter()
    ds = sdata.load_dataset(args.data, labels=args.labels, size=args.image_size)
    x, y = ds["train"]
    if args.limit is not None:
        keep = np.random.default_rng(args.seed).permutation(len(x))[:args.limit]
        x, y = x[keep], y[keep]
    if "test" in ds and args.limit is None:
        (x_tr, y_tr), (x_va, y_va), _ = sdata.train_val_test_split(x, y, val=args.val, test=0, seed=args.seed)
        x_te, y_te = ds["test"]
    else:
        test = args.test if args.test < 1 else int(args.test)
        (x_tr, y_tr), (x_va, y_va), (x_te, y_te) = sdata.train_val_test_split(
            x, y, val=args.val * (1 - test) if args.val < 1 and test < 1 else args.val, test=test, seed=args.seed)
    num_classes = int(max(y.max(), y_te.max() if len(y_te) else 0)) + 1
    c, h = x.shape[1], x.shape[2]
    mean, std = sdata.channel_stats(x_tr)
    norm = sdata.Normalize(mean, std)
    aug = [] if args.no_augment else _augmentation(ds.get("name", ""), h)
    train_tf = sdata.Compose([sdata.ToFloat(), *aug, norm])
    eval_tf = sdata.Compose([sdata.ToFloat(), norm])

    init.seed(args.seed)
    model = _build_model(args.model, num_classes, c, h)
    model.to(args.device)
    lr = args.lr
    if lr is None:
        lr = {"adam": DEFAULTS["lr"], "adamw": DEFAULTS["lr"], "sgd": 0.05}.get(args.optimizer)
    okw = {} if lr is None else {"lr": lr}
    if args.optimizer == "sgd":
        okw.update(momentum=args.momentum, nesterov=args.momentum > 0)
    elif args.optimizer == "rmsprop":
        okw.update(momentum=args.momentum)
    if args.weight_decay:
        okw["weight_decay"] = args.weight_decay
    opt = soptim.get_optimizer(args.optimizer, model.parameters(), **okw)
    sched = None
    if args.scheduler == "cosine":
        sched = soptim.CosineAnnealingLR(opt, T_max=args.epochs)
    elif args.scheduler == "step":
        sched = soptim.StepLR(opt, step_size=max(1, args.epochs // 3), gamma=0.1)
    es = EarlyStopping(patience=args.patience if args.patience > 0 else None, monitor="val_loss")
    progress = not args.no_progress and comm.rank == 0
    if progress:
        print(f"data {ds.get('name', args.data)}: train {len(x_tr)}, validation {len(x_va)}, test {len(x_te)} "
              f"images {tuple(x.shape[1:])}, {num_classes} classes | model {args.model} "
              f"({sum(p.data.size for p in model.parameters()):,} parameters) on {args.device}, "
              f"{comm.size} x {strided.get_num_threads()} threads | {type(opt).__name__}(lr={opt.lr:g}), "
              f"{args.epochs} epochs of batch {args.batch_size}")
    trainer = Trainer(model, opt, slosses.CrossEntropyLoss(), scheduler=sched, transform=train_tf,
                      eval_transform=eval_tf, progress=progress, seed=args.seed)
    val = (x_va, y_va) if len(x_va) else None
    if val is None:
        es = None
    trainer.fit((x_tr, y_tr), epochs=args.epochs, batch_size=args.batch_size, val_data=val, early_stopping=es,
                checkpoint_dir=args.checkpoint_dir, resume=args.resume)
    if es is not None and es.best_epoch > 0 and progress:
        print(f"restored the weights of epoch {es.best_epoch} (best validation loss {es.best:.4f})")
    if args.plot and trainer.history and comm.rank == 0:
        if _plot(trainer.history, args.plot) and progress:
            print(f"curves written to {args.plot}")
    result = trainer.evaluate((x_te, y_te))
    if progress:
        print(f"{len(x_te)} test images, total time {time.perf_counter() - t_start:.1f}s")
    if comm.rank == 0:
        print(f"test accuracy: {100 * result['accuracy']:.2f}%")
    return result


def main(argv=None) -> int:
    """Entry point of `strided-train` and `python -m strided.train` (exit status 0)."""
    run(argv)
    return 0


__all__ = ["build_parser", "run", "main"]
