"""CI's check of a running app (`python .ci/serves.py URL`): /classify reads a drawn 7 as 7, and a one-epoch
/train finishes and saves its run. .ci/run runs it against the app in a fresh Python 3.12 environment."""

import sys
import tempfile
from pathlib import Path

import numpy as np
from gradio_client import Client, handle_file

from src.data.digits import render_digit

client = Client(sys.argv[1], verbose=False)
drawing = Path(tempfile.mkdtemp()) / "seven.png"
render_digit(7, np.random.default_rng(7)).save(drawing)
answer = client.predict(handle_file(str(drawing)), api_name="/classify")
print("/classify of a drawn 7:", {k: answer[k] for k in ("digit", "confidence", "is_digit")})
assert answer["digit"] == 7, answer

job = client.submit(
    epochs=1, batch_size=128, learning_rate=0.003, augment=True, seed=0, max_examples=2000, api_name="/train"
)
*_, last = job
status, files = last[2], last[3]
print("/train, 1 epoch:", status)
assert "Finished 1 epoch" in status and files and files[0].endswith(".safetensors"), last
