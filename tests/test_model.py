"""The network (src/model.py): the tutorial's size and shapes, and the one forward pass."""


import torch

from src.model import PARAMETER_COUNT, TutorialCNN, count_parameters



def test_model_has_the_tutorial_size_and_output_shape():
    model = TutorialCNN()
    assert count_parameters(model) == PARAMETER_COUNT == 21_578
    assert model(torch.zeros(5, 1, 28, 28)).shape == (5, 10)


def test_forward_is_the_network_on_normalised_input_and_gives_its_features():
    from src.data import normalize
    from src.model import forward

    model = TutorialCNN().eval()
    images = torch.randint(0, 256, (4, 1, 28, 28), dtype=torch.uint8)
    features, logits = forward(model, images)
    assert features.shape == (4, 1568) and logits.shape == (4, 10)
    assert torch.allclose(logits, model(normalize(images)), atol=1e-5)
    assert torch.allclose(forward(model, images.float() / 255)[1], logits, atol=1e-5)  # uint8 or float [0, 1]
