"""pytest-benchmark of one training step (zero_grad, forward, cross-entropy, backward, Adam update):

* LeNet-5 (strided.models.lenet5(input_size=32)) at batch 64 on 1x32x32,
* the course's second brain model (strided.models.brain_second) at batch 32 on 1x128x128,
* ResNet-18 with the CIFAR stem (small=True) at batch 32 on 3x32x32 and with the ImageNet stem at batch 16
  on 3x112x112, VGG-11 with batch norm at batch 32 on 3x32x32,

for strided and, when torch is importable, the same architectures in PyTorch CPU (same weights, same
thread count: strided.get_num_threads(), set it with OMP_NUM_THREADS).

    OMP_NUM_THREADS=2 pytest benchmarks/test_train_step.py --benchmark-columns=median,ops
"""
import numpy as np
import pytest

import strided
from strided import losses, models, nn, optim

try:
    import torch
except ImportError:  # the PyTorch rows skip
    torch = None

CASES = {"lenet5_b64_32x32": (lambda: models.lenet5(input_size=32), 64, (1, 32, 32), 10),
         "brain_second_b32_128x128": (lambda: models.brain_second(), 32, (1, 128, 128), 2),
         "resnet18_cifar_b32_32x32": (lambda: models.resnet18(num_classes=10, small=True), 32, (3, 32, 32), 10),
         "resnet18_b16_112x112": (lambda: models.resnet18(num_classes=10), 16, (3, 112, 112), 10),
         "vgg11_bn_b32_32x32": (lambda: models.vgg11(num_classes=10, batch_norm=True, input_size=32), 32,
                                (3, 32, 32), 10)}


def _batch(shape, n, classes):
    rng = np.random.default_rng(0)
    return rng.standard_normal((n,) + shape).astype(np.float32), rng.integers(0, classes, n)


@pytest.mark.parametrize("impl", ["strided", "torch"])
@pytest.mark.parametrize("case", list(CASES))
def test_train_step(benchmark, case, impl):
    build, n, shape, classes = CASES[case]
    nn.init.seed(0)
    model = build()
    x, y = _batch(shape, n, classes)
    threads = strided.get_num_threads()
    benchmark.extra_info.update(threads=threads, batch=n, input=shape)
    if impl == "strided":
        opt = optim.Adam(model.parameters(), lr=1e-3)
        loss = losses.CrossEntropyLoss()

        def step():
            opt.zero_grad()
            loss(model(x), y)
            model.backward(loss.backward(), need_input_grad=False)
            opt.step()
    else:
        if torch is None:
            pytest.skip("PyTorch is not importable")
        torch.set_num_threads(threads)
        tm = nn.to_torch(model)
        topt = torch.optim.Adam(tm.parameters(), lr=1e-3)
        tx, ty = torch.from_numpy(x), torch.from_numpy(y)

        def step():
            topt.zero_grad()
            torch.nn.functional.cross_entropy(tm(tx), ty).backward()
            topt.step()

    for _ in range(2):  # warm-up (allocations, SIMD dispatch, torch's lazy init)
        step()
    benchmark.pedantic(step, rounds=15, iterations=1, warmup_rounds=1)
