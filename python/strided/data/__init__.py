"""strided.data: local datasets (the bundled MNIST sample, MNIST IDX, CIFAR-10 batches, the malaria-cell
homework folder/zip), seeded splits, a batch iterator, normalization and augmentation transforms.

    from strided import data
    x, y = data.load_mnist_sample()                         # uint8 (5000, 1, 28, 28), int64 labels
    train, val, test = data.train_val_test_split(x, y, val=500, test=1000, seed=0)
    mean, std = data.channel_stats(train[0])                # training statistics only
    tf = data.Compose([data.ToFloat(), data.RandomAffine(10, (0.1, 0.1)), data.Normalize(mean, std)])
    for xb, yb in data.DataLoader(*train, batch_size=64, shuffle=True, seed=0, transform=tf): ...
"""
from ._safe import UnsafePickleError
from .datasets import MNIST_SAMPLE_PATH, load_cifar10, load_dataset, load_mnist, load_mnist_sample, read_idx, write_idx
from .images import decode_image, load_images, load_malaria, resize_image
from .loader import DataLoader, train_val_test_split
from .transforms import (ColorJitter, Compose, GaussianNoise, Normalize, RandomAffine, RandomCrop,
                         RandomHorizontalFlip, RandomRotation, RandomVerticalFlip, ToFloat, channel_stats)

__all__ = ["load_mnist_sample", "load_mnist", "load_cifar10", "load_malaria", "load_images", "load_dataset",
           "read_idx", "write_idx", "decode_image", "resize_image", "MNIST_SAMPLE_PATH", "UnsafePickleError", "DataLoader",
           "train_val_test_split", "Compose", "ToFloat", "Normalize", "channel_stats", "RandomHorizontalFlip",
           "RandomVerticalFlip", "RandomCrop", "RandomAffine", "RandomRotation", "GaussianNoise", "ColorJitter"]
