"""Inside the network (src/reading/inside.py): feature maps, filters and the summary, against the model itself."""

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from src.data.digits import render_digit
from src.data.preprocess import preprocess
from src.model.network import PARAMETER_COUNT, normalize
from src.reading import inside


@pytest.fixture(scope="module")
def drawings():
    rng = np.random.default_rng(13)
    return [preprocess(render_digit(d, rng, 320)) for d in (1, 7)]


def hooked(model, image):
    """The conv layers' outputs, recorded by forward hooks while the plain nn.Module runs (model(x)), ReLU'd."""
    seen = {}
    hooks = [
        getattr(model, n).register_forward_hook(lambda _, __, out, n=n: seen.__setitem__(n, torch.relu(out[0])))
        for n in inside.CONVOLUTIONS
    ]
    with torch.no_grad():
        model(torch.from_numpy(image).reshape(1, 1, 28, 28))  # pixels: the model normalises
    for h in hooks:
        h.remove()
    return seen


def test_the_maps_are_what_each_convolution_outputs(model, drawings):
    for image in drawings:
        maps = inside.feature_maps(model, image)
        assert {n: m.shape for n, m in maps.items()} == {
            "conv1": (8, 28, 28),
            "conv2": (16, 14, 14),
            "conv3": (32, 7, 7),
        }
        for name, expected in hooked(model, image).items():
            assert np.abs(maps[name] - expected.numpy()).max() <= 1e-6, name
        # ... and the first one by hand, from the weights.
        by_hand = (
            torch.relu(
                F.conv2d(
                    normalize(torch.from_numpy(image).reshape(1, 1, 28, 28)),
                    model.conv1.weight,
                    model.conv1.bias,
                    padding=1,
                )
            )[0]
            .detach()
            .numpy()
        )
        assert np.abs(maps["conv1"] - by_hand).max() <= 1e-5


def test_a_1_and_a_7_give_different_maps(model, drawings):
    one, seven = (inside.feature_maps(model, image) for image in drawings)
    for name in inside.CONVOLUTIONS:
        assert np.abs(one[name] - seven[name]).max() > 0.1


def test_the_pictures_and_the_summary(model, drawings):
    pictures = inside.maps_image(inside.feature_maps(model, drawings[0]))
    assert pictures["conv1"].shape == (84, 8 * 86 - 2) and pictures["conv3"].shape == (4 * 44 - 2, 8 * 44 - 2)
    assert inside.filters_image(model).shape == (2 * 96 - 6, 4 * 96 - 6, 3)
    table = inside.summary()
    assert table["parameters"].iloc[-1] == PARAMETER_COUNT == table["parameters"].iloc[:-1].sum() == 21_578
    assert table["output shape"].tolist()[1:8] == ["8×28×28", "8×14×14", "16×14×14", "16×7×7", "32×7×7", "1568", "10"]
    assert table["layer"].tolist()[1:8] == [
        "conv1",
        "relu + pool",
        "conv2",
        "relu + pool",
        "conv3",
        "relu + flatten",
        "fc",
    ]
