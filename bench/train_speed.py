"""One training epoch: the tutorial's loop versus the default engine, measured in the same run.

    python bench/train_speed.py --data-dir data [--device cpu|cuda|all]

The tutorial's loop: torchvision MNIST with ToTensor, a shuffled DataLoader at batch 64, Adam 1e-3,
then a validation pass, on the same 48k/12k split. The engine: `src.training.train_epochs` with the
default recipe (augmentation included), which includes its own validation pass.
"""

import argparse
import os
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

import torch
import torch.nn.functional as F
from torch.utils.data import DataLoader, random_split
from torchvision import datasets, transforms

from src import config
from src.data import load_mnist
from src.training import TrainConfig, train_epochs
from src.model import TutorialCNN


def tutorial_epoch(data_dir: str, device: torch.device) -> float:
    """Seconds for one epoch of the tutorial's recipe (train on 48k, validate on 12k)."""
    ds = datasets.MNIST(data_dir, train=True, download=True, transform=transforms.ToTensor())
    train_set, val_set = random_split(ds, [48000, 12000], generator=torch.Generator().manual_seed(0))
    train_loader = DataLoader(train_set, batch_size=64, shuffle=True)
    val_loader = DataLoader(val_set, batch_size=64)
    model = TutorialCNN().to(device)
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-3)
    start = time.perf_counter()
    model.train()
    for images, labels in train_loader:
        images, labels = images.to(device), labels.to(device)
        loss = F.cross_entropy(model(images), labels)
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
    model.eval()
    with torch.no_grad():
        for images, labels in val_loader:
            model(images.to(device)).argmax(1).eq(labels.to(device)).sum().item()
    if device.type == "cuda":
        torch.cuda.synchronize()
    return time.perf_counter() - start


def engine_epochs(data_dir: str, device: torch.device, epochs: int = 2) -> list[float]:
    """Seconds for each of `epochs` epochs of the default recipe (data load excluded, as it happens once)."""
    data = load_mnist(data_dir, device=device)
    cfg = TrainConfig(epochs=epochs)
    times = []
    start = time.perf_counter()
    for _ in train_epochs(TutorialCNN(), data, cfg):
        if device.type == "cuda":
            torch.cuda.synchronize()
        times.append(time.perf_counter() - start)
        start = time.perf_counter()
    return times


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--data-dir", default=config.DATA_DIR)
    p.add_argument("--device", default="cpu", help="cpu, cuda or all")
    args = p.parse_args()
    devices = ["cpu", "cuda"] if args.device == "all" else [args.device]
    print(f"torch {torch.__version__}, {torch.get_num_threads()} CPU threads")
    for name in devices:
        if name == "cuda" and not torch.cuda.is_available():
            print("cuda: not available, skipped")
            continue
        device = torch.device(name)
        label = torch.cuda.get_device_name() if name == "cuda" else "cpu"
        tutorial = tutorial_epoch(args.data_dir, device)
        engine = engine_epochs(args.data_dir, device)
        best = min(engine)  # the first CUDA epoch includes kernel warm-up
        print(f"[{label}] tutorial loop: {tutorial:.2f} s/epoch | engine: {best:.2f} s/epoch "
              f"(epochs: {', '.join(f'{t:.2f}' for t in engine)}) | speed-up {tutorial / best:.2f}x")


if __name__ == "__main__":
    main()
