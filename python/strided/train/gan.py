"""A short GAN training loop (generator + discriminator, two optimizers) on strided's layers, e.g. the
DCGAN pair of strided.models on the bundled MNIST sample:

    from strided import data, models
    from strided.train.gan import train_gan
    images, _ = data.load_mnist_sample()
    G, D = models.dcgan_generator(latent_dim=64), models.dcgan_discriminator()
    history = train_gan(G, D, images, steps=200, latent_dim=64)   # [(d_loss, g_loss), ...]
    fakes = sample(G, 16, latent_dim=64)                             # (16, 1, 28, 28) in [-1, 1]
"""
from __future__ import annotations

import numpy as np

from .. import losses, optim


def sample(generator, n, latent_dim, rng=None, dtype=np.float32):
    """n images from the generator for latent codes z ~ N(0, 1) of shape (n, latent_dim, 1, 1)."""
    rng = np.random.default_rng() if rng is None else rng
    generator.eval()
    try:
        return generator(rng.standard_normal((n, latent_dim, 1, 1)).astype(dtype))
    finally:
        generator.train()


def train_gan(generator, discriminator, images, steps=200, batch_size=64, latent_dim=64, lr=2e-4,
              betas=(0.5, 0.999), seed=0, log_every=0):
    """Alternating GAN updates with Adam (DCGAN's lr 2e-4, beta1 0.5) and the non-saturating generator
    loss: each step the discriminator learns real (uint8 images scaled to [-1, 1]) -> 1 and fake -> 0, then
    the generator learns to make the discriminator say 1. Returns [(d_loss, g_loss)] per step."""
    rng = np.random.default_rng(seed)
    real_all = np.asarray(images, np.float32) / 127.5 - 1 if np.asarray(images).dtype == np.uint8 \
        else np.asarray(images, np.float32)
    opt_g = optim.Adam(generator.parameters(), lr=lr, betas=betas)
    opt_d = optim.Adam(discriminator.parameters(), lr=lr, betas=betas)
    bce = losses.BCEWithLogitsLoss()
    history = []
    for step in range(steps):
        real = real_all[rng.integers(0, len(real_all), batch_size)]
        fake = generator(rng.standard_normal((batch_size, latent_dim, 1, 1)).astype(np.float32))
        ones, zeros = np.ones((batch_size, 1), np.float32), np.zeros((batch_size, 1), np.float32)
        # Discriminator: real -> 1, fake -> 0 (the fake's gradient stops here: no input gradient).
        discriminator.zero_grad()
        d_loss = bce(discriminator(real), ones)
        discriminator.backward(bce.backward(), need_input_grad=False)
        d_loss += bce(discriminator(fake), zeros)
        discriminator.backward(bce.backward(), need_input_grad=False)
        opt_d.step()
        # Generator: make the discriminator call the fake real; only the generator's parameters step (the
        # discriminator's gradients from this pass are cleared before its next update).
        generator.zero_grad()
        g_loss = bce(discriminator(fake), ones)
        generator.backward(discriminator.backward(bce.backward()), need_input_grad=False)
        opt_g.step()
        history.append((d_loss, g_loss))
        if log_every and (step + 1) % log_every == 0:
            print(f"step {step + 1}/{steps}: discriminator loss {d_loss:.4f}, generator loss {g_loss:.4f}",
                  flush=True)
    return history


__all__ = ["train_gan", "sample"]
