"""The network (src/model/network.py): the tutorial's size and shapes, and the one forward pass."""


import copy

import torch
import torch.nn.functional as F

from bench.train_speed import TutorialOrderCNN
from src.data.mnist import normalize
from src.model.network import PARAMETER_COUNT, TutorialCNN, count_parameters



def test_model_has_the_tutorial_size_and_output_shape():
    model = TutorialCNN()
    assert count_parameters(model) == PARAMETER_COUNT == 21_578
    assert model(torch.zeros(5, 1, 28, 28)).shape == (5, 10)


def test_forward_is_the_network_on_normalised_input_and_gives_its_features():
    from src.model.network import forward

    model = TutorialCNN().eval()
    images = torch.randint(0, 256, (4, 1, 28, 28), dtype=torch.uint8)
    features, logits = forward(model, images)
    assert features.shape == (4, 1568) and logits.shape == (4, 10)
    assert torch.allclose(logits, model(normalize(images)), atol=1e-5)
    assert torch.allclose(forward(model, images.float() / 255)[1], logits, atol=1e-5)  # uint8 or float [0, 1]


def test_pooling_before_the_relu_is_the_tutorials_network_in_outputs_and_gradients(model, small_mnist):
    """TutorialCNN.run pools first and applies the ReLU afterwards; on real MNIST with the shipped weights
    the logits and every parameter's gradient equal those of the tutorial's order with PyTorch's own pooling
    (bench/train_speed.py's TutorialOrderCNN, the baseline the speed benches time)."""
    from src.model.network import forward

    ours, theirs = copy.deepcopy(model).train(), TutorialOrderCNN().train()
    theirs.load_state_dict(model.state_dict())
    for m in (ours, theirs):
        m.to(memory_format=torch.channels_last)  # as src.training.loop.train_epochs has it
    images, labels = small_mnist.train.images[:256].unsqueeze(1), small_mnist.train.labels[:256]
    a, b = forward(ours, images)[1], forward(theirs, images)[1]  # channels-last: src/training/kernels.py's kernels
    torch.testing.assert_close(a, b)  # to rounding: the fused first layer sums in another order
    F.cross_entropy(a, labels).backward()
    F.cross_entropy(b, labels).backward()
    for (name, p), q in zip(ours.named_parameters(), theirs.parameters()):
        assert torch.allclose(p.grad, q.grad, atol=1e-6), name
    assert any(p.grad.abs().sum() > 0 for p in ours.parameters())
