"""The `strided-train` command (``python -m strided.train``): build_parser, run (train, then print
'test accuracy: NN.NN%') and main (user mistakes as one line with exit status 2, Ctrl-C as where the last
checkpoint is and how to resume, exit status 130), with the per-dataset augmentation and the curve plot.
Models are looked up and sized for the data in build.py."""
from __future__ import annotations

import argparse
import shlex
import sys
import time
from pathlib import Path

import numpy as np

from .. import data as sdata
from .. import distributed as sdist
from .. import losses as slosses
from .. import optim as soptim
from .build import UsageError, build_model, fit_image_size, model_kwargs, model_names, parse_model_args
from .callbacks import EarlyStopping
from .checkpoint import load_checkpoint, read_checkpoint_info
from .trainer import Trainer


DEFAULTS = {"epochs": 12, "batch_size": 64, "optimizer": "adam", "lr": 2e-3}


def _augmentation(name, size):
    T = sdata
    if name.startswith("mnist"):
        return [T.RandomAffine(degrees=10, translate=(0.08, 0.08), scale=(0.92, 1.08))]
    if name == "cifar10":
        return [T.RandomCrop(size, padding=4), T.RandomHorizontalFlip()]
    return [T.RandomHorizontalFlip(), T.RandomVerticalFlip(), T.RandomAffine(degrees=15),
            T.ColorJitter(0.1, 0.1, 0.1)]


def _pyplot():
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        raise UsageError("--plot: matplotlib is not installed (pip install matplotlib, or the strided[plot] "
                         "extra), or leave out --plot") from None
    return plt


def _plot(history, path):
    plt = _pyplot()
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


class _Parser(argparse.ArgumentParser):
    def error(self, message):  # one line (not usage + error), exit status 2 through main()
        raise UsageError(f"{message} (see {self.prog} --help)")


def build_parser():
    p = _Parser(
        prog="strided-train",
        description="Train a strided model. Default: LeNet-5 on the bundled 5,000-image MNIST sample "
                    "(seeded split: 1,000 test images never trained on), ending with 'test accuracy: NN.NN%'. "
                    "The model is built for the data's channels, classes and image size; images are resized "
                    "to the nearest size a model takes (e.g. 28x28 MNIST to 32x32 for VGG).")
    p.add_argument("--model", default="lenet5", help=f"a strided.models function: {', '.join(model_names())} "
                                                     "(default lenet5)")
    p.add_argument("--model-args", default=None, metavar="K=V,...",
                   help="more arguments of the model function, e.g. hidden=256,dropout=0.3,batch_norm=True")
    p.add_argument("--pretrained", default=None, metavar="FILE",
                   help="torchvision-format weights (.safetensors, or .pth with torch) for resnet18, vgg11-19, "
                        "alexnet or googlenet; the head is replaced for the data's classes")
    p.add_argument("--freeze-backbone", action="store_true", help="train only the classifier head")
    p.add_argument("--data", default=None,
                   help="MNIST IDX folder, CIFAR-10 batches folder, or malaria images folder/.zip "
                        "(+ labels CSV); default: the bundled MNIST sample")
    p.add_argument("--labels", default=None, help="labels CSV for --data images (default: *label*.csv next to it)")
    p.add_argument("--image-size", type=int, default=64, help="side images of --data folders/zips are resized to")
    p.add_argument("--epochs", type=int, default=DEFAULTS["epochs"],
                   help=f"epochs in total, counting those of a resumed run (default {DEFAULTS['epochs']})")
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
                        "third of them; a resumed run with a larger --epochs stretches it over the new total")
    p.add_argument("--patience", type=int, default=0,
                   help="early stopping patience on validation loss (0: off; the best-validation weights are "
                        "restored at the end either way)")
    p.add_argument("--no-augment", action="store_true", help="no data augmentation")
    p.add_argument("--val", type=float, default=0.1,
                   help="validation share of the training data, or a whole number of samples (default 0.1)")
    p.add_argument("--test", type=float, default=0.2,
                   help="test share (or a whole number of samples) when the data have no test split (default 0.2: "
                        "1,000 of the 5,000 sample)")
    p.add_argument("--limit", type=int, default=None, help="use only the first N (shuffled) samples (quick runs)")
    p.add_argument("--threads", type=int, default=None, help="threads of the CPU kernels (strided.set_num_threads); under MPI, default: cores / "
                        "ranks on the node")
    p.add_argument("--checkpoint-dir", default=None,
                   help="write last.npz each epoch and best.npz here (default with --resume: its folder)")
    p.add_argument("--resume", default=None, help="continue from a checkpoint file or directory")
    p.add_argument("--device", default="cpu", choices=["cpu", "cuda"], help="cpu (default) or cuda (needs CuPy)")
    p.add_argument("--plot", default=None, metavar="PNG", help="save loss/accuracy curves (needs matplotlib)")
    p.add_argument("--seed", type=int, default=0,
                   help="seeds the split, the initial weights, the shuffling and the augmentation (default 0)")
    p.add_argument("--no-progress", action="store_true", help="no progress bars / per-epoch lines")
    p.add_argument("--debug", action="store_true", help="show the traceback of an error")
    return p


def _check_args(args):
    """Mistakes found before any data are read: one UsageError each, naming the fix."""
    for name in ("epochs", "batch_size", "limit", "threads", "image_size"):
        v = getattr(args, name)
        if v is not None and v < 1:
            raise UsageError(f"--{name.replace('_', '-')} must be at least 1, got {v}")
    for name in ("val", "test"):  # a share, or a whole count of samples (a float from argparse: made an int)
        v = getattr(args, name)
        if not (0 <= v < 1 or (v >= 1 and v == int(v))):
            raise UsageError(f"--{name} is a share in [0, 1) or a whole number of samples, got {v:g}")
        if v >= 1:
            setattr(args, name, int(v))
    if args.device == "cuda":
        from .._device import gpu_status

        ok, line = gpu_status()
        if not ok:
            raise UsageError(f"--device cuda: {line}; or train with --device cpu")
    if args.plot:
        _pyplot()
    if args.data is not None and not Path(args.data).exists():
        raise UsageError(f"--data {args.data}: no such file or folder (give an MNIST IDX folder, a CIFAR-10 "
                         "batches folder, or an images folder/.zip; leave out --data for the bundled sample)")
    if args.resume is not None:
        r = Path(args.resume)
        if not (r / "last.npz" if r.is_dir() else r).exists():
            raise UsageError(f"--resume {args.resume}: no checkpoint there (a last.npz/best.npz file, or the "
                             "--checkpoint-dir folder of an earlier run)")
    overrides = parse_model_args(args.model_args)
    model_kwargs(args.model, 2, 1, 32, overrides)  # unknown model or argument: fail before loading data
    return overrides


def _resize(x, size):
    from ..data.images import resize_image

    out = np.empty((len(x), x.shape[1], size, size), np.uint8)
    for i, img in enumerate(x):
        out[i] = np.clip(np.rint(resize_image(img, size)), 0, 255).astype(np.uint8)
    return out


def _load(args):
    try:
        return sdata.load_dataset(args.data, labels=args.labels, size=args.image_size)
    except (ValueError, FileNotFoundError, ImportError) as e:  # strided.data names the file and member
        raise UsageError(f"--data: {e}") from e


def _interrupted(ckpt_dir, argv):
    last = Path(ckpt_dir) / "last.npz" if ckpt_dir else None
    if last is None or not last.exists():
        hint = "" if ckpt_dir else " (add --checkpoint-dir DIR to keep one)"
        return f"interrupted before any checkpoint was written{hint}"
    epoch = read_checkpoint_info(last)["epoch"]
    # the resumed run writes to the folder it resumes from
    again = [a for a in argv if a != "--debug" and not a.startswith(("--resume=", "--checkpoint-dir="))]
    for opt in ("--resume", "--checkpoint-dir"):
        while opt in again:
            i = again.index(opt)
            del again[i:i + 2]
    return (f"interrupted; the last checkpoint is {last} (epoch {epoch}); resume with: strided-train "
            f"{shlex.join([*again, '--resume', str(last.parent)])}")


class _Interrupted(Exception):
    pass


def run(argv=None) -> dict:
    """The command line's work: parse `argv`, train, print 'test accuracy: NN.NN%', return the test metrics.
    Raises UsageError for the user's mistakes (main prints them as one line)."""
    argv = list(sys.argv[1:] if argv is None else argv)
    args = build_parser().parse_args(argv)
    overrides = _check_args(args)
    import strided
    from ..nn import init

    comm = sdist.init(threads=args.threads)  # under MPI: cores / (ranks on the node) threads by default
    if args.threads is not None:
        strided.set_num_threads(args.threads)
    if args.device == "cuda" and comm.size > 1:  # one GPU per rank
        import cupy

        cupy.cuda.Device(comm.local_rank % cupy.cuda.runtime.getDeviceCount()).use()
    t_start = time.perf_counter()
    ds = _load(args)
    x, y = ds["train"]
    if args.limit is not None:
        keep = np.random.default_rng(args.seed).permutation(len(x))[:args.limit]
        x, y = x[keep], y[keep]
    try:  # counts larger than the data are found here
        if "test" in ds and args.limit is None:
            (x_tr, y_tr), (x_va, y_va), _ = sdata.train_val_test_split(x, y, val=args.val, test=0, seed=args.seed)
            x_te, y_te = ds["test"]
        else:
            val = args.val * (1 - args.test) if args.val < 1 and args.test < 1 else args.val
            (x_tr, y_tr), (x_va, y_va), (x_te, y_te) = sdata.train_val_test_split(x, y, val=val, test=args.test,
                                                                                  seed=args.seed)
    except ValueError as e:
        raise UsageError(f"--val {args.val:g} / --test {args.test:g}: {e}") from e
    classes = [str(c) for c in ds.get("classes", [])]
    num_classes = max(len(classes), int(max(y.max(), y_te.max() if len(y_te) else 0)) + 1)
    c, h = x.shape[1], x.shape[2]
    size = fit_image_size(args.model, num_classes, c, h, overrides)
    if size != h:
        if comm.rank == 0:
            print(f"{args.model} does not take {h}x{h} images: resizing them to {size}x{size}, the nearest size "
                  f"it takes", file=sys.stderr)
        x_tr, x_va, x_te = (_resize(a, size) for a in (x_tr, x_va, x_te))
    mean, std = sdata.channel_stats(x_tr)
    norm = sdata.Normalize(mean, std)
    aug = [] if args.no_augment else _augmentation(ds.get("name", ""), size)
    train_tf = sdata.Compose([sdata.ToFloat(), *aug, norm])
    eval_tf = sdata.Compose([sdata.ToFloat(), norm])

    init.seed(args.seed)
    kwargs = model_kwargs(args.model, num_classes, c, size, overrides)
    if args.pretrained is not None:
        if not Path(args.pretrained).is_file():
            raise UsageError(f"--pretrained {args.pretrained}: no such file")
        kwargs["weights"] = args.pretrained
    model = build_model(args.model, kwargs)
    if args.freeze_backbone:
        from ..models import freeze

        freeze(model, except_head=True)
    ckpt_dir = args.checkpoint_dir
    if args.resume is not None:
        r = Path(args.resume)
        ckpt_dir = ckpt_dir or str(r if r.is_dir() else r.parent)
        try:  # the same model and data as the run it continues: checked before anything is loaded
            load_checkpoint(args.resume, template=model)
        except ValueError as e:
            raise UsageError(f"--resume: {e} (resume with the --model, --model-args and data of that run)") from e
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
    if args.scheduler == "cosine":  # T_max is the whole run: a resumed run keeps the plan it is given here
        sched = soptim.CosineAnnealingLR(opt, T_max=args.epochs)
    elif args.scheduler == "step":
        sched = soptim.StepLR(opt, step_size=max(1, args.epochs // 3), gamma=0.1)
    es = EarlyStopping(patience=args.patience if args.patience > 0 else None, monitor="val_loss")
    progress = not args.no_progress and comm.rank == 0
    if progress:
        print(f"data {ds.get('name', args.data)}: train {len(x_tr)}, validation {len(x_va)}, test {len(x_te)} "
              f"images {(c, size, size)}, {num_classes} classes | model {args.model} "
              f"({sum(p.data.size for p in model.parameters()):,} parameters) on {args.device}, "
              f"{comm.size} x {strided.get_num_threads()} threads | {type(opt).__name__}(lr={opt.lr:g}), "
              f"{args.epochs} epochs of batch {args.batch_size}")
    info = {"model": args.model, "model_args": kwargs, "in_channels": c, "image_size": size,
            "mean": mean.tolist(), "std": std.tolist(), "classes": classes or [str(i) for i in range(num_classes)],
            "dataset": ds.get("name", str(args.data))}
    trainer = Trainer(model, opt, slosses.CrossEntropyLoss(), scheduler=sched, transform=train_tf,
                      eval_transform=eval_tf, progress=progress, seed=args.seed, info=info)
    val = (x_va, y_va) if len(x_va) else None
    if val is None:
        es = None
    try:
        trainer.fit((x_tr, y_tr), epochs=args.epochs, batch_size=args.batch_size, val_data=val, early_stopping=es,
                    checkpoint_dir=ckpt_dir, resume=args.resume)
    except KeyboardInterrupt as e:
        raise _Interrupted(_interrupted(ckpt_dir, argv)) from e
    if args.resume is not None and trainer.history and len(trainer.history["epoch"]) >= args.epochs and progress:
        print(f"the checkpoint had already trained {trainer.epoch} epochs: give a larger --epochs to train on")
    if es is not None and es.best_epoch > 0 and progress:
        print(f"restored the weights of epoch {es.best_epoch} (best validation loss {es.best:.4f})")
    if args.plot and trainer.history and comm.rank == 0:
        _plot(trainer.history, args.plot)
        if progress:
            print(f"curves written to {args.plot}")
    result = trainer.evaluate((x_te, y_te))
    if progress:
        print(f"{len(x_te)} test images, total time {time.perf_counter() - t_start:.1f}s")
    if comm.rank == 0:
        print(f"test accuracy: {100 * result['accuracy']:.2f}%")
    return result


def report_errors(prog, fn, argv):
    """Run fn(argv) as a command: 0 on success; a UsageError printed as one line 'prog: error: ...' and
    SystemExit(2); an interruption as its message and SystemExit(130). '--debug' in argv lets the traceback
    through instead."""
    argv = list(sys.argv[1:] if argv is None else argv)
    try:
        fn(argv)
    except (UsageError, _Interrupted) as e:
        if "--debug" in argv:
            raise
        print(f"{prog}: {'error: ' if isinstance(e, UsageError) else ''}{e}", file=sys.stderr)
        raise SystemExit(2 if isinstance(e, UsageError) else 130) from None
    except KeyboardInterrupt:
        if "--debug" in argv:
            raise
        print(f"{prog}: interrupted", file=sys.stderr)
        raise SystemExit(130) from None
    return 0


def main(argv=None) -> int:
    """Entry point of `strided-train` and `python -m strided.train`: returns 0; exits with status 2 for a
    user mistake (one line on stderr; --debug shows the traceback), 130 when interrupted (saying how to
    resume)."""
    return report_errors("strided-train", run, argv)


__all__ = ["build_parser", "run", "main", "report_errors"]
