"""Training (src/training/): recipes, augmentation, the epoch loop, Stop, teachers, and the CUDA path."""

import threading
from dataclasses import replace

import pytest
import torch

from src.data.mnist import Split, load_mnist
from src.model.network import TutorialCNN
from src.training.augment import augment
from src.training.loop import loss_and_accuracy, train_epochs
from src.training.recipes import FAST, Recipe, seeded_model

RECORD_KEYS = {"epoch", "train_loss", "val_loss", "val_acc", "seconds"}


def test_augment_keeps_shape_and_range_and_changes_images(small_mnist):
    x = small_mnist.train.images[:64].unsqueeze(1).float() / 255
    y = augment(x, torch.Generator().manual_seed(0))
    assert y.shape == x.shape and y.min() >= 0 and y.max() <= 1
    assert (y - x).abs().mean() > 0.01
    # the digit survives: no image loses most of its ink or gains a blob, and on average ink is kept
    ratio = y.sum((1, 2, 3)) / x.sum((1, 2, 3))
    assert ratio.min() > 0.3 and ratio.max() < 2.5 and 0.8 < ratio.mean() < 1.25


def test_short_training_run_lowers_the_loss(small_mnist):
    records = list(train_epochs(TutorialCNN(), small_mnist, Recipe(epochs=3, batch_size=64, teachers=0)))
    assert [r["epoch"] for r in records] == [1, 2, 3]
    assert all(RECORD_KEYS <= set(r) for r in records)
    assert records[-1]["train_loss"] < records[0]["train_loss"]
    assert records[-1]["val_loss"] < records[0]["val_loss"]
    assert records[-1]["val_acc"] > 85


def test_stop_event_halts_between_batches_and_keeps_the_last_completed_epoch(small_mnist):
    stop, batches_seen, snapshots = threading.Event(), [], []

    def progress(iterable, **_):
        for item in iterable:
            batches_seen.append(1)
            if len(batches_seen) == 70:  # epoch 2 (63 batches per epoch at 4,000 / 64)
                stop.set()
            yield item

    model = TutorialCNN()
    recipe = Recipe(epochs=5, batch_size=64, teachers=0)
    for record in train_epochs(model, small_mnist, recipe, stop=stop, progress=progress):
        snapshots.append({k: v.clone() for k, v in model.state_dict().items()})
    assert len(snapshots) == 1
    assert len(batches_seen) == 70
    assert all(torch.equal(v, snapshots[0][k]) for k, v in model.state_dict().items())


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA GPU (run on a GPU machine)")
def test_training_runs_on_cuda_with_data_resident_on_the_gpu(data_dir):
    data = load_mnist(data_dir, device="cuda", limit=8000)
    assert data.train.images.is_cuda
    model = TutorialCNN()
    records = list(train_epochs(model, data, Recipe(epochs=3, teachers=0)))
    assert next(model.parameters()).is_cuda
    assert records[-1]["val_acc"] > 90 and records[-1]["train_loss"] < records[0]["train_loss"]


@pytest.mark.slow
def test_the_train_tab_s_fast_recipe_reaches_99_percent_on_mnist_test(data_dir):
    """FAST, the Train tab's default, on all of MNIST with the synthetic drawings mixed in, as the
    app trains it. How fast it gets there is bench/time_to_accuracy.py's job, not this test's."""
    from src.data.pools import cached_training_pools
    from src.training.augment import Pools
    from src.training.hardware import threads_for_training

    data = load_mnist(data_dir)
    model = seeded_model(FAST.seed)
    with threads_for_training():
        records = list(train_epochs(model, data, FAST, Pools.from_numpy(*cached_training_pools(data_dir))))
    _, test_acc = loss_and_accuracy(model, data.test)
    print(f"FAST: {len(records)} epochs, {sum(r['seconds'] for r in records):.1f} s, test {test_acc:.2f}%")
    assert len(records) == FAST.epochs and test_acc >= 99.0


def test_a_training_takes_the_threads_training_threads_sets(monkeypatch):
    import os

    from src import settings
    from src.training.hardware import threads_for_training, training_threads

    monkeypatch.setattr(settings, "TRAINING_THREADS", 0)
    assert training_threads() == max(1, min(os.cpu_count(), 4))
    monkeypatch.setattr(settings, "TRAINING_THREADS", 3)
    before = torch.get_num_threads()
    with threads_for_training():
        assert torch.get_num_threads() == 3
    assert torch.get_num_threads() == before


def test_compute_dtype_follows_the_precision_asked_for(monkeypatch):
    from src.training import hardware
    from src.training.hardware import compute_dtype

    assert compute_dtype("fp32", "cpu") == torch.float32 and compute_dtype("bf16", "cpu") == torch.bfloat16
    assert compute_dtype("auto", "cuda") == torch.float32  # not measured on a GPU: fp32 there
    with pytest.raises(ValueError, match="precision must be"):
        compute_dtype("fp16", "cpu")
    for native, expected in ((True, "bf16"), (False, "fp32")):
        monkeypatch.setattr(hardware, "native_bf16", lambda native=native: native)
        assert Recipe(precision="auto").resolved("cpu").precision == expected
        assert Recipe(precision="fp32").resolved("cpu").precision == "fp32"


@pytest.mark.parametrize("precision, dtype", [("bf16", torch.bfloat16), ("fp32", torch.float32)])
def test_training_computes_in_the_precision_asked_for_with_fp32_weights(small_mnist, precision, dtype):
    """The convolutions of a training step compute in the recipe's precision; the weights and the optimizer
    stay fp32; a short run learns real MNIST either way."""
    model = TutorialCNN()
    seen = set()
    model.conv2.register_forward_hook(lambda _, __, out: seen.add(out.dtype) if torch.is_grad_enabled() else None)
    recipe = Recipe(epochs=2, batch_size=64, precision=precision, teachers=0)
    records = list(train_epochs(model, small_mnist, recipe))
    assert seen == {dtype}
    assert all(p.dtype == torch.float32 for p in model.parameters())
    assert records[-1]["val_acc"] > 90


def test_a_recipe_at_another_batch_size_keeps_the_share_of_synthetic_drawings():
    assert (FAST.batch_size, FAST.drawn_per_batch, FAST.outliers_per_batch) == (384, 24, 48)
    small = FAST.at_batch_size(64)
    assert (small.batch_size, small.drawn_per_batch, small.outliers_per_batch) == (64, 4, 8)
    assert small.lr == FAST.lr and small.epochs == FAST.epochs
    assert Recipe(drawn_per_batch=0).at_batch_size(512).drawn_per_batch == 0
    assert FAST.at_batch_size(1).drawn_per_batch == 1


def rotated_teacher(checkpoint, shift: int) -> TutorialCNN:
    """The shipped model with its output rows rotated: it answers d + shift for a digit d; frozen, in eval mode."""
    from src.model.checkpoint import load_checkpoint

    teacher, _ = load_checkpoint(checkpoint)
    rotate = (torch.arange(10) - shift) % 10  # logit d + shift := the shipped model's logit d
    with torch.no_grad():
        teacher.fc.weight.copy_(teacher.fc.weight[rotate])
        teacher.fc.bias.copy_(teacher.fc.bias[rotate])
    return teacher.to(memory_format=torch.channels_last).requires_grad_(False)


def test_a_network_with_a_teacher_learns_the_teacher_s_answers(small_mnist, default_checkpoint):
    """Distillation reaches the network: a teacher that answers d + 1 for every digit d (the shipped model with its
    output rows rotated), at distill_weight 1, teaches that answer against the labels."""
    teacher = rotated_teacher(default_checkpoint, 1)
    shifted = replace(small_mnist, val=Split(small_mnist.val.images, (small_mnist.val.labels + 1) % 10))
    assert loss_and_accuracy(teacher, shifted.val)[1] > 97

    recipe = Recipe(epochs=2, batch_size=64, teachers=1, distill_weight=1.0)
    taught = seeded_model(0)
    list(train_epochs(taught, small_mnist, recipe, teachers=[teacher]))
    assert loss_and_accuracy(taught, shifted.val)[1] > 85  # it answers as the teacher does, not as the labels say
    assert loss_and_accuracy(taught, small_mnist.val)[1] < 10


@pytest.mark.parametrize("precision, tolerance", [("fp32", 1e-5), ("bf16", 1e-3)])
def test_a_step_with_teachers_follows_the_documented_loss(small_mnist, default_checkpoint, precision, tolerance):
    """train_step's update equals the gradient of (1 - w) * CE + w * T^2 * KL(mean of the teachers' softmax(z / T) ||
    softmax(z / T)), computed here from the formula, with two teachers that answer differently."""
    import copy

    import torch.nn.functional as F

    from src.training.loop import train_step

    recipe = Recipe(teachers=2, distill_weight=0.5, distill_temperature=2.0, precision=precision)
    teachers = [rotated_teacher(default_checkpoint, shift) for shift in (0, 1)]  # they answer d and d + 1
    x = small_mnist.train.images[:64].unsqueeze(1).float().div(255)
    labels = small_mnist.train.labels[:64]
    model = seeded_model(0).to(memory_format=torch.channels_last)
    expected = copy.deepcopy(model)
    before = [p.detach().clone() for p in model.parameters()]
    train_step(model, torch.optim.SGD(model.parameters(), lr=1.0), x, labels, recipe, teachers)

    t, dtype = recipe.distill_temperature, {"fp32": torch.float32, "bf16": torch.bfloat16}[precision]
    with torch.autocast("cpu", dtype=dtype, enabled=dtype != torch.float32):
        logits = expected(x).float()
        with torch.inference_mode():  # as train_step asks the teachers
            answers = [m(x).float() for m in teachers]
    answers = [a.clone() for a in answers]  # usable outside inference_mode
    target = torch.stack([F.softmax(a / t, dim=1) for a in answers]).mean(0)
    distill = (target * (target.log() - F.log_softmax(logits / t, dim=1))).sum(1).mean() * t * t
    (0.5 * F.cross_entropy(logits, labels) + 0.5 * distill).backward()
    for b, p, q in zip(before, model.parameters(), expected.parameters()):
        torch.testing.assert_close(b - p.detach(), q.grad, rtol=tolerance, atol=tolerance * q.grad.abs().max().item())


def test_a_recipe_with_teachers_needs_them_and_names_their_seeds(small_mnist):
    recipe = Recipe(epochs=1, batch_size=64, seed=3, teachers=2)
    assert [r.seed for r in recipe.teacher_recipes()] == [3, 13]
    assert all(r.teachers == 0 and r.epochs == 1 for r in recipe.teacher_recipes())
    with pytest.raises(ValueError, match="2 teachers"):
        next(train_epochs(TutorialCNN(), small_mnist, recipe))


def test_train_teachers_trains_frozen_teachers_that_read_digits(small_mnist, monkeypatch):
    from src.training import loop as training
    from src.training.loop import train_teachers

    seeds = []
    monkeypatch.setattr(training, "seeded_model", lambda seed: seeds.append(seed) or seeded_model(seed))
    reports = []
    recipe = Recipe(epochs=2, batch_size=64, teachers=2)
    teachers = train_teachers(small_mnist, recipe, report=lambda k, record: reports.append((k, record["epoch"])))
    assert reports == [(1, 1), (1, 2), (2, 1), (2, 2)]
    assert seeds == [0, 10]  # each teacher starts from its recipe's seed
    assert len(teachers) == 2 and not any(t.training for t in teachers)
    assert not any(p.requires_grad for t in teachers for p in t.parameters())
    assert not torch.equal(teachers[0].conv1.weight, teachers[1].conv1.weight)  # two seeds, two networks
    assert all(loss_and_accuracy(t, small_mnist.val)[1] > 85 for t in teachers)
