"""The `strided-predict` command (``python -m strided.predict``): the top classes, with probabilities, of
every image given (files, folders, .zip archives) under a checkpoint written by strided-train.

    strided-predict ckpt/best.npz cell1.png more_cells/ test_images.zip --top 2
"""
from __future__ import annotations

import sys
from pathlib import Path


def build_parser():
    from .train.cli import _Parser

    p = _Parser(prog="strided-predict",
                description="Print the top classes, with probabilities, of images under a strided-train "
                            "checkpoint: one line per image, 'NAME: CLASS PP.PP%, CLASS PP.PP%, ...'.")
    p.add_argument("checkpoint", help="a checkpoint file (best.npz, last.npz) or its folder (its last.npz)")
    p.add_argument("images", nargs="+", help="image files, folders of images, or .zip archives of images")
    p.add_argument("--top", type=int, default=3, help="classes shown per image (default 3)")
    p.add_argument("--batch-size", type=int, default=64, help="images per forward pass (default 64)")
    p.add_argument("--device", default="cpu", choices=["cpu", "cuda"], help="cpu (default) or cuda (needs CuPy)")
    p.add_argument("--debug", action="store_true", help="show the traceback of an error")
    return p


def run(argv=None) -> list:
    """Parse argv, print one line per image, return [(name, [(class, probability), ...]), ...]."""
    import numpy as np

    from .train.build import UsageError
    from .train.deploy import load_model, read_image_files
    from .train.predict import predict_proba

    args = build_parser().parse_args(argv)
    if args.top < 1 or args.batch_size < 1:
        raise UsageError("--top and --batch-size must be at least 1")
    ck = Path(args.checkpoint)
    if not (ck / "last.npz" if ck.is_dir() else ck).exists():
        raise UsageError(f"{ck}: no such checkpoint file (give the best.npz or last.npz that strided-train "
                         "--checkpoint-dir wrote)")
    try:
        model = load_model(args.checkpoint, device=args.device)
    except (ValueError, FileNotFoundError, ImportError) as e:
        raise UsageError(f"{args.checkpoint}: {e}" if str(args.checkpoint) not in str(e) else str(e)) from e
    classes = model.classes
    out, names, batch = [], [], []

    def flush():
        probs = predict_proba(model, np.concatenate(batch))
        for name, p in zip(names, probs):
            top = np.argsort(-p, kind="stable")[:args.top]
            row = [(classes[i] if i < len(classes) else str(i), float(p[i])) for i in top]
            out.append((name, row))
            print(f"{name}: " + ", ".join(f"{c} {100 * q:.2f}%" for c, q in row))
        names.clear()
        batch.clear()

    try:
        for name, img in read_image_files(args.images):
            names.append(name)
            batch.append(model.preprocess.from_file_image(img))
            if len(batch) == args.batch_size:
                flush()
    except (ValueError, FileNotFoundError, ImportError) as e:
        raise UsageError(str(e)) from e
    if batch:
        flush()
    if not out:
        raise UsageError(f"no images among {' '.join(args.images)} (.png, .jpg, ... files, folders or .zip)")
    return out


def main(argv=None) -> int:
    """Entry point of `strided-predict`: returns 0; exits with status 2 for a user mistake (one line)."""
    from .train.cli import report_errors

    return report_errors("strided-predict", run, argv)


if __name__ == "__main__":
    sys.exit(main())
