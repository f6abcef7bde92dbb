"""What opens the box for a class: the handlers of the views that show what the network does and learned.

    - Inside the network (Draw tab): feature maps of the current drawing, the first layer's filters, the
      model summary (src/inside.py). Computed only while the panel is open.
    - Evaluation (Train tab): the confusion matrix, per-class accuracy and the most confident mistakes on the
      MNIST test set, for any model in the picker, and for every new run when it finishes (src/evaluation.py).
    - Compare runs (Train tab): validation loss and accuracy curves of several models, from their JSON histories.
    - What the model trains on (Train tab): MNIST examples with and without augmentation (src/training.py).
    - Export (Draw tab): the model in use as ONNX (src/export.py).

Each view is also an API endpoint (see src/ui.py): /inside_the_network, /evaluate, /compare_runs,
/training_examples and /export_onnx. Models are named as in the model picker: a server checkpoint's file
name, or "yours/NAME" for one of the visitor's own runs; none (or "") is the server's default.
"""

import tempfile
import threading
from collections import OrderedDict
from pathlib import Path

import gradio as gr
import numpy as np
import pandas as pd
import torch
from gradio import FileData
from PIL import Image

from src import config, evaluation, inside
from src.atomic import atomic_write
from src.checkpoint import CheckpointError, read_metadata
from src.data import DataUnavailable, Split, read_mnist
from src.draw_tab import DrawTab
from src.export import to_onnx
from src.inference import YOURS, LoadedModel
from src.preprocess import InvalidImage, load_image
from src.train_tab import epoch_axis
from src.training import augmentation_examples

EVALUATIONS_KEPT = 32  # evaluations cached per model file (a few KB each)
EXAMPLES = 8  # training examples per row in "What the model trains on"
EXPORTS_KEPT = 64  # ONNX files kept (about 90 KB each); a new export removes the oldest beyond this
SEEDS_KEPT = 100  # /training_examples pictures kept, one per seed modulo this


class Explore:
    """The handlers of the teaching views, for one visitor at a time (their model choice, their runs)."""

    def __init__(self, draw: DrawTab):
        self.draw, self.store, self.visitors = draw, draw.store, draw.visitors
        self._lock = threading.Lock()
        self._mnist: dict[bool, Split] = {}
        self._evaluations: OrderedDict[tuple, evaluation.Evaluation] = OrderedDict()
        self._folder = tempfile.TemporaryDirectory(prefix="draw-a-digit-exports-")  # removed when the server stops
        self._exports = Path(self._folder.name)

    # ------------------------------------------------------------------------------------------ helpers
    def model_named(self, name: str | None, request: gr.Request | None) -> LoadedModel:
        """The model a picker name stands for, for this visitor; a clear message if it cannot be used."""
        choice = self.draw.choice_of(name)
        try:
            return self.store.get(choice, self.visitors.of(request).runs if choice else None)
        except CheckpointError as e:
            missing = "does not exist" in str(e)  # (its message names the server's folder: not for visitors)
            raise gr.Error(f"{name} is not a checkpoint here: pick one from the model picker." if missing
                           else f"That model cannot be used: {e}") from None

    def mnist(self, train: bool) -> Split:
        """MNIST's training (60k) or test (10k) images, read once per server."""
        with self._lock:
            if train not in self._mnist:
                try:
                    self._mnist[train] = read_mnist(config.DATA_DIR, train=train)
                except DataUnavailable as e:
                    raise gr.Error(str(e)) from None
            return self._mnist[train]

    def evaluation(self, model: LoadedModel) -> evaluation.Evaluation:
        """The model on the MNIST test set; kept per model file (its path and modification time)."""
        key = (str(model.path), model.path.stat().st_mtime_ns if model.path and model.path.exists() else None,
               model.name)
        with self._lock:
            if key in self._evaluations:
                self._evaluations.move_to_end(key)
                return self._evaluations[key]
        result = evaluation.evaluate(model.model, self.mnist(train=False))
        with self._lock:
            self._evaluations[key] = result
            while len(self._evaluations) > EVALUATIONS_KEPT:
                self._evaluations.popitem(last=False)
        return result

    def pickers(self, request: gr.Request = None, evaluate=None):
        """The Train tab's two model pickers (evaluate one, compare several), listing every model this visitor
        may use, as the Draw tab's picker does: on `evaluate` (default: the first), and the two newest."""
        choices = self.draw.model_choices(request)
        names = [c for _, c in choices]
        compare = ([evaluate] if evaluate else []) + [n for n in names if n != evaluate]
        return (gr.Dropdown(choices=choices, value=evaluate or (names[0] if names else None)),
                gr.Dropdown(choices=choices, value=compare[:2]))

    # ------------------------------------------------------------------------------ inside the network
    def inside_maps(self, sample, choice=None, request: gr.Request = None):
        """The current drawing's feature maps, one picture per convolution (None for an empty canvas)."""
        if sample is None:
            return None, None, None
        model, _ = self.draw.model_for(choice, request)
        pictures = inside.maps_image(inside.feature_maps(model.model, sample))
        return tuple(pictures[name] for name in inside.CONVOLUTIONS)

    def inside_panel(self, sample, choice=None, request: gr.Request = None):
        """Everything the panel shows, when it opens or the model changes: the maps, the filters, the summary."""
        model, _ = self.draw.model_for(choice, request)
        return (*self.inside_maps(sample, choice, request), inside.filters_image(model.model),
                inside.summary(model.model))

    def inside_api(self, image: FileData, checkpoint: str | None = None, request: gr.Request = None) -> dict:
        """An image file -> the feature maps of its 28x28 input (lists of numbers), the first layer's filters and
        the model summary. The number, "is it a digit?" and the probabilities are /classify's."""
        model = self.model_named(checkpoint, request)
        try:
            reading = model.read(load_image(image["path"] if isinstance(image, dict) else image.path))
        except InvalidImage as e:
            raise gr.Error(str(e)) from None
        if reading is None or len(reading.images) == 0:
            raise gr.Error("No digit found in this image: nothing for the network to look at.")
        maps = inside.feature_maps(model.model, reading.images[0])
        return {
            "model": model.name,
            "digit": reading.digits[0],
            "feature_maps": {name: np.round(m, 5).tolist() for name, m in maps.items()},
            "filters": np.round(model.model.conv1.weight.detach()[:, 0].numpy(), 6).tolist(),
            "summary": inside.summary(model.model).to_dict(orient="records"),
        }

    # -------------------------------------------------------------------------------------- evaluation
    def evaluate_view(self, name, request: gr.Request = None):
        """(the confusion matrix as a heatmap with each digit's accuracy, the most confident mistakes)."""
        model = self.model_named(name, request)
        result = self.evaluation(model)
        gallery = [(np.asarray(Image.fromarray(img).resize((112, 112), Image.Resampling.NEAREST)),
                    f"a {true} read as {answer} ({confidence:.1%})") for img, true, answer, confidence in result.mistakes]
        return evaluation.heatmap_html(result, f"<b>{model.name}</b>:"), gallery

    def evaluate_new_run(self, files, request: gr.Request = None):
        """After a training: both pickers list the new run, and its evaluation shows (nothing if none was saved)."""
        weights = [f for f in files or [] if str(f).endswith(".safetensors")]
        if not weights:
            return gr.skip(), gr.skip(), gr.skip(), gr.skip()
        name = YOURS + Path(weights[0]).name
        return (*self.pickers(request, evaluate=name), *self.evaluate_view(name, request))

    def evaluate_api(self, checkpoint: str | None = None, request: gr.Request = None) -> dict:
        """A model (as named in the picker; none = the server's default) on the 10,000 MNIST test images:
        the 10x10 confusion matrix (confusion[true][answer]), per-class accuracy and the confident mistakes."""
        model = self.model_named(checkpoint, request)
        return {"model": model.name, **self.evaluation(model).to_json()}

    # ---------------------------------------------------------------------------------------- compare
    def histories(self, names, request) -> list[tuple[str, dict]]:
        names = [n for n in (names or []) if n]
        if len(names) < 2:
            raise gr.Error("Pick two or more models to compare.")
        out = []
        for name in names:
            model = self.model_named(name, request)
            out.append((model.name, read_metadata(model.path) if model.path else model.meta))
        return out

    def compare_view(self, names, request: gr.Request = None):
        """(validation loss per epoch, validation accuracy per epoch, a table of settings and test accuracy)."""
        runs = self.histories(names, request)
        rows = [{"epoch": str(r["epoch"]), "run": name, "validation loss": r["val_loss"], "validation accuracy": r["val_acc"]}
                for name, meta in runs for r in meta.get("history") or []]
        curves = pd.DataFrame(rows, columns=["epoch", "run", "validation loss", "validation accuracy"])
        longest = max((len(meta.get("history") or []) for _, meta in runs), default=1)
        table = pd.DataFrame([settings_row(name, meta) for name, meta in runs])
        return (gr.LinePlot(curves, sort=epoch_axis(longest)), gr.LinePlot(curves, sort=epoch_axis(longest)), table)

    def compare_api(self, checkpoints: list[str], request: gr.Request = None) -> dict:
        """Two or more models (as named in the picker) -> their per-epoch history, settings and test accuracy."""
        return {name: {**settings_row(name, meta), "history": meta.get("history") or []}
                for name, meta in self.histories(checkpoints, request)}

    # ----------------------------------------------------------------------------- training examples
    def examples_view(self, seed):
        """MNIST training examples (top row) and three rows of random augmentations of them, from `seed`."""
        train = self.mnist(train=True)
        seed = int(seed or 0)
        pick = torch.randperm(len(train), generator=torch.Generator().manual_seed(seed))[:EXAMPLES]
        return augmentation_examples(train.images[pick], seed)

    def examples_api(self, seed: int = 0) -> FileData:
        """MNIST training examples (top row) and three rows of their random augmentations from `seed`, as a PNG."""
        seed = int(seed) % SEEDS_KEPT  # one file per seed kept, rewritten in place: bounded disk use
        path = self._exports / f"training-examples-{seed}.png"
        picture = Image.fromarray(self.examples_view(seed))
        atomic_write(path, lambda tmp: picture.save(tmp, format="PNG"))
        return FileData(path=str(path))

    def reroll(self, seed):
        """A new seed for "What the model trains on", and its picture."""
        seed = int(seed or 0) + 1
        return seed, self.examples_view(seed)

    # ------------------------------------------------------------------------------------------ export
    def export_onnx(self, choice=None, request: gr.Request = None) -> str:
        """The visitor's model as an ONNX file (one file per model's weights, written once)."""
        model, _ = self.draw.model_for(choice, request)
        digest = model.meta.get("weights_sha256") or str(abs(hash(model.path)))
        path = self._exports / f"{Path(model.name).stem.removeprefix(YOURS)}-{digest[:12]}.onnx"
        if not path.exists():
            to_onnx(model.model, path)
            for old in sorted(self._exports.glob("*.onnx"), key=lambda p: p.stat().st_mtime)[:-EXPORTS_KEPT]:
                old.unlink(missing_ok=True)  # the oldest exports go: at most EXPORTS_KEPT files
        return str(path)

    def export_api(self, checkpoint: str | None = None, request: gr.Request = None) -> FileData:
        """A model (as named in the picker; none = the server's default) as an ONNX file: input "image"
        (N, 1, 28, 28) in [0, 1], outputs "logits" and "probabilities" (N, 10)."""
        model = self.model_named(checkpoint, request)
        choice = None if model is self.store.active else checkpoint
        return FileData(path=self.export_onnx(choice, request))


def settings_row(name: str, meta: dict) -> dict:
    h = meta.get("hyperparameters") or {}
    return {"model": name, "epochs": len(meta.get("history") or []), "batch size": h.get("batch_size"),
            "learning rate": h.get("lr"), "augment": h.get("augment"), "seed": meta.get("seed", h.get("seed")),
            "test accuracy %": meta.get("test_acc")}
