"""The network's 2x2 max-pooling: F.max_pool2d(x, 2), computed faster on the CPU in training and inference.

    pool = MaxPool2x2()   # in TutorialCNN, where the tutorial has nn.MaxPool2d(2)

Why: PyTorch's CPU max-pooling is slow for this network's maps. With 8 and 16 channels in channels-last
memory, its kernel barely vectorises, writes 64-bit indices in the forward pass and zero-fills the whole
input gradient before scattering into it in the backward pass. Pooling took about a third of a training
step (bench/train_step.py). The two small kernels below, compiled by numba, do the same work in a few
passes over memory: the forward pass records which of the four pixels won in one byte, and the backward
pass writes every input gradient once.

Same function, same gradients: the winner of a 2x2 window is the first largest value in reading order,
as in PyTorch (so ties, such as the flat background of a digit, send their gradient where PyTorch sends
it). tests/test_pooling.py checks outputs and gradients for equality, bit for bit, in fp32 and bf16.
Two differences remain, both outside a healthy training step: PyTorch lets a window's NaN win, while here a
NaN with its sign bit set (what 0/0 gives on x86) loses to any number; and a gradient of -0 reaches the
winner as -0, where PyTorch's zero-filled sum gives +0. A version that matched both was several times slower.

The kernels pool CPU tensors in channels-last memory (src.model.forward makes them so), in fp32 or bf16,
with even height and width, in two cases: a training step (the module in training mode), and inference
under torch.inference_mode (evaluation, reading a drawing). Everything else calls F.max_pool2d: saliency
(which needs gradients in eval mode), the ONNX export (which traces the module), CUDA.

numba cannot handle bf16, so the kernels compare the raw bits: a float's bits read as a signed integer
are ordered like the float for positive values and reversed for negative ones; `_key` undoes the reversal
and makes -0 equal to +0.

numba compiles the kernels on their first use in a process (about 1 s each); `warm_up` does it ahead.
Until the kernels have run once in a process (warm_up, or a training step), inference uses F.max_pool2d,
so that no reading waits for the compiler.
"""

import threading

import numba
import torch
import torch.nn.functional as F
from torch import nn

# dtype -> (the integer type of the same width, the number of bits below the sign)
_BITS = {torch.float32: (torch.int32, 31), torch.bfloat16: (torch.int16, 15)}
# numba's threading layer is its default: OpenMP where the system has it (its "workqueue" layer made an epoch
# 30% slower here), else workqueue, which must not be entered by two threads at once: hence the lock. With
# GNU OpenMP, a process forked after using the kernels cannot use them (numba stops it); this app never forks.
_LAUNCH = threading.Lock()
_RAN = threading.Event()  # set once the kernels have run in this process: from then on inference uses them


@numba.njit(inline="always")
def _key(bits, shift, magnitude):
    """An integer ordered like the float whose bits these are (NaN aside); -0 and +0 both give 0."""
    if (bits & magnitude) == 0:
        return 0
    return bits ^ ((bits >> shift) & magnitude)


@numba.njit(parallel=True, nogil=True)
def _pool(x, out, which, shift, magnitude):
    """x (N, H, W, C) float bits -> out (N, H/2, W/2, C): each 2x2 window's largest value; which: its
    position in the window (0 1 / 2 3), the first one in reading order on ties."""
    n, h, w, c = x.shape
    for i in numba.prange(n):
        for y in range(h // 2):
            for x0 in range(w // 2):
                for ch in range(c):
                    best = x[i, 2 * y, 2 * x0, ch]
                    best_key, k = _key(best, shift, magnitude), 0
                    for d in range(1, 4):
                        v = x[i, 2 * y + d // 2, 2 * x0 + d % 2, ch]
                        v_key = _key(v, shift, magnitude)
                        if v_key > best_key:
                            best, best_key, k = v, v_key, d
                    out[i, y, x0, ch] = best
                    which[i, y, x0, ch] = k


@numba.njit(parallel=True, nogil=True)
def _unpool(grad, which, grad_in):
    """grad (N, H/2, W/2, C) -> grad_in (N, H, W, C): each window's gradient to its winner, 0 to the rest."""
    n, h2, w2, c = grad.shape
    for i in numba.prange(n):
        for y in range(h2):
            for dy in range(2):
                for x0 in range(w2):
                    for dx in range(2):
                        for ch in range(c):
                            won = which[i, y, x0, ch] == 2 * dy + dx
                            grad_in[i, 2 * y + dy, 2 * x0 + dx, ch] = grad[i, y, x0, ch] if won else 0


def _bits(t: torch.Tensor):
    """A numpy view of a tensor's raw bits as integers (numba has no bf16)."""
    return t.detach().view(_BITS[t.dtype][0]).numpy()


def _launch(kernel, *args):
    with _LAUNCH:
        numba.set_num_threads(min(torch.get_num_threads(), numba.config.NUMBA_NUM_THREADS))
        kernel(*args)
    _RAN.set()


def _nhwc(t: torch.Tensor) -> torch.Tensor:
    """A channels-last tensor's dimensions in the order they have in memory: (N, H, W, C)."""
    return t.permute(0, 2, 3, 1)


class _MaxPool2x2(torch.autograd.Function):
    @staticmethod
    def forward(ctx, x):
        n, c, h, w = x.shape
        out = torch.empty(n, c, h // 2, w // 2, dtype=x.dtype, memory_format=torch.channels_last)
        which = torch.empty(n, h // 2, w // 2, c, dtype=torch.uint8)
        _, shift = _BITS[x.dtype]
        _launch(_pool, _bits(_nhwc(x)), _bits(_nhwc(out)), which.numpy(), shift, (1 << shift) - 1)
        ctx.save_for_backward(which)
        return out

    @staticmethod
    @torch.autograd.function.once_differentiable
    def backward(ctx, grad):
        (which,) = ctx.saved_tensors
        grad = grad.contiguous(memory_format=torch.channels_last)
        n, c, h2, w2 = grad.shape
        grad_in = torch.empty(n, c, 2 * h2, 2 * w2, dtype=grad.dtype, memory_format=torch.channels_last)
        _launch(_unpool, _bits(_nhwc(grad)), which.numpy(), _bits(_nhwc(grad_in)))
        return grad_in


def warm_up() -> None:
    """Compile the kernels for both dtypes now (a few seconds), so that no request or training waits for it."""
    for dtype in _BITS:
        x = torch.zeros(1, 2, 2, 2, dtype=dtype).contiguous(memory_format=torch.channels_last).requires_grad_()
        _MaxPool2x2.apply(x).sum().backward()


def fits(x: torch.Tensor) -> bool:
    """Whether the kernels above can pool `x`."""
    return (x.device.type == "cpu" and x.dtype in _BITS and x.dim() == 4 and x.shape[2] % 2 == 0
            and x.shape[3] % 2 == 0 and x.is_contiguous(memory_format=torch.channels_last))


class MaxPool2x2(nn.Module):
    """nn.MaxPool2d(2), computed by the kernels above in training and under inference_mode (see the module doc)."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if (self.training or (torch.is_inference_mode_enabled() and _RAN.is_set())) and fits(x):
            return _MaxPool2x2.apply(x)
        return F.max_pool2d(x, 2)
