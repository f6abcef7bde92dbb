"""What this machine offers a training: the device, the CPU threads, and the precision the network computes in."""

import functools
import os
from contextlib import contextmanager

import torch

from src import settings

PRECISIONS = ("auto", "bf16", "fp32")


def resolve_device(name: str = "auto") -> torch.device:
    """The device called `name` ("auto": CUDA if PyTorch sees a GPU, else the CPU); ValueError if it is absent."""
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    device = torch.device(name)
    if device.type == "cuda" and not torch.cuda.is_available():
        raise ValueError("--device cuda was asked for, but PyTorch sees no CUDA GPU here.")
    return device


def training_threads() -> int:
    """CPU threads for a training: TRAINING_THREADS if set, else all cores up to 4. This network's convolutions on
    a batch of a few hundred 28x28 images are too small to keep more threads busy (python -m bench.train_speed)."""
    return settings.TRAINING_THREADS or max(1, min(os.cpu_count() or 1, 4))


@contextmanager
def threads_for_training():
    """PyTorch's CPU threads set to training_threads() for the duration (the app serves with one)."""
    before = torch.get_num_threads()
    torch.set_num_threads(training_threads())
    try:
        yield
    finally:
        torch.set_num_threads(before)


@functools.lru_cache(maxsize=1)
def native_bf16() -> bool:
    """Whether this CPU computes bf16 natively (AVX512-BF16 or AMX): oneDNN's bf16 convolutions are then faster
    than fp32 ones for this network (python -m bench.train_step). Elsewhere bf16 would be emulated: fp32."""
    try:
        return torch.cpu._is_avx512_bf16_supported() or torch.cpu._is_amx_tile_supported()
    except AttributeError:  # a PyTorch without these probes
        return False


def compute_dtype(precision: str, device) -> torch.dtype:
    """The dtype the network's convolutions and linear layer compute in during training (torch.autocast); the
    weights, the optimizer and the loss stay fp32. "auto" is bf16 on a CPU that computes it natively and fp32
    elsewhere, CUDA included (not measured there)."""
    if precision not in PRECISIONS:
        raise ValueError(f"precision must be auto, bf16 or fp32, not {precision!r}")
    device = torch.device(device)
    if precision == "auto":
        return torch.bfloat16 if device.type == "cpu" and native_bf16() else torch.float32
    if precision == "bf16" and device.type == "cuda" and not torch.cuda.is_bf16_supported(including_emulation=False):
        raise ValueError("--precision bf16 was asked for, but this GPU does not compute bf16.")
    return torch.bfloat16 if precision == "bf16" else torch.float32
