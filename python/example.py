#!/usr/bin/env python3
"""example.py: train a small VAE from Python on an IDX data folder, save it, load it back, and use it.

    python3 python/example.py --data data/mnist --out model.safetensors --epochs 2

Trains with libvae's own epoch order and noise (libvae.Trainer: the same run as `vae train` with the same
flags and seed), prints the training objective and the test set's negative ELBO per epoch (nats per image),
saves the checkpoint (which `vae sample`, `vae decode` and the rest read), then loads it, encodes three test
images, decodes their means and draws three samples. Uses libvae.so through python/libvae (see its
docstring for how the library is found: LIBVAE_LIBRARY, a source tree's build/, or the installed one).
"""
import argparse
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import libvae  # noqa: E402
import numpy as np  # noqa: E402


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--data", required=True, help="IDX data folder (train-images-idx3-ubyte, t10k-...)")
    ap.add_argument("--out", required=True, help="checkpoint to write")
    ap.add_argument("--epochs", type=int, default=2)
    ap.add_argument("--hidden", type=int, default=400)
    ap.add_argument("--latent", type=int, default=20)
    ap.add_argument("--batch", type=int, default=128)
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--threads", type=int, default=1)
    a = ap.parse_args()

    print(f"libvae {libvae.__version__}")
    libvae.set_threads(a.threads)
    x, _ = libvae.load_split(a.data, "train")
    xt, _ = libvae.load_split(a.data, "test")
    h, w = 28, 28
    side = int(round(np.sqrt(x.shape[1])))
    if side * side == x.shape[1]:
        h = w = side
    with libvae.Model.create(height=h, width=w, hidden=(a.hidden,), latent=a.latent, max_batch=max(a.batch, 1000),
                             seed=a.seed) as m:
        trainer = libvae.Trainer(m, x, batch=min(a.batch, x.shape[0]), seed=a.seed)
        for epoch in range(1, a.epochs + 1):
            train_loss = trainer.run_epoch()
            test = m.evaluate(xt)
            print(f"epoch {epoch}  train_loss {train_loss:.3f}  test_loss {test['loss']:.3f} "
                  f"(recon {test['recon']:.3f}, kl {test['kl']:.3f})")
        m.save(a.out)
    with libvae.Model.load(a.out) as m:
        mu, logvar = m.encode(xt[:3])
        recon = m.decode(mu)
        err = np.abs(recon - xt[:3]).mean(axis=1)
        print("mean absolute reconstruction error of test images 0-2:", " ".join(f"{e:.4f}" for e in err))
        samples = m.sample(3, seed=1)
        print(f"3 samples: {samples.shape[0]} images of {samples.shape[1]} values in "
              f"[{samples.min():.3f}, {samples.max():.3f}]")
    try:
        libvae.Model.load(a.out + ".missing")
    except libvae.VaeError as e:
        print("errors come as libvae.VaeError:", e)


if __name__ == "__main__":
    main()
