"""The network (src/model/network.py): the tutorial's size and shapes, and `model(x)` is the whole network."""

import torch
import torch.nn.functional as F
from torchvision import transforms

from src.model.network import PARAMETER_COUNT, TutorialCNN, count_parameters


def test_model_has_the_tutorial_size_and_output_shape():
    model = TutorialCNN()
    assert count_parameters(model) == PARAMETER_COUNT == 21_578
    assert model(torch.zeros(5, 1, 28, 28)).shape == (5, 10)
    assert model.features(torch.zeros(5, 1, 28, 28)).shape == (5, 1568)
    assert [tuple(m.shape[1:]) for m in model.maps(torch.zeros(1, 1, 28, 28))] == [
        (8, 28, 28),
        (16, 14, 14),
        (32, 7, 7),
    ]


def test_model_takes_pixels_as_the_tutorial_feeds_them(model, small_mnist):
    """On real MNIST with the shipped weights: model(uint8 pixels) and model(float [0, 1] pixels) equal the
    tutorial's pipeline written out by hand (ToTensor's scale, Normalize((0.1307,), (0.3081,)), conv, ReLU,
    pool, ...), and the logits are the last layer on model.features."""
    model = model.eval()
    pixels = small_mnist.test.images[:64].unsqueeze(1)
    x = transforms.Normalize((0.1307,), (0.3081,))(pixels.float() / 255)
    x = F.max_pool2d(F.relu(model.conv1(x)), 2)
    x = F.max_pool2d(F.relu(model.conv2(x)), 2)
    by_hand = model.fc(torch.flatten(F.relu(model.conv3(x)), 1))
    with torch.no_grad():
        torch.testing.assert_close(model(pixels), by_hand)
        torch.testing.assert_close(model(pixels.float() / 255), by_hand)
        torch.testing.assert_close(model.fc(model.features(pixels)), by_hand)
    right = (by_hand.argmax(1) == small_mnist.test.labels[:64]).float().mean().item()
    assert right > 0.95  # the shipped weights read MNIST through this very path
