"""The training recipes: `Recipe()`, the default that `python train.py` trains, and `FAST`, the Train tab's; and
the seeding that makes a recipe's run repeatable."""

from dataclasses import asdict, dataclass, replace

import torch

from src.model.network import TutorialCNN
from src.training.hardware import compute_dtype


@dataclass
class Recipe:
    """The default recipe; `python train.py` with no flags trains exactly this."""

    epochs: int = 30
    batch_size: int = 128
    lr: float = 5e-3  # the peak of the one-cycle schedule
    weight_decay: float = 1e-4
    augment: bool = True
    seed: int = 0
    drawn_per_batch: int = 32  # drawn digits added to every batch: synthetic ones and MNIST's as drawn (0: none)
    outliers_per_batch: int = 32  # synthetic non-digits added to every batch (0: no outlier exposure)
    outlier_weight: float = 0.02  # weight of the energy-margin loss (0: no outlier exposure)
    energy_digits: float = -10.0  # digits' energy (-logsumexp of the logits) is pushed below this ...
    energy_outliers: float = -5.0  # ... and non-digits' above this
    # "fp32", "bf16", or "auto" (bf16 on a CPU that computes it natively); this recipe stays fp32 (docs/model.md)
    precision: str = "fp32"
    # Knowledge distillation: `teachers` networks trained first with this recipe from other seeds (train_teachers)
    teachers: int = 3
    distill_weight: float = 0.5  # the share of the digits' loss that comes from the teachers
    distill_temperature: float = 2.0  # the softmax temperature at which the network matches the teachers

    def to_dict(self):
        return asdict(self)

    def at_batch_size(self, batch_size: int) -> "Recipe":
        """This recipe at another batch size, its synthetic drawings per batch scaled to keep their share."""

        def scaled(count):
            return max(1, round(count * batch_size / self.batch_size)) if count else 0

        return replace(
            self,
            batch_size=batch_size,
            drawn_per_batch=scaled(self.drawn_per_batch),
            outliers_per_batch=scaled(self.outliers_per_batch),
        )

    def teacher_recipes(self) -> list["Recipe"]:
        """This recipe's teachers: the same recipe without teachers, from seeds seed, seed + 10, seed + 20, ..."""
        return [replace(self, seed=self.seed + 10 * k, teachers=0) for k in range(self.teachers)]

    def resolved(self, device) -> "Recipe":
        """This recipe with "auto" precision replaced by what `device` will use, as a checkpoint records it."""
        return replace(self, precision="bf16" if compute_dtype(self.precision, device) == torch.bfloat16 else "fp32")


# The Train tab's default: a good model while a visitor waits; chosen by python -m bench.recipe_sweep.
FAST = Recipe(
    epochs=5,
    batch_size=384,
    lr=3e-2,
    augment=False,
    drawn_per_batch=24,
    outliers_per_batch=48,
    precision="auto",
    teachers=0,
)


def seeded_generator(seed: int, device="cpu") -> torch.Generator:
    """The one seeding helper: sets PyTorch's global seed (initial weights) and returns a generator seeded
    the same way for the random streams of training (shuffling, augmentation, synthetic picks)."""
    torch.manual_seed(seed)
    return torch.Generator(device=device).manual_seed(seed)


def seeded_model(seed: int) -> TutorialCNN:
    """A new TutorialCNN whose initial weights come from `seed`."""
    seeded_generator(seed)
    return TutorialCNN()
