"""The CPU training kernels (src/training/kernels.py): pooling and the fused first layer, against PyTorch."""

import copy
import subprocess
import sys
from collections import Counter
from pathlib import Path

import pytest
import torch
import torch.nn.functional as F

import src.settings
from src.model.network import normalize
from src.training import kernels
from src.training.kernels import MaxPool2x2

ROOT = Path(__file__).resolve().parent.parent


def conv_maps(model, images, layer, dtype):
    """A convolution's real output on MNIST digits (channels-last, as a training step has it), as a leaf that
    wants gradients. The digits' flat background gives many 2x2 windows whose four values tie."""
    x = normalize(images.unsqueeze(1)).contiguous(memory_format=torch.channels_last)
    with torch.no_grad():
        maps = model.conv1(x)
        if layer == 2:
            maps = model.conv2(torch.relu(F.max_pool2d(maps, 2)))
    return maps.to(dtype).contiguous(memory_format=torch.channels_last).requires_grad_()


def same_bits(a, b):
    """Equal values, NaN in the same places (whatever their sign) and the same signs of zeros."""
    nan = a.isnan()
    return (
        torch.equal(nan, b.isnan())
        and torch.equal(a[~nan], b[~nan])
        and torch.equal(a[~nan].signbit(), b[~nan].signbit())
    )


@pytest.fixture
def launches(monkeypatch):
    """(kernel, integer type of the bits it got) for every time the kernels ran: a test of the fast path
    that fell back to PyTorch could not fail without it."""
    kernels.warm_up()  # as app.py and a training do first; its own launches are not counted
    calls = []
    original = kernels._launch
    monkeypatch.setattr(
        kernels, "_launch", lambda kernel, *args: (calls.append((kernel, str(args[0].dtype))), original(kernel, *args))
    )
    return calls


@pytest.mark.parametrize("dtype", [torch.float32, torch.bfloat16])
@pytest.mark.parametrize("layer", [1, 2])
def test_kernels_equal_pytorchs_pooling_bit_for_bit(model, small_mnist, launches, dtype, layer):
    x = conv_maps(model, small_mnist.train.images[:128], layer, dtype)
    # Windows (reading order) that PyTorch decides by its rules: ties between zeros of both signs, either
    # first, and between equal negative numbers.
    for i, window in enumerate([(0.0, -0.0, 0.0, 0.0), (-0.0, 0.0, -0.0, 0.0), (-1.0, -1.0, -2.0, -1.0)]):
        x.data[i, :, 0:2, 0:2] = torch.tensor(window, dtype=dtype).view(1, 2, 2)
    assert (F.max_pool2d(x, 2) == x[:, :, ::2, ::2]).float().mean() > 0.2  # many windows tie or win at the top left
    grad = torch.randn(x.shape[0], x.shape[1], x.shape[2] // 2, x.shape[3] // 2).to(dtype)

    ours = MaxPool2x2().train()(x)
    (ours_grad,) = torch.autograd.grad(ours, x, grad)
    theirs = F.max_pool2d(x, 2)
    (theirs_grad,) = torch.autograd.grad(theirs, x, grad)
    with torch.inference_mode():  # evaluation and reading a drawing
        inferred = MaxPool2x2().eval()(x.detach())

    bits = {torch.float32: "int32", torch.bfloat16: "int16"}[dtype]
    assert launches == [(kernels._pool, bits), (kernels._unpool, bits), (kernels._pool, bits)]
    assert ours.dtype == dtype and ours.is_contiguous(memory_format=torch.channels_last)
    assert ours_grad.is_contiguous(memory_format=torch.channels_last)
    assert same_bits(ours, theirs) and same_bits(inferred, theirs) and same_bits(ours_grad, theirs_grad)
    assert not ours[0, :, 0, 0].signbit().any() and ours[1, :, 0, 0].signbit().all()  # +0 first, -0 first


def test_the_pooled_maps_can_be_changed_in_place_as_pytorchs_can(model, small_mnist):
    x = conv_maps(model, small_mnist.train.images[:4], 1, torch.float32)
    MaxPool2x2().train()(x).relu_().sum().backward()
    assert torch.equal(x.grad, torch.autograd.grad(F.max_pool2d(x, 2).relu_().sum(), x)[0])


def test_maps_the_kernels_cannot_pool_go_to_pytorch(model, small_mnist, launches):
    """Maps in NCHW memory, or of odd size: PyTorch's kernels."""
    x = conv_maps(model, small_mnist.train.images[:8], 1, torch.float32)
    MaxPool2x2().train()(x.detach().contiguous())  # NCHW memory
    MaxPool2x2().train()(x[:, :, :27, :27].contiguous(memory_format=torch.channels_last))  # odd size
    assert launches == []


def test_an_installed_model_is_the_same_network_in_outputs_and_gradients(model, small_mnist, launches):
    """install() changes how the network is computed, not what: on real MNIST with the shipped weights, the
    logits and every parameter's gradient equal the plain TutorialCNN's (to rounding: the fused first layer
    sums in another order), and the kernels did run."""
    plain, fast = copy.deepcopy(model).train(), kernels.install(copy.deepcopy(model).train())
    for m in (plain, fast):
        m.to(memory_format=torch.channels_last)  # as train_epochs has it
    images, labels = small_mnist.train.images[:256].unsqueeze(1), small_mnist.train.labels[:256]
    a, b = fast(images), plain(images)
    torch.testing.assert_close(a, b)
    F.cross_entropy(a, labels).backward()
    F.cross_entropy(b, labels).backward()
    for (name, p), q in zip(fast.named_parameters(), plain.parameters()):
        assert torch.allclose(p.grad, q.grad, atol=1e-6), name
    assert any(p.grad.abs().sum() > 0 for p in fast.parameters())
    assert {kernel for kernel, _ in launches} == {
        kernels._conv_pool_relu,
        kernels._conv_pool_relu_grad,
        kernels._pool,
        kernels._unpool,
    }
    assert fast.state_dict().keys() == plain.state_dict().keys()  # its checkpoint is a plain TutorialCNN's


@pytest.mark.parametrize("precision", ["fp32", "bf16"])
def test_training_and_its_evaluation_take_the_kernels(small_mnist, launches, precision, monkeypatch):
    """In the precision a recipe asks for: bf16 maps (FAST on a CPU with native bf16) reach the kernels too."""
    from src.model.network import TutorialCNN
    from src.training.loop import train_epochs
    from src.training.recipes import Recipe

    recipe = Recipe(epochs=1, batch_size=1000, augment=False, precision=precision, teachers=0)
    steps = -(-len(small_mnist.train) // recipe.batch_size)
    evaluations = -(-len(small_mnist.val) // 256)  # loss_and_accuracy's batches, in fp32
    monkeypatch.setattr(src.settings, "CPU_KERNELS", False)
    list(train_epochs(TutorialCNN(), small_mnist, recipe))
    assert launches == []  # the switch: off, a training never runs them
    monkeypatch.setattr(src.settings, "CPU_KERNELS", True)
    trained = TutorialCNN()
    list(train_epochs(trained, small_mnist, recipe))
    assert type(trained.pool) is torch.nn.MaxPool2d and "features" not in vars(trained)  # plain again afterwards
    bits = {"fp32": "int32", "bf16": "int16"}[precision]
    # A step: the fused first layer (always fp32) forward and backward, and the second pool forward and backward.
    expected = Counter(
        {
            (kernels._conv_pool_relu, "float32"): steps,
            (kernels._conv_pool_relu_grad, "float32"): steps,
            (kernels._pool, bits): steps,
            (kernels._unpool, bits): steps,
        }
    )
    expected[(kernels._conv_pool_relu, "float32")] += evaluations
    expected[(kernels._pool, "int32")] += evaluations
    assert Counter(launches) == expected


def test_warm_up_compiles_both_kernels_for_both_precisions_and_the_fused_first_layer():
    kernels.warm_up()
    for kernel in (kernels._pool, kernels._unpool):
        assert {str(signature[0].dtype) for signature in kernel.signatures} >= {"int16", "int32"}
    assert kernels._conv_pool_relu.signatures and kernels._conv_pool_relu_grad.signatures


@pytest.mark.parametrize("mode", ["train", "inference"])
def test_the_fused_first_layer_is_conv_pool_relu_in_outputs_and_gradients(model, small_mnist, launches, mode):
    """kernels.first_layer on real MNIST digits with the shipped weights, against PyTorch's convolution,
    pooling and ReLU. The sums run in another order, so values agree to rounding, not bit for bit; the winner
    of a tied window (the flat background) is the first in reading order, as in PyTorch. A window whose two
    largest values differ by rounding only (not a flat one) may go either way: its gradient is left out."""
    fast = kernels.install(copy.deepcopy(model).train())
    conv = fast.conv1
    x = normalize(small_mnist.train.images[:256].unsqueeze(1))
    convolved = F.conv2d(x, conv.weight, conv.bias, padding=1)
    theirs = torch.relu(F.max_pool2d(convolved, 2))
    windows = convolved.detach().unfold(2, 2, 2).unfold(3, 2, 2).reshape(*theirs.shape, 4)
    top = windows.topk(2, dim=-1).values
    rounding_tie = (top[..., 0] - top[..., 1] < 1e-5) & ~(windows == windows[..., :1]).all(-1)
    grad = torch.randn_like(theirs).masked_fill(rounding_tie, 0)
    expected = torch.autograd.grad(theirs, (conv.weight, conv.bias), grad)
    if mode == "train":
        ours = kernels.first_layer(fast, x)
        got = torch.autograd.grad(ours, (conv.weight, conv.bias), grad)
        for g, e in zip(got, expected):
            torch.testing.assert_close(g, e, rtol=1e-4, atol=1e-4 * e.abs().max().item())
        assert launches == [(kernels._conv_pool_relu, "float32"), (kernels._conv_pool_relu_grad, "float32")]
    else:
        with torch.inference_mode():
            ours = kernels.first_layer(fast.eval(), x)
        assert launches == [(kernels._conv_pool_relu, "float32")]
    assert ours.is_contiguous(memory_format=torch.channels_last) and (ours == 0).float().mean() > 0.2
    torch.testing.assert_close(ours, theirs, rtol=1e-5, atol=1e-5)


def test_the_fused_first_layer_steps_aside_where_it_does_not_fit(model, small_mnist, launches):
    """An input that wants gradients (saliency), one of odd size, or eval mode without inference_mode: PyTorch."""
    fast = kernels.install(copy.deepcopy(model).train())
    x = normalize(small_mnist.train.images[:8].unsqueeze(1))
    kernels.first_layer(fast, x.clone().requires_grad_())
    kernels.first_layer(fast, x[:, :, :27, :27])
    with torch.no_grad():
        kernels.first_layer(fast.eval(), x)
    assert all(kernel not in (kernels._conv_pool_relu, kernels._conv_pool_relu_grad) for kernel, _ in launches)


@pytest.mark.slow
def test_warm_up_compiles_what_a_training_needs_and_nothing_more_is_compiled():
    """In a fresh process: nothing is compiled before install(); after it, neither a training step (fp32, bf16)
    nor an evaluation compiles anything more."""
    code = """
import torch
from src.training import kernels
from src.model.network import TutorialCNN
from src.training.loop import loss_and_accuracy, train_step
from src.training.recipes import Recipe
from src.data.mnist import Split

def compiled():
    every = (kernels._pool, kernels._unpool, kernels._conv_pool_relu, kernels._conv_pool_relu_grad)
    return [len(k.signatures) for k in every]

print(compiled())
model = kernels.install(TutorialCNN().to(memory_format=torch.channels_last))
after = compiled()
x = torch.rand(4, 1, 28, 28)
for precision in ("fp32", "bf16"):
    model.train()
    optimizer = torch.optim.SGD(model.parameters(), lr=0.1)
    train_step(model, optimizer, x, torch.zeros(4, dtype=torch.long), Recipe(precision=precision, teachers=0))
loss_and_accuracy(model, Split(torch.zeros(8, 28, 28, dtype=torch.uint8), torch.zeros(8, dtype=torch.long)))
print(compiled() == after, after)
"""
    result = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr[-2000:]
    assert result.stdout.splitlines() == ["[0, 0, 0, 0]", "True [2, 2, 1, 1]"]
