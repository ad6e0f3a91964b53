#!/usr/bin/python3
"""PyTorch (CPU) baseline for bench/cnn.R: images per second of plain and PGD-10
adversarial training of the same small CNN and MLP, float32 and float64.

Run: /usr/bin/python3 bench/cnn_torch.py [threads] [repeats]
(Debian's python3-torch lives in the system python, not the pyenv one on PATH.)
Prints one CSV line per configuration: model,mode,dtype,threads,images_per_second (median).
"""
import sys
import time
import statistics
import torch
import torch.nn as nn
import torch.nn.functional as F

threads = int(sys.argv[1]) if len(sys.argv) > 1 else 1
repeats = int(sys.argv[2]) if len(sys.argv) > 2 else 3
torch.set_num_threads(threads)
torch.manual_seed(1)


def small_cnn():
    return nn.Sequential(
        nn.Conv2d(1, 16, 5, padding=2), nn.ReLU(), nn.MaxPool2d(2),
        nn.Conv2d(16, 32, 5, padding=2), nn.ReLU(), nn.MaxPool2d(2),
        nn.Flatten(), nn.Linear(32 * 7 * 7, 10))


def mlp():
    return nn.Sequential(nn.Flatten(), nn.Linear(784, 1024), nn.ReLU(), nn.Linear(1024, 2))


def pgd(model, x, y, eps, steps, norm):
    alpha = 2 * eps / steps
    if norm == "linf":
        delta = (torch.rand_like(x) * 2 - 1) * eps
    else:
        z = torch.randn_like(x)
        r = eps * torch.rand(x.shape[0], 1, 1, 1, dtype=x.dtype) ** (1 / x[0].numel())
        delta = z / z.flatten(1).norm(dim=1).view(-1, 1, 1, 1) * r
    delta = ((x + delta).clamp(0, 1) - x).detach()
    for _ in range(steps):
        delta.requires_grad_(True)
        loss = F.cross_entropy(model(x + delta), y, reduction="sum")
        g, = torch.autograd.grad(loss, delta)
        with torch.no_grad():
            if norm == "linf":
                delta = (delta + alpha * g.sign()).clamp(-eps, eps)
            else:
                gn = g.flatten(1).norm(dim=1).clamp_min(1e-30).view(-1, 1, 1, 1)
                delta = delta + alpha * g / gn
                dn = delta.flatten(1).norm(dim=1).view(-1, 1, 1, 1)
                delta = delta * torch.clamp(eps / dn.clamp_min(1e-30), max=1.0)
            delta = ((x + delta).clamp(0, 1) - x)
    return (x + delta).detach()


def bench(make, classes, mode, dtype, n=512, batch=128, norm="linf", eps=0.1):
    model = make().to(dtype)
    opt = torch.optim.SGD(model.parameters(), lr=0.01, momentum=0.9)
    x = torch.rand(n, 1, 28, 28, dtype=dtype)
    y = torch.randint(0, classes, (n,))
    rates = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        for s in range(0, n, batch):
            xb, yb = x[s:s + batch], y[s:s + batch]
            if mode == "pgd10":
                model.eval()
                xb = pgd(model, xb, yb, eps, 10, norm)
                model.train()
            opt.zero_grad()
            F.cross_entropy(model(xb), yb).backward()
            opt.step()
        rates.append(n / (time.perf_counter() - t0))
    return statistics.median(rates)


print("model,mode,dtype,threads,images_per_second")
for dtype, dname in [(torch.float32, "float32"), (torch.float64, "float64")]:
    for mode in ["plain", "pgd10"]:
        n = 512 if mode == "plain" else 128
        r = bench(small_cnn, 10, mode, dtype, n=n)
        print(f"cnn,{mode},{dname},{threads},{r:.1f}", flush=True)
    r = bench(mlp, 2, "pgd10", dtype, n=256, norm="l2", eps=1.0)
    print(f"mlp,pgd10,{dname},{threads},{r:.1f}", flush=True)
