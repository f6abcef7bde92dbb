"""What opens the box for a class: the handlers of the views that show what the network does and learned.

    - Inside the network (Draw tab): feature maps of the current drawing, the first layer's filters, the
      model summary. Computed only while the panel is open.
    - Evaluation (Train tab): the confusion matrix, per-class accuracy and the most confident mistakes on the
      MNIST test set, for any model in the picker, and for every new run when it finishes.
    - Compare runs (Train tab): validation loss and accuracy curves of several models, from their JSON histories.
    - What the model trains on (Train tab): MNIST examples with and without augmentation.
    - Export (Draw tab): the model in use as ONNX.

Each view is also an API endpoint (Explore.api): /inside_the_network, /evaluate, /compare_runs,
/training_examples and /export_onnx. Models are named as in the model picker: a server checkpoint's file
name, or "yours/NAME" for one of the visitor's own runs; none (or "") is the server's default.
"""

import copy
import tempfile
import threading
from pathlib import Path

import gradio as gr
import numpy as np
import pandas as pd
import torch
from gradio import FileData
from PIL import Image

from src import settings
from src.atomic import atomic_write
from src.data.mnist import DataUnavailable, Split, read_mnist
from src.data.preprocess import InvalidImage, load_image
from src.model.checkpoint import CheckpointError, read_metadata
from src.model.export import to_onnx
from src.reading import evaluation, inside
from src.reading.inference import YOURS, LoadedModel
from src.training.augment import augment
from src.web.draw_tab import DrawTab
from src.web.evaluation_view import heatmap_html
from src.web.lru import LRU
from src.web.train_charts import epoch_plot
from src.web.train_inputs import number
from src.web.train_runs import no_mnist

MAX_COMPARED = 10  # models in one comparison
EVALUATIONS_KEPT = 32  # evaluations cached, one per model's weights (a few KB each)
EXAMPLES = 8  # training examples per row in "What the model trains on"
EXAMPLE_POOL = 1000  # the MNIST training images those are drawn from (kept in memory)
FILES_KEPT = 64  # ONNX files and /training_examples pictures kept each; a new one removes the oldest beyond this


def keep_newest(folder: Path, pattern: str, n: int = FILES_KEPT) -> None:
    """Remove all but the n newest files matching `pattern` in `folder`."""

    def age(path):
        try:
            return path.stat().st_mtime
        except FileNotFoundError:
            return 0.0

    for old in sorted(folder.glob(pattern), key=age)[:-n]:
        old.unlink(missing_ok=True)


class Explore:
    """The handlers of the teaching views, for one visitor at a time (their model choice, their runs)."""

    def __init__(self, draw: DrawTab):
        self.draw, self.store, self.visitors = draw, draw.store, draw.visitors
        self._data_lock = threading.Lock()  # reading MNIST (seconds, once)
        self._files_lock = threading.Lock()  # exports and pictures on disk (torch.onnx.export: one at a time)
        self._mnist: dict[bool, Split] = {}
        self._evaluations = LRU(EVALUATIONS_KEPT)  # weights' SHA-256 -> their evaluation
        self._folder = tempfile.TemporaryDirectory(prefix="draw-a-digit-exports-")  # removed when the server stops
        self._exports = Path(self._folder.name)

    # ------------------------------------------------------------------------------------------ helpers
    def api(self) -> None:
        """Each view as an endpoint for gradio_client, inside the page's Blocks; models named as in the picker."""
        gr.api(self.inside_api, api_name="inside_the_network")
        gr.api(self.evaluate_api, api_name="evaluate")
        gr.api(self.compare_api, api_name="compare_runs")
        gr.api(self.export_api, api_name="export_onnx")
        gr.api(self.examples_api, api_name="training_examples")

    def model_named(self, name: str | None, request: gr.Request | None) -> LoadedModel:
        """The model a picker name stands for, for this visitor; a clear message if it cannot be used."""
        return self.draw.model_named(name, request, "That model cannot be used: {}. Pick one from the model picker.")

    def mnist(self, train: bool) -> Split:
        """MNIST's test images (10k), or the first EXAMPLE_POOL training images; read once per server."""
        with self._data_lock:
            if train not in self._mnist:
                try:
                    split = read_mnist(settings.DATA_DIR, train=train)
                except DataUnavailable as e:
                    raise no_mnist(e) from None
                # A copy: a slice would keep all 60,000 training images alive behind it.
                self._mnist[train] = (
                    Split(split.images[:EXAMPLE_POOL].clone(), split.labels[:EXAMPLE_POOL].clone()) if train else split
                )
            return self._mnist[train]

    def evaluation(self, model: LoadedModel) -> evaluation.Evaluation:
        """The model on the MNIST test set; kept per model's weights (their SHA-256, as saved with them)."""
        result = self._evaluations.get(model.weights_key)
        if result is None:
            result = evaluation.confusion_and_mistakes(model.model, self.mnist(train=False))
            self._evaluations.put(model.weights_key, result)
        return result

    def pickers(self, request: gr.Request = None, evaluate=None, choices=None):
        """The Train tab's two model pickers (evaluate one, compare several), listing every model this visitor
        may use, as the Draw tab's picker does: on `evaluate` (default: the first), and the two newest.
        `choices`: draw.model_choices(request), if the caller has it already."""
        choices = self.draw.model_choices(request) if choices is None else choices
        names = [c for _, c in choices]
        compare = ([evaluate] if evaluate else []) + [n for n in names if n != evaluate]
        return (
            gr.Dropdown(choices=choices, value=evaluate or (names[0] if names else None)),
            gr.Dropdown(choices=choices, value=compare[:2]),
        )

    def all_pickers(self, choice=None, request: gr.Request = None):
        """Every model picker of the page and the Draw tab's text, from one listing of the models (on page load
        and after a fine-tuning): (Draw tab picker, its text, evaluate picker, compare picker)."""
        choices = self.draw.model_choices(request)
        return (*self.draw.refresh_models(choice, request, choices), *self.pickers(request, choices=choices))

    # ------------------------------------------------------------------------------ inside the network
    def inside_maps(self, sample, choice=None, request: gr.Request = None):
        """The current drawing's feature maps, one picture per convolution (None for an empty canvas). What an
        open panel asks for after every stroke."""
        return _maps(self.draw.model_for(choice, request)[0], sample)

    def inside_panel(self, sample, choice=None, request: gr.Request = None):
        """Everything the panel shows, when it opens or the model changes: the maps, the filters, the summary."""
        model, _ = self.draw.model_for(choice, request)
        return (*_maps(model, sample), inside.filters_image(model.model), inside.summary())

    def inside_api(self, image: FileData, checkpoint: str | None = None, request: gr.Request = None) -> dict:
        """An image file -> the feature maps of its 28x28 input (lists of numbers), the first layer's filters and
        the model summary. The number, "is it a digit?" and the probabilities are /classify's."""
        model = self.model_named(checkpoint, request)
        reading = model.read(uploaded_image(image))
        if reading is None or len(reading.images) == 0:
            raise gr.Error("No digit found in this image: nothing for the network to look at.", print_exception=False)
        maps = inside.feature_maps(model.model, reading.images[0])
        return {
            "model": model.name,
            "digit": reading.digits[0],
            "feature_maps": {name: np.round(m, 5).tolist() for name, m in maps.items()},
            "filters": np.round(model.model.conv1.weight.detach()[:, 0].numpy(), 6).tolist(),
            "summary": inside.summary().to_dict(orient="records"),
        }

    # -------------------------------------------------------------------------------------- evaluation
    def evaluate_view(self, name, request: gr.Request = None):
        """(the confusion matrix as a heatmap with each digit's accuracy, the most confident mistakes)."""
        model = self.model_named(name, request)
        result = self.evaluation(model)
        gallery = [
            (inside.tile(img[None] / 255, 112, columns=1), f"{true} → {answer}, {confidence:.0%}")
            for img, true, answer, confidence in result.mistakes
        ]
        return heatmap_html(result, f"<b>{model.name}</b>:"), gallery

    def new_run_pickers(self, files, choice=None, request: gr.Request = None):
        """After a training, from one listing of the models: every picker lists the new run (the Draw tab's, its
        text, the evaluate and compare pickers). At once: its evaluation follows (evaluate_new_run). Nothing
        changes if no run was saved."""
        name = new_run(files)
        if name is None:
            return (gr.skip(),) * 4
        choices = self.draw.model_choices(request)
        return (
            *self.draw.refresh_models(choice, request, choices),
            *self.pickers(request, evaluate=name, choices=choices),
        )

    def evaluate_new_run(self, files, request: gr.Request = None):
        """After a training: the new run's evaluation (nothing if no run was saved)."""
        name = new_run(files)
        return (gr.skip(), gr.skip()) if name is None else self.evaluate_view(name, request)

    def evaluate_api(self, checkpoint: str | None = None, request: gr.Request = None) -> dict:
        """A model (as named in the picker; none = the server's default) on the 10,000 MNIST test images:
        the 10x10 confusion matrix (confusion[true][answer]), per-class accuracy and the confident mistakes."""
        model = self.model_named(checkpoint, request)
        return {"model": model.name, **self.evaluation(model).to_json()}

    # ---------------------------------------------------------------------------------------- compare
    def histories(self, names, request) -> list[tuple[str, dict]]:
        """(name, metadata) of two or more models, read from their JSON files (no weights are loaded)."""
        raw = names or []
        if (
            not isinstance(raw, (list, tuple))
            or len(raw) > 10 * MAX_COMPARED
            or not all(isinstance(n, str) and len(n) <= 200 for n in raw)
            or len(names := list(dict.fromkeys(n for n in raw if n))) > MAX_COMPARED
        ):  # distinct, in order
            raise gr.Error(
                f"Compare at most {MAX_COMPARED} models, named as in the model picker.", print_exception=False
            )
        if len(names) < 2:
            raise gr.Error("Pick two or more models to compare.", print_exception=False)
        runs, out = self.visitors.of(request).runs, []
        for name in names:
            try:
                out.append((name, read_metadata(self.store.path_for(self.draw.choice_of(name), runs))))
            except CheckpointError as e:
                raise gr.Error(f"{name} cannot be compared: {e}", print_exception=False) from None
        return out

    def compare_view(self, names, request: gr.Request = None):
        """(validation loss per epoch, validation accuracy per epoch, a table of settings and test accuracy)."""
        runs = self.histories(names, request)
        rows = [
            {
                "epoch": str(r["epoch"]),
                "run": name,
                "validation loss": r["val_loss"],
                "validation accuracy": r["val_acc"],
            }
            for name, meta in runs
            for r in meta.get("history") or []
        ]
        curves = pd.DataFrame(rows, columns=["epoch", "run", "validation loss", "validation accuracy"])
        longest = max((len(meta.get("history") or []) for _, meta in runs), default=1)
        table = pd.DataFrame([settings_row(name, meta) for name, meta in runs])
        return epoch_plot(curves, longest), epoch_plot(curves, longest), table  # loss and accuracy: one table

    def compare_api(self, checkpoints: list[str], request: gr.Request = None) -> dict:
        """Two or more models (as named in the picker) -> their per-epoch history, settings and test accuracy."""
        return {
            name: {**settings_row(name, meta), "history": meta.get("history") or []}
            for name, meta in self.histories(checkpoints, request)
        }

    # ----------------------------------------------------------------------------- training examples
    def examples_view(self, seed):
        """EXAMPLES MNIST training images (top row) and three rows of random augmentations of them, as the
        network sees them (28x28, enlarged), all drawn from `seed`. -> uint8 grey picture."""
        seed = int(seed or 0)
        generator = torch.Generator().manual_seed(seed)
        pool = self.mnist(train=True).images
        x = pool[torch.randperm(len(pool), generator=generator)[:EXAMPLES]].unsqueeze(1).float().div(255)
        rows = torch.cat([x, *(augment(x, generator) for _ in range(3))])[:, 0].numpy()
        grid = inside.tile(rows, 84, columns=EXAMPLES, gap=4, background=255)
        return np.insert(grid, 88, np.full((12, grid.shape[1]), 255, np.uint8), axis=0)  # the originals apart

    def examples_api(self, seed: int = 0) -> FileData:
        """MNIST training examples (top row) and three rows of their random augmentations from `seed`, as a PNG."""
        seed = 0 if seed is None else number(seed, int)
        if seed is None or not 0 <= seed < 2**63:
            raise gr.Error("The seed must be a whole number from 0 to 2**63 - 1.", print_exception=False)
        path = self._exports / f"training-examples-{seed}.png"
        with self._files_lock:
            if not path.exists():
                picture = Image.fromarray(self.examples_view(seed))
                atomic_write(path, lambda tmp: picture.save(tmp, format="PNG"))
                keep_newest(self._exports, "training-examples-*.png")
        return FileData(path=str(path))

    def reroll(self, seed):
        """A new seed for "What the model trains on", and its picture."""
        seed = int(seed or 0) + 1
        return seed, self.examples_view(seed)

    # ------------------------------------------------------------------------------------------ export
    def export(self, model: LoadedModel) -> str:
        """`model` as an ONNX file, written once per weights; exports run one at a time, on a copy of the model
        (tracing never touches the one other requests use)."""
        path = self._exports / f"{Path(model.name).stem}-{model.weights_key[:12]}.onnx"
        with self._files_lock:
            if not path.exists():
                to_onnx(copy.deepcopy(model.model), path)
                keep_newest(self._exports, "*.onnx")
        return str(path)

    def export_onnx(self, choice=None, request: gr.Request = None) -> str:
        """The visitor's model as an ONNX file (the Draw tab's button)."""
        model, _ = self.draw.model_for(choice, request)
        return self.export(model)

    def export_api(self, checkpoint: str | None = None, request: gr.Request = None) -> FileData:
        """A model (as named in the picker; none = the server's default) as an ONNX file: input "image"
        (N, 1, 28, 28) in [0, 1], outputs "logits" and "probabilities" (N, 10)."""
        return FileData(path=self.export(self.model_named(checkpoint, request)))


def new_run(files) -> str | None:
    """The picker name of the run a training saved (its files, as the Train tab lists them), or None."""
    weights = [f for f in files or [] if str(f).endswith(".safetensors")]
    return YOURS + Path(weights[0]).name if weights else None


def _maps(model: LoadedModel, sample) -> tuple:
    """The feature maps of the 28x28 `sample`, one picture per convolution (None each for an empty canvas)."""
    if sample is None:
        return None, None, None
    pictures = inside.maps_image(inside.feature_maps(model.model, sample))
    return tuple(pictures[name] for name in inside.CONVOLUTIONS)


def uploaded_image(image) -> Image.Image:
    """An image file a client uploaded to this server (a FileData), opened; anything else is refused.

    gr.api hands over file values as the client sent them: a path outside Gradio's upload folder would be
    any file on the server."""
    path = image.get("path") if isinstance(image, dict) else getattr(image, "path", None)
    uploads = Path(gr.utils.get_upload_folder()).resolve()
    if not (isinstance(path, str) and path and Path(path).resolve().is_relative_to(uploads)):
        raise gr.Error("Send the image as a file upload (gradio_client.handle_file).", print_exception=False)
    try:
        return load_image(Path(path).resolve())
    except InvalidImage as e:
        raise gr.Error(str(e), print_exception=False) from None


def settings_row(name: str, meta: dict) -> dict:
    h = meta.get("hyperparameters") or {}
    return {
        "model": name,
        "epochs": len(meta.get("history") or []),
        "batch size": h.get("batch_size"),
        "learning rate": h.get("lr"),
        "augment": h.get("augment"),
        "teachers": h.get("teachers", 0),
        "seed": meta.get("seed", h.get("seed")),
        "test accuracy %": meta.get("test_acc"),
    }
