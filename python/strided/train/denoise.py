"""`python -m strided.train.denoise`: trains strided.models.conv_autoencoder as a denoiser on the bundled
MNIST sample (MSE between the reconstruction of a noisy digit and the clean one), then prints the held-out
reconstruction error and PSNR against the noisy input's PSNR; `--plot FILE` draws noisy / reconstructed /
clean digits side by side (needs matplotlib)."""
from __future__ import annotations

import argparse
import sys

import numpy as np

import strided
from .. import data, losses, models, nn, optim


def build_parser():
    p = argparse.ArgumentParser(prog="python -m strided.train.denoise", description=__doc__.split("\n\n")[0])
    p.add_argument("--epochs", type=int, default=5)
    p.add_argument("--batch-size", type=int, default=32)
    p.add_argument("--lr", type=float, default=3e-3, help="Adam's learning rate")
    p.add_argument("--sigma", type=float, default=0.3, help="std of the gaussian noise on [0, 1] pixels")
    p.add_argument("--width", type=int, default=16, help="channels of the autoencoder's first layer")
    p.add_argument("--test", type=int, default=1000, help="held-out images (never trained on)")
    p.add_argument("--limit", type=int, default=None, help="train on the first N of the other images")
    p.add_argument("--threads", type=int, default=None, help="threads of the CPU kernels")
    p.add_argument("--plot", metavar="FILE", default=None, help="draw noisy / reconstructed / clean digits")
    p.add_argument("--seed", type=int, default=0)
    return p


def add_noise(x, sigma, rng):
    """x plus gaussian noise of std sigma, clipped to the pixel range [0, 1]."""
    return np.clip(x + sigma * rng.standard_normal(x.shape).astype(x.dtype), 0.0, 1.0)


def psnr(mse):
    """Peak signal-to-noise ratio in dB of a mean squared error on [0, 1] pixels."""
    return float(10 * np.log10(1.0 / mse))


def reconstruct(model, x, batch_size=256):
    model.eval()
    try:
        return np.concatenate([model(x[i:i + batch_size]) for i in range(0, len(x), batch_size)]) if len(x) else x
    finally:
        model.train()


def _check_plotting(path):
    if path is None:
        return
    try:
        import matplotlib  # noqa: F401
    except ImportError:
        sys.exit(f"--plot {path}: matplotlib is not installed (pip install matplotlib, or the strided[plot] "
                 "extra)")


def plot_digits(path, noisy, recon, clean, n=8):
    """Three rows of n digits: noisy input, reconstruction, clean original."""
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    n = min(n, len(clean))
    fig, axes = plt.subplots(3, n, figsize=(1.2 * n, 4), squeeze=False)
    for row, (title, imgs) in enumerate((("noisy", noisy), ("reconstructed", recon), ("clean", clean))):
        for i in range(n):
            ax = axes[row][i]
            ax.imshow(imgs[i, 0], cmap="gray", vmin=0, vmax=1)
            ax.set_xticks([]), ax.set_yticks([])
        axes[row][0].set_ylabel(title)
    fig.tight_layout()
    fig.savefig(path)
    plt.close(fig)


def run(args):
    """Train and evaluate as the command line says; returns {'mse', 'psnr', 'noisy_mse', 'noisy_psnr',
    'history'} (history: the training loss of each epoch)."""
    _check_plotting(args.plot)
    if args.threads is not None:
        strided.set_num_threads(args.threads)
    images, labels = data.load_mnist_sample()
    (x_train, _), _, (x_test, _) = data.train_val_test_split(images, labels, val=0, test=args.test, seed=args.seed)
    x_train = x_train[:args.limit].astype(np.float32) / 255
    x_test = x_test.astype(np.float32) / 255
    noisy_test = add_noise(x_test, args.sigma, np.random.default_rng([args.seed, 2**31]))  # fixed held-out noise
    nn.init.seed(args.seed)
    model = models.conv_autoencoder(width=args.width)
    opt = optim.Adam(model.parameters(), lr=args.lr)
    loss = losses.MSELoss()
    history = []
    for epoch in range(args.epochs):
        rng = np.random.default_rng([args.seed, epoch])  # fresh noise and order every epoch, reproducibly
        order = rng.permutation(len(x_train))
        total = 0.0
        for i in range(0, len(order), args.batch_size):
            clean = x_train[order[i:i + args.batch_size]]
            model.zero_grad()
            total += loss(model(add_noise(clean, args.sigma, rng)), clean) * len(clean)
            model.backward(loss.backward(), need_input_grad=False)
            opt.step()
        history.append(total / max(len(order), 1))
        print(f"epoch {epoch + 1}/{args.epochs}: train MSE {history[-1]:.5f}", flush=True)
    recon = np.clip(reconstruct(model, noisy_test), 0.0, 1.0)  # the model's output is linear
    mse = float(np.mean((recon - x_test) ** 2, dtype=np.float64))
    noisy_mse = float(np.mean((noisy_test - x_test) ** 2, dtype=np.float64))
    print(f"held-out reconstruction MSE {mse:.5f}, PSNR {psnr(mse):.2f} dB "
          f"(noisy input: MSE {noisy_mse:.5f}, PSNR {psnr(noisy_mse):.2f} dB; {len(x_test)} images, "
          f"sigma {args.sigma:g})")
    if args.plot:
        plot_digits(args.plot, noisy_test, recon, x_test)
        print(f"wrote {args.plot}")
    return dict(mse=mse, psnr=psnr(mse), noisy_mse=noisy_mse, noisy_psnr=psnr(noisy_mse), history=history)


def main(argv=None):
    return run(build_parser().parse_args(argv))


if __name__ == "__main__":
    main()
