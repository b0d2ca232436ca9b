#!/usr/bin/python3
"""The PyTorch example's VAE (pytorch/examples, vae/main.py: 784-400-20, ReLU, Bernoulli on grey values,
sum-reduced loss, Adam lr 1e-3, batch 128, shuffled) on the same IDX files, to compare test losses on this
machine. Run with Debian's python3 (python3-torch):

    /usr/bin/python3 bench/pytorch_reference.py data/mnist [epochs] [seed] [threads]

Prints one line per epoch: train average loss and test-set loss, in nats per image."""
import gzip, os, struct, sys, time
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


def main():
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
