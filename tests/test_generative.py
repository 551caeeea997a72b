"""The generative models (strided.models.conv_autoencoder, dcgan_generator / dcgan_discriminator), the GAN
loop of strided.train.gan and the denoising trainer strided.train.denoise."""
import numpy as np
import pytest

import strided.nn as nn
from strided import data, models
from strided.train import denoise, gan


def test_autoencoder_shapes_and_summary():
    nn.init.seed(0)
    m = models.conv_autoencoder()
    s = m.summary((1, 28, 28))
    assert s.output_shape == (1, 28, 28)
    assert [r.output_shape for r in s.rows if r.type == "ConvTranspose2d"] == [(16, 14, 14), (1, 28, 28)]
    assert s.total_params == (16 * 9 + 16) + (32 * 16 * 9 + 32) + (32 * 16 * 16 + 16) + (16 * 1 * 16 + 1)
    x = np.random.default_rng(0).random((3, 1, 28, 28)).astype(np.float32)
    y = m(x)
    assert y.shape == x.shape and y.dtype == np.float32
    assert m.backward(np.ones_like(y)).shape == x.shape


def test_dcgan_pair_shapes():
    nn.init.seed(0)
    g, d = models.dcgan_generator(latent_dim=8, width=4), models.dcgan_discriminator(width=4)
    assert g.summary((8, 1, 1)).output_shape == (1, 28, 28)
    assert d.summary((1, 28, 28)).output_shape == (1,)
    z = np.random.default_rng(0).standard_normal((5, 8, 1, 1)).astype(np.float32)
    fake = g(z)
    assert fake.shape == (5, 1, 28, 28) and np.abs(fake).max() <= 1
    assert d(fake).shape == (5, 1)
    assert models.dcgan_generator(batch_norm=False, width=4)(z[:, :1].repeat(64, 1)).shape == (5, 1, 28, 28)


def test_gan_loop_few_steps():
    nn.init.seed(1)
    g, d = models.dcgan_generator(latent_dim=8, width=4), models.dcgan_discriminator(width=4)
    images, _ = data.load_mnist_sample()
    before = [p.data.copy() for p in g.parameters()] + [p.data.copy() for p in d.parameters()]
    history = gan.train_gan(g, d, images[:256], steps=3, batch_size=8, latent_dim=8, seed=0)
    assert len(history) == 3 and np.isfinite(np.array(history)).all()
    after = list(g.parameters()) + list(d.parameters())
    assert all((a.data != b).any() for a, b in zip(after, before))  # both networks were updated
    fakes = gan.sample(g, 4, latent_dim=8, rng=np.random.default_rng(0))
    assert fakes.shape == (4, 1, 28, 28) and fakes.dtype == np.float32 and np.isfinite(fakes).all()


def test_psnr_and_noise():
    assert denoise.psnr(0.01) == pytest.approx(20.0)
    x = np.full((2, 1, 4, 4), 0.5, np.float32)
    noisy = denoise.add_noise(x, 10.0, np.random.default_rng(0))
    assert noisy.dtype == np.float32 and noisy.min() >= 0 and noisy.max() <= 1 and (noisy != 0.5).any()


def test_denoise_quick_run_beats_the_noisy_input(tmp_path, capsys):
    args = ["--epochs", "3", "--limit", "800", "--test", "200", "--batch-size", "32", "--lr", "5e-3"]
    if _has_matplotlib():
        args += ["--plot", str(tmp_path / "digits.png")]
    result = denoise.main(args)
    out = capsys.readouterr().out
    assert "held-out reconstruction MSE" in out and "noisy input" in out
    assert result["history"][-1] < result["history"][0]
    assert result["psnr"] > result["noisy_psnr"] + 0.5, result  # 14.4 dB against 13.3 dB when written
    if _has_matplotlib():
        assert (tmp_path / "digits.png").stat().st_size > 1000


def _has_matplotlib():
    try:
        import matplotlib  # noqa: F401
        return True
    except ImportError:
        return False
