"""The network and its checkpoints: no gradio, no numba, no drawing generator."""
