"""The live reading's JavaScript (src/web/static/live.js) against the server's reading, in Node: a few drawings,
read without a browser, with the checks tests/test_live.py makes on 1,000 in Chromium. Skipped without node."""

import json
import shutil
import subprocess

import numpy as np
import pytest

from src.model.novelty import novelty_path
from src.reading.inference import ModelStore
from src.web import live
from tests.test_live import blank_speck_and_filled, drawings, kind, strokes_layer

NODE = shutil.which("node")
pytestmark = pytest.mark.skipif(NODE is None, reason="node is not on PATH")

# Loads live.js as the browser does (a plain script: nothing of the page starts without a DOM), reads each
# drawing's RGBA pixels with the checkpoint's weights and statistics, and prints the readings as JSON.
DRIVER = r"""
const fs = require("fs"), vm = require("vm");
const [script, folder] = process.argv.slice(2);
vm.runInThisContext(fs.readFileSync(script, "utf8"), { filename: script });
const file = (name) => {
  const b = fs.readFileSync(`${folder}/${name}`);
  return b.buffer.slice(b.byteOffset, b.byteOffset + b.length);
};
const { constants, sizes } = JSON.parse(fs.readFileSync(`${folder}/drawings.json`, "utf8"));
const tensors = liveReading.readSafetensors(file("model.safetensors"));
const novelty = liveReading.readNovelty(file("model.novelty.safetensors"), constants.NOVELTY_FORMAT);
const pixels = new Uint8Array(file("pixels.bin"));
let offset = 0;
const out = sizes.map(([width, height]) => {
  const rgba = pixels.subarray(offset, (offset += 4 * width * height));
  const r = liveReading.readPixels(rgba, width, height, tensors, novelty, constants);
  if (r === null || r.filled) return r && "filled";
  return { inputs: r.inputs.map((x) => Array.from(x)), probabilities: r.probabilities, isDigit: r.isDigit,
           unusual: r.unusual };
});
process.stdout.write(JSON.stringify(out));
"""


def read_in_node(images, checkpoint, folder):
    """Each image's live reading, from Node: None, "filled" or {inputs, probabilities, isDigit, unusual}."""
    rgba = [np.asarray(img.convert("RGBA"), np.uint8) for img in images]
    (folder / "pixels.bin").write_bytes(b"".join(a.tobytes() for a in rgba))
    sizes = [[a.shape[1], a.shape[0]] for a in rgba]
    (folder / "drawings.json").write_text(json.dumps({"constants": live.constants(), "sizes": sizes}))
    shutil.copyfile(checkpoint, folder / "model.safetensors")
    shutil.copyfile(novelty_path(checkpoint), folder / "model.novelty.safetensors")
    (folder / "driver.js").write_text(DRIVER)
    run = subprocess.run(
        [NODE, str(folder / "driver.js"), str(live.SCRIPT), str(folder)], capture_output=True, text=True, timeout=300
    )
    assert run.returncode == 0, run.stderr
    return json.loads(run.stdout)


def assert_node_reads_as_the_server(images, checkpoint, folder):
    """Node's live reading of each image against LoadedModel.read: the same kind of reading, the same 28x28
    inputs, digits, probabilities (within the Chromium test's tolerance) and verdict. -> Node's readings"""
    node = read_in_node(images, checkpoint, folder)
    model = ModelStore(checkpoint.parent, checkpoint.name).load(checkpoint.name)
    server = [model.read(img) for img in images]
    assert [kind(n) for n in node] == [kind(s) for s in server]
    for n, s in zip(node, server):
        if kind(s) != "read":
            continue
        inputs = np.array(n["inputs"], np.float32).reshape(-1, 28, 28)
        assert inputs.shape == s.images.shape
        assert np.abs(inputs - s.images).max() <= 1e-6
        probabilities = np.array(n["probabilities"])
        assert (probabilities.argmax(1) == s.probabilities.argmax(1)).all()
        assert np.abs(probabilities - s.probabilities).max() <= 1e-5
        assert (n["isDigit"], n["unusual"]) == (s.is_digit, s.unusual)
    return node


def test_node_reads_a_few_drawings_as_the_server_does(default_checkpoint, tmp_path, dots_alone):
    # Digits, a number and things that are not digits; dots alone; nothing drawn, and a speck.
    drawn = list(drawings(20, seed=12)) + [strokes_layer(ink) for _, ink in dots_alone[:1]]
    node = assert_node_reads_as_the_server(drawn + blank_speck_and_filled()[:2], default_checkpoint, tmp_path)
    read = [n for n in node if isinstance(n, dict)]
    assert len(read) >= 15 and any(len(n["inputs"]) > 1 for n in read)  # a number among them
    assert not all(n["isDigit"] for n in read)  # and a thing that is not a digit
    # A pad all ink is a filled area here, as in Chromium (to the server, an opaque image is no drawing).
    assert read_in_node(blank_speck_and_filled()[2:], default_checkpoint, tmp_path) == ["filled"]


@pytest.mark.slow  # its drawings are slow to make, but shared with tests/test_live.py
def test_node_gives_a_second_look_as_the_server_does(default_checkpoint, tmp_path, fives_in_pieces, ones_leaning_back):
    # Not a digit as first read (split into "52", or slanted far), each is read again (whole, or upright).
    inks = fives_in_pieces[:2] + ones_leaning_back[:2]
    node = assert_node_reads_as_the_server([strokes_layer(ink) for ink in inks], default_checkpoint, tmp_path)
    assert [np.argmax(n["probabilities"][0]) for n in node] == [5, 5, 1, 1] and all(n["isDigit"] for n in node)
