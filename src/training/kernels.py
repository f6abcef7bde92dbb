"""Optional CPU kernels for training, compiled by numba: the same network, a faster step on the CPU.

    kernels.install(model)     # a TutorialCNN; loop.accelerate does it in CPU trainings (CPU_KERNELS)
    kernels.uninstall(model)   # the plain network again (the trainings do it when they end)

PyTorch's CPU max-pooling and its one-channel first convolution are slow for this small network. Here the
2x2 pooling records each window's winner in one byte and writes every input gradient once, and the first
layer (conv1, pool, ReLU) is one fused kernel that never writes conv1's full-size output. Outputs and
gradients equal PyTorch's (tests/test_kernels.py). Why and how much: docs/kernels.md.
"""

import threading
import types

import numba
import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from src.model.network import TutorialCNN, normalize

# dtype -> (the integer type of the same width, the number of bits below the sign)
_BITS = {torch.float32: (torch.int32, 31), torch.bfloat16: (torch.int16, 15)}
# numba's threading layer is its default: OpenMP where the system has it (faster here: docs/kernels.md), else
# workqueue, which must not be entered by two threads at once: hence the lock. With GNU OpenMP, a process
# forked after using the kernels cannot use them (numba stops it); this app never forks.
_LAUNCH = threading.Lock()
_READY = threading.Event()  # set when warm_up has compiled (or loaded from numba's cache) every kernel
_WARMING = threading.Lock()


def _kernel(fn):
    """numba.njit for the kernels below: compiled once per machine and kept on disk (src/training/__pycache__, or
    numba's folder in the user's cache), or in every process where no cache folder can be written."""
    try:
        return numba.njit(parallel=True, nogil=True, cache=True)(fn)
    except RuntimeError:  # "cannot cache function ...: no locator available"
        return numba.njit(parallel=True, nogil=True)(fn)


@numba.njit(inline="always")
def _key(bits, shift, magnitude):
    """An integer ordered like the float whose bits these are (NaN aside); -0 and +0 both give 0."""
    if (bits & magnitude) == 0:
        return 0
    return bits ^ ((bits >> shift) & magnitude)


@_kernel
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


@_kernel
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


@_kernel
def _conv_pool_relu(xp, w, b, out, which):
    """The first layer, fused: xp (N, H+2, W+2) the zero-padded one-channel input, w (9, C) the 3x3 weights,
    b (C) -> out (N, H/2, W/2, C): relu of each 2x2 window's largest convolution value; which: the window's
    winner (0 1 / 2 3), the first one in reading order on ties. One image's convolution stays in cache."""
    n, h2, w2, c = out.shape
    for i in numba.prange(n):
        conv = np.empty((2 * h2, 2 * w2, c), np.float32)
        for py in range(2 * h2):
            for px in range(2 * w2):
                for ch in range(c):
                    a = b[ch]
                    for ky in range(3):
                        for kx in range(3):
                            a += xp[i, py + ky, px + kx] * w[ky * 3 + kx, ch]
                    conv[py, px, ch] = a
        for y in range(h2):
            for x0 in range(w2):
                for ch in range(c):
                    best, k = conv[2 * y, 2 * x0, ch], 0
                    for d in range(1, 4):
                        v = conv[2 * y + d // 2, 2 * x0 + d % 2, ch]
                        if v > best:
                            best, k = v, d
                    out[i, y, x0, ch] = max(best, np.float32(0))
                    which[i, y, x0, ch] = k


@_kernel
def _conv_pool_relu_grad(xp, out, which, grad, parts):
    """The fused first layer's weight and bias gradients: parts (P, 10, C), for each of P slices of the batch,
    sum over its windows that passed the ReLU of the gradient times the winner's 3x3 input (rows 0-8: the
    weights) and of the gradient (row 9: the bias). The caller sums the P slices."""
    n, h2, w2, c = out.shape
    p = parts.shape[0]
    per = (n + p - 1) // p
    for t in numba.prange(p):
        for i in range(t * per, min(n, (t + 1) * per)):
            for y in range(h2):
                for x0 in range(w2):
                    for ch in range(c):
                        if out[i, y, x0, ch] > 0:
                            g = grad[i, y, x0, ch]
                            d = which[i, y, x0, ch]
                            py, px = 2 * y + d // 2, 2 * x0 + d % 2
                            for ky in range(3):
                                for kx in range(3):
                                    parts[t, ky * 3 + kx, ch] += g * xp[i, py + ky, px + kx]
                            parts[t, 9, ch] += g


def _bits(t: torch.Tensor):
    """A numpy view of a tensor's raw bits as integers (numba has no bf16)."""
    return t.detach().view(_BITS[t.dtype][0]).numpy()


def _launch(kernel, *args):
    with _LAUNCH:
        numba.set_num_threads(min(torch.get_num_threads(), numba.config.NUMBA_NUM_THREADS))
        kernel(*args)


def _nhwc(t: torch.Tensor) -> torch.Tensor:
    """A channels-last tensor's dimensions in the order they have in memory: (N, H, W, C)."""
    return t.permute(0, 2, 3, 1)


def _pooled(n: int, c: int, h: int, w: int, dtype=torch.float32) -> tuple[torch.Tensor, torch.Tensor]:
    """Room for a 2x2 pooling's output, (N, C, H/2, W/2) channels-last, and its windows' winners (uint8, NHWC)."""
    out = torch.empty(n, c, h // 2, w // 2, dtype=dtype, memory_format=torch.channels_last)
    return out, torch.empty(n, h // 2, w // 2, c, dtype=torch.uint8)


def _backward(fn):
    """A kernel Function's backward: a static method whose gradient is not itself differentiable."""
    return staticmethod(torch.autograd.function.once_differentiable(fn))


class _MaxPool2x2(torch.autograd.Function):
    @staticmethod
    def forward(ctx, x):
        out, which = _pooled(*x.shape, dtype=x.dtype)
        _, shift = _BITS[x.dtype]
        _launch(_pool, _bits(_nhwc(x)), _bits(_nhwc(out)), which.numpy(), shift, (1 << shift) - 1)
        ctx.save_for_backward(which)
        return out

    @_backward
    def backward(ctx, grad):
        (which,) = ctx.saved_tensors
        grad = grad.contiguous(memory_format=torch.channels_last)
        n, c, h2, w2 = grad.shape
        grad_in = torch.empty(n, c, 2 * h2, 2 * w2, dtype=grad.dtype, memory_format=torch.channels_last)
        _launch(_unpool, _bits(_nhwc(grad)), which.numpy(), _bits(_nhwc(grad_in)))
        return grad_in


class _ConvPoolReLU(torch.autograd.Function):
    """relu(max_pool2d(conv2d(x, weight, bias, padding=1), 2)) for a one-channel fp32 x that needs no gradient."""

    @staticmethod
    def forward(ctx, x, weight, bias):
        n, _, h, w = x.shape
        c = weight.shape[0]
        xp = F.pad(x[:, 0], (1, 1, 1, 1)).contiguous()
        out, which = _pooled(n, c, h, w)
        w9 = weight.detach().reshape(c, 9).t().contiguous()
        _launch(
            _conv_pool_relu,
            xp.numpy(),
            w9.numpy(),
            bias.detach().contiguous().numpy(),
            _nhwc(out).numpy(),
            which.numpy(),
        )
        ctx.save_for_backward(xp, out, which)
        return out

    @_backward
    def backward(ctx, grad):
        xp, out, which = ctx.saved_tensors
        grad = grad.float().contiguous(memory_format=torch.channels_last)
        c = out.shape[1]
        parts = torch.zeros(4 * numba.config.NUMBA_NUM_THREADS, 10, c)
        _launch(_conv_pool_relu_grad, xp.numpy(), _nhwc(out).numpy(), which.numpy(), _nhwc(grad).numpy(), parts.numpy())
        total = parts.sum(0)
        return None, total[:9].t().reshape(c, 1, 3, 3), total[9]


def warm_up() -> None:
    """Compile every kernel, for both dtypes, now (a few seconds; nothing once done): install does it first."""
    with _WARMING:
        if _READY.is_set():
            return
        for dtype in _BITS:
            x = torch.zeros(1, 2, 2, 2, dtype=dtype).contiguous(memory_format=torch.channels_last).requires_grad_()
            _MaxPool2x2.apply(x).sum().backward()
        weight = torch.zeros(1, 1, 3, 3, requires_grad=True)
        _ConvPoolReLU.apply(torch.zeros(1, 1, 2, 2), weight, torch.ones(1, requires_grad=True)).sum().backward()
        _READY.set()


def fits(x: torch.Tensor) -> bool:
    """Whether the kernels above can pool `x`."""
    return (
        x.device.type == "cpu"
        and x.dtype in _BITS
        and x.dim() == 4
        and x.shape[2] % 2 == 0
        and x.shape[3] % 2 == 0
        and x.is_contiguous(memory_format=torch.channels_last)
    )


class MaxPool2x2(nn.Module):
    """nn.MaxPool2d(2), computed by the kernels above in training and under inference_mode (evaluation)."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self._kernels() and fits(x):
            return _MaxPool2x2.apply(x)
        return F.max_pool2d(x, 2)

    def _kernels(self) -> bool:
        return self.training or torch.is_inference_mode_enabled()


def install(model: TutorialCNN) -> TutorialCNN:
    """From now on compute `model` with the kernels: the same function and weights, a faster CPU training."""
    warm_up()
    model.pool = MaxPool2x2()
    model.features = types.MethodType(_features, model)
    return model


def uninstall(model: TutorialCNN) -> TutorialCNN:
    """`model` computed by PyTorch's own layers again (nothing to do if the kernels were not installed)."""
    if isinstance(model.pool, MaxPool2x2):
        model.pool = nn.MaxPool2d(2)
    model.__dict__.pop("features", None)  # TutorialCNN.features again
    return model


def _features(model: TutorialCNN, pixels: torch.Tensor) -> torch.Tensor:
    """TutorialCNN.features, pooling before each ReLU (max-pooling and ReLU commute, so the ReLU runs on a
    quarter of the pixels), with the first layer in one fused kernel where it fits."""
    p1 = first_layer(model, normalize(pixels).contiguous(memory_format=torch.channels_last))
    p2 = torch.relu(model.pool(model.conv2(p1)))
    return torch.flatten(torch.relu(model.conv3(p2)), 1)


def first_layer(model: TutorialCNN, x: torch.Tensor) -> torch.Tensor:
    """relu(pool(conv1(x))) for normalised `x`: one fused kernel where it fits, else PyTorch's layers."""
    if model.pool._kernels() and _first_layer_fits(model.conv1, x):
        return _ConvPoolReLU.apply(x, model.conv1.weight, model.conv1.bias)
    return torch.relu(model.pool(model.conv1(x)))


def _first_layer_fits(conv: nn.Conv2d, x: torch.Tensor) -> bool:
    """Whether the fused kernel can compute conv and the pooling for `x`: a one-channel fp32 CPU input that needs
    no gradient (saliency does), even-sized, and a 3x3 fp32 convolution with padding 1 and a bias."""
    return (
        x.device.type == "cpu"
        and x.dtype == torch.float32
        and x.dim() == 4
        and x.shape[1] == 1
        and x.shape[2] % 2 == 0
        and x.shape[3] % 2 == 0
        and not x.requires_grad
        and conv.weight.dtype == torch.float32
        and conv.weight.shape[1:] == (1, 3, 3)
        and conv.bias is not None
        and conv.padding == (1, 1)
        and conv.padding_mode == "zeros"
        and conv.stride == (1, 1)
        and conv.dilation == (1, 1)
        and conv.groups == 1
    )
