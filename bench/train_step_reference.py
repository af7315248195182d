"""PyTorch reference for bench/train-step.ts: the same U-Net family, data and loss, on the CPU.

Usage: train_step_reference.py <model: unet|attention-unet|unet25d> <batch file> <steps> [threads]
The batch file holds float32 x [N,H,W,K] then y [N,H,W,1] (NHWC, as the TypeScript side writes it).
Prints one JSON line: step and inference times (ms), peak RSS (MB), versions.
"""
import json
import resource
import sys
import time

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F


def conv_bn_relu(cin, cout, k=3, relu=True):
    layers = [nn.Conv2d(cin, cout, k, padding=k // 2, bias=False), nn.BatchNorm2d(cout, eps=1e-5, momentum=0.1)]
    if relu:
        layers.append(nn.ReLU(inplace=True))
    return nn.Sequential(*layers)


class DoubleConv(nn.Sequential):
    def __init__(self, cin, cout):
        super().__init__(conv_bn_relu(cin, cout), conv_bn_relu(cout, cout))


class AttentionGate(nn.Module):
    def __init__(self, c):
        super().__init__()
        inter = max(1, c // 2)
        self.wg = conv_bn_relu(c, inter, 1, relu=False)
        self.wx = conv_bn_relu(c, inter, 1, relu=False)
        self.psi = conv_bn_relu(inter, 1, 1, relu=False)

    def forward(self, g, x):
        return x * torch.sigmoid(self.psi(F.relu(self.wg(g) + self.wx(x))))


class UNet(nn.Module):
    def __init__(self, cin, base, depth, attention):
        super().__init__()
        ch = [base * 2**i for i in range(depth)]
        self.enc = nn.ModuleList([DoubleConv(cin if i == 0 else ch[i - 1], c) for i, c in enumerate(ch)])
        self.ups = nn.ModuleList([nn.ConvTranspose2d(ch[i + 1], ch[i], 2, stride=2) for i in reversed(range(depth - 1))])
        self.gates = nn.ModuleList([AttentionGate(ch[i]) if attention else nn.Identity() for i in reversed(range(depth - 1))])
        self.dec = nn.ModuleList([DoubleConv(2 * ch[i], ch[i]) for i in reversed(range(depth - 1))])
        self.head = nn.Conv2d(ch[0], 1, 1)
        self.attention = attention

    def forward(self, x):
        feats = []
        h = x
        for i, e in enumerate(self.enc):
            h = e(h if i == 0 else F.max_pool2d(h, 2))
            feats.append(h)
        y = feats[-1]
        for j, (up, gate, dec) in enumerate(zip(self.ups, self.gates, self.dec)):
            skip = feats[len(feats) - 2 - j]
            u = up(y)
            s = gate(u, skip) if self.attention else skip
            y = dec(torch.cat([u, s], 1))
        return self.head(y)


def loss_fn(logits, y):
    p = torch.sigmoid(logits)
    bce = F.binary_cross_entropy_with_logits(logits, y)
    dice = 1 - (2 * (p * y).sum() + 1) / (p.sum() + y.sum() + 1)
    return bce + dice


def main():
    model_name, batch_file, steps = sys.argv[1], sys.argv[2], int(sys.argv[3])
    threads = int(sys.argv[4]) if len(sys.argv) > 4 else 2
    torch.set_num_threads(threads)
    torch.manual_seed(0)
    meta = json.load(open(batch_file + '.json'))
    n, h, w, k = meta['shape']
    raw = np.fromfile(batch_file, dtype=np.float32)
    x = torch.from_numpy(raw[: n * h * w * k].reshape(n, h, w, k).transpose(0, 3, 1, 2).copy())
    y = torch.from_numpy(raw[n * h * w * k :].reshape(n, h, w, 1).transpose(0, 3, 1, 2).copy())
    model = UNet(k, meta['baseFilters'], meta['depth'], model_name == 'attention-unet')
    opt = torch.optim.Adam(model.parameters(), lr=1e-3)

    def step():
        opt.zero_grad(set_to_none=True)
        loss = loss_fn(model(x), y)
        loss.backward()
        opt.step()
        return float(loss)

    def timed(f):
        # Fastest repetition (wall and CPU time), as on the TypeScript side: the machine is shared.
        wall, cpu, out = float('inf'), float('inf'), None
        for _ in range(steps):
            t, c = time.perf_counter(), time.process_time()
            out = f()
            wall = min(wall, (time.perf_counter() - t) * 1000)
            cpu = min(cpu, (time.process_time() - c) * 1000)
        return wall, cpu, out

    model.train()
    step()
    step()
    train_ms, train_cpu_ms, last_loss = timed(step)
    model.eval()
    with torch.no_grad():
        model(x)
        infer_ms, infer_cpu_ms, _ = timed(lambda: model(x))
    blas = 'openblas' if 'openblas' in open('/proc/self/maps').read() else 'reference'
    print(json.dumps({
        'model': model_name,
        'trainMs': train_ms,
        'trainCpuMs': train_cpu_ms,
        'inferMs': infer_ms,
        'inferCpuMs': infer_cpu_ms,
        'peakRssMb': resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
        'lastLoss': last_loss,
        'torch': torch.__version__,
        'blas': blas,
        'mkldnn': torch.backends.mkldnn.is_available(),
        'threads': torch.get_num_threads(),
    }))


if __name__ == '__main__':
    main()
