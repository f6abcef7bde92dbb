"""The network's max-pooling (src/pooling.py): its kernels against PyTorch's F.max_pool2d."""

import pytest
import torch
import torch.nn.functional as F

from src import pooling
from src.data import normalize
from src.pooling import MaxPool2x2


def conv_maps(model, images, layer, dtype):
    """A convolution's real output on MNIST digits (channels-last, as a training step has it), as a leaf that
    wants gradients. The digits' flat background gives many 2x2 windows whose four values tie."""
    x = normalize(images.unsqueeze(1)).contiguous(memory_format=torch.channels_last)
    with torch.no_grad():
        maps = model.conv1(x)
        if layer == 2:
            maps = model.conv2(torch.relu(F.max_pool2d(maps, 2)))
    return maps.to(dtype).contiguous(memory_format=torch.channels_last).requires_grad_()


@pytest.fixture
def launches(monkeypatch):
    """How many times the kernels ran (a test of the fast path that fell back to PyTorch could not fail)."""
    calls = []
    original = pooling._launch
    monkeypatch.setattr(pooling, "_launch", lambda kernel, *args: (calls.append(kernel), original(kernel, *args)))
    return calls


@pytest.mark.parametrize("dtype", [torch.float32, torch.bfloat16])
@pytest.mark.parametrize("layer", [1, 2])
def test_training_kernels_equal_pytorchs_pooling_bit_for_bit(model, small_mnist, launches, dtype, layer):
    x = conv_maps(model, small_mnist.train.images[:128], layer, dtype)
    x.data[:4, :, :2, :2] = 0.0  # ties between -0 and +0
    x.data[:4, :, 0, 1] = -0.0
    assert (F.max_pool2d(x, 2) == x[:, :, ::2, ::2]).float().mean() > 0.2  # many windows tie or win at the top left
    grad = torch.randn(x.shape[0], x.shape[1], x.shape[2] // 2, x.shape[3] // 2).to(dtype)

    ours = MaxPool2x2().train()(x)
    (ours_grad,) = torch.autograd.grad(ours, x, grad)
    theirs = F.max_pool2d(x, 2)
    (theirs_grad,) = torch.autograd.grad(theirs, x, grad)

    with torch.inference_mode():  # evaluation and reading a drawing
        inferred = MaxPool2x2().eval()(x.detach())

    assert launches == [pooling._pool, pooling._unpool, pooling._pool]
    assert ours.dtype == dtype and ours.is_contiguous(memory_format=torch.channels_last)
    assert torch.equal(ours, theirs) and torch.equal(ours.signbit(), theirs.signbit())
    assert torch.equal(ours_grad, theirs_grad)
    assert torch.equal(inferred, theirs) and torch.equal(inferred.signbit(), theirs.signbit())


def test_saliency_the_export_and_other_memory_layouts_use_pytorchs_pooling(model, small_mnist, launches):
    """Saliency (eval mode with gradients) and the ONNX export (which traces the module) never need numba."""
    x = conv_maps(model, small_mnist.train.images[:8], 1, torch.float32)
    MaxPool2x2().eval()(x)  # eval mode, gradients wanted: saliency
    with torch.no_grad():
        MaxPool2x2().eval()(x)
    MaxPool2x2().train()(x.detach().contiguous())  # NCHW memory
    MaxPool2x2().train()(x[:, :, :27, :27].contiguous(memory_format=torch.channels_last))  # odd size
    assert launches == []


def test_training_and_its_evaluation_take_the_fast_path(small_mnist, launches):
    from src.training import TrainConfig, train_epochs
    from src.model import TutorialCNN

    config = TrainConfig(epochs=1, batch_size=1000, augment=False)
    steps = -(-len(small_mnist.train) // config.batch_size)
    evaluations = -(-len(small_mnist.val) // 256)  # src.training.evaluate's batches
    list(train_epochs(TutorialCNN(), small_mnist, config))
    assert launches.count(pooling._unpool) == 2 * steps  # two pools a step
    assert launches.count(pooling._pool) == 2 * steps + 2 * evaluations
