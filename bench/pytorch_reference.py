#!/usr/bin/python3
"""The PyTorch example's VAE (pytorch/examples, vae/main.py: 784-400-20, ReLU, Bernoulli on grey values,
sum-reduced loss, Adam lr 1e-3, batch 128, shuffled) on the same IDX files, to compare test losses on this
machine. Run with Debian's python3 (python3-torch):

    /usr/bin/python3 bench/pytorch_reference.py data/mnist [epochs] [seed] [threads]

Prints one line per epoch: train average loss and test-set loss, in nats per image.

    /usr/bin/python3 bench/pytorch_reference.py --bench mlp|conv data/mnist [torch_threads] [seconds_per_round]

times training steps (batch 128: forward, backward, Adam, on real MNIST batches) of the MLP above or of
libvae's `--arch conv` model (docs/conv.md: conv 3x3 stride 2 1->32->64 + ReLU, a dense head to 2x20, a
dense projection back to 7x7x64 + ReLU, transposed conv 4x4 stride 2 64->32 + ReLU -> 1 logits; Bernoulli
loss from the logits), NCHW and channels-last, and prints the best round's images/s as JSON. The BLAS
thread count comes from the environment (OPENBLAS_NUM_THREADS, OMP_NUM_THREADS): bench/run tries the
configurations and keeps the best."""
import gzip, json, os, struct, sys, time
import torch
import torch.nn.functional as F
from torch import nn, optim


def read_idx(path):
    if not os.path.exists(path):
        path += ".gz"
    data = (gzip.open if path.endswith(".gz") else open)(path, "rb").read()
    ndim = data[3]
    dims = struct.unpack(">" + "I" * ndim, data[4:4 + 4 * ndim])
    return torch.frombuffer(bytearray(data[4 + 4 * ndim:]), dtype=torch.uint8).reshape(dims)


class VAE(nn.Module):
    def __init__(self):
        super().__init__()
        self.fc1, self.fc21, self.fc22 = nn.Linear(784, 400), nn.Linear(400, 20), nn.Linear(400, 20)
        self.fc3, self.fc4 = nn.Linear(20, 400), nn.Linear(400, 784)

    def forward(self, x):
        h1 = F.relu(self.fc1(x))
        mu, logvar = self.fc21(h1), self.fc22(h1)
        z = mu + torch.randn_like(mu) * torch.exp(0.5 * logvar)
        return torch.sigmoid(self.fc4(F.relu(self.fc3(z)))), mu, logvar


def loss_function(recon_x, x, mu, logvar):
    bce = F.binary_cross_entropy(recon_x, x, reduction="sum")
    kld = -0.5 * torch.sum(1 + logvar - mu.pow(2) - logvar.exp())
    return bce + kld


class ConvVAE(nn.Module):
    def __init__(self):
        super().__init__()
        self.c1, self.c2 = nn.Conv2d(1, 32, 3, 2, 1), nn.Conv2d(32, 64, 3, 2, 1)
        self.head, self.proj = nn.Linear(7 * 7 * 64, 40), nn.Linear(20, 7 * 7 * 64)
        self.d1, self.d2 = nn.ConvTranspose2d(64, 32, 4, 2, 1), nn.ConvTranspose2d(32, 1, 4, 2, 1)

    def forward(self, x):
        h = F.relu(self.c2(F.relu(self.c1(x))))
        mu, logvar = self.head(h.flatten(1)).chunk(2, dim=1)
        z = mu + torch.randn_like(mu) * torch.exp(0.5 * logvar)
        h = F.relu(self.proj(z)).view(-1, 64, 7, 7)
        return self.d2(F.relu(self.d1(h))), mu, logvar


def bench(arch, folder, threads, round_s):
    torch.set_num_threads(threads)
    torch.manual_seed(1)
    train = read_idx(f"{folder}/train-images-idx3-ubyte").float() / 255
    best = {}
    for layout in ("nchw", "channels_last") if arch == "conv" else ("dense",):
        model = VAE() if arch == "mlp" else ConvVAE()
        fmt = torch.channels_last if layout == "channels_last" else torch.contiguous_format
        if arch == "conv":
            model = model.to(memory_format=fmt)
        opt = optim.Adam(model.parameters(), lr=1e-3)
        order = torch.randperm(len(train))
        step = 0

        def train_step():
            nonlocal step
            idx = order[(step * 128) % (len(train) - 128):][:128]
            step += 1
            x = train[idx]
            x = x.reshape(-1, 784) if arch == "mlp" else x.reshape(-1, 1, 28, 28).contiguous(memory_format=fmt)
            opt.zero_grad()
            out, mu, logvar = model(x)
            if arch == "mlp":
                loss = loss_function(out, x, mu, logvar)
            else:
                loss = F.binary_cross_entropy_with_logits(out, x, reduction="sum") - \
                    0.5 * torch.sum(1 + logvar - mu.pow(2) - logvar.exp())
            loss.backward()
            opt.step()

        for _ in range(5):
            train_step()
        for _ in range(3):
            n, t0 = 0, time.perf_counter()
            while time.perf_counter() - t0 < round_s:
                train_step()
                n += 1
            best[layout] = max(best.get(layout, 0), n * 128 / (time.perf_counter() - t0))
    layout = max(best, key=best.get)
    print(json.dumps({"arch": arch, "torch_threads": threads, "blas_threads": os.environ.get("OPENBLAS_NUM_THREADS"),
                      "layout": layout, "train_ips": round(best[layout]), "by_layout": {k: round(v) for k, v in best.items()}}))


def main():
    if sys.argv[1] == "--bench":
        bench(sys.argv[2], sys.argv[3], int(sys.argv[4]) if len(sys.argv) > 4 else 1,
              float(sys.argv[5]) if len(sys.argv) > 5 else 1.0)
        return
    folder = sys.argv[1]
    epochs = int(sys.argv[2]) if len(sys.argv) > 2 else 10
    seed = int(sys.argv[3]) if len(sys.argv) > 3 else 1
    torch.set_num_threads(int(sys.argv[4]) if len(sys.argv) > 4 else 2)
    torch.manual_seed(seed)
    train = read_idx(f"{folder}/train-images-idx3-ubyte").reshape(-1, 784).float() / 255
    test = read_idx(f"{folder}/t10k-images-idx3-ubyte").reshape(-1, 784).float() / 255
    model = VAE()
    opt = optim.Adam(model.parameters(), lr=1e-3)
    for epoch in range(1, epochs + 1):
        t0 = time.time()
        model.train()
        total = 0.0
        for idx in torch.randperm(len(train)).split(128):
            x = train[idx]
            opt.zero_grad()
            recon, mu, logvar = model(x)
            loss = loss_function(recon, x, mu, logvar)
            loss.backward()
            total += loss.item()
            opt.step()
        model.eval()
        test_total = 0.0
        with torch.no_grad():
            for i in range(0, len(test), 128):
                x = test[i:i + 128]
                recon, mu, logvar = model(x)
                test_total += loss_function(recon, x, mu, logvar).item()
        print(f"epoch {epoch} train_loss {total / len(train):.4f} test_loss {test_total / len(test):.4f} "
              f"{time.time() - t0:.1f} s", flush=True)


if __name__ == "__main__":
    main()
