"""test_python.py: the Python bindings (python/libvae) against the vae command-line tool.

Run by tests/test_python.sh with Debian's python3 and python3-numpy:
    test_python.py VAE DATA TMP VERSION
VAE the vae binary, DATA a small IDX data folder, TMP a scratch folder, VERSION include/vae.h's version.
Checks, each against the CLI on the same files: training (parameters bit for bit after two epochs: plain;
with dynamic binarization, KL warm-up, beta and a learning-rate schedule; conditional; train_loss as
metrics.jsonl prints it), evaluate (vae eval's figures for each of those models), encode and decode (bit for
bit), sample (the draws of vae
sample), save and load, errors raised with libvae's message, libvae.__version__. Prints "N passed, N failed".
"""
import json
import os
import subprocess
import sys

import numpy as np

VAE, DATA, TMP, VERSION = sys.argv[1:5]
sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "python"))
import libvae  # noqa: E402

passed = failed = 0


def check(what, cond, detail=""):
    global passed, failed
    if cond:
        passed += 1
    else:
        failed += 1
        print(f"FAIL: {what}{': ' + detail if detail else ''}", file=sys.stderr)


def vae(*args):
    return subprocess.run([VAE, *args], check=True, capture_output=True, text=True).stdout


def same_bits(a, b):
    a, b = np.asarray(a, np.float32), np.asarray(b, np.float32)
    return a.shape == b.shape and np.array_equal(a.view(np.uint32), b.view(np.uint32))


def csv_floats(path, skip_header=False):
    rows = open(path).read().split("\n")[1 if skip_header else 0:]
    return np.array([[np.float32(v) for v in r.split(",")] for r in rows if r], dtype=np.float32)


libvae.set_threads(1)
check("libvae.__version__ is the header's version", libvae.__version__ == VERSION, libvae.__version__)
for name in ("openblas", "auto"):
    check(f"set_engine({name!r}) picks an engine", libvae.set_engine(name) in ("openblas", "dnnl", "blis"))
try:
    libvae.set_engine("no-such-engine")
    check("an unknown engine raises VaeError", False, "no exception")
except libvae.VaeError as e:
    check("an unknown engine raises VaeError naming it", "no-such-engine" in str(e), str(e))
check("libvae.__version__ is what vae --version reports",
      vae("--version").strip() == f"vae {VERSION} (libvae {libvae.__version__})")

x_train, y_train = libvae.load_split(DATA, "train")
x_test, y_test = libvae.load_split(DATA, "test")

# ---------------------------------------------------------------- training: the CLI's run, bit for bit
runs = [("plain", ["--seed", "3"], dict(seed=3)),
        ("binarize+warmup+beta+schedule",
         ["--seed", "5", "--binarize", "dynamic", "--kl-warmup", "1", "--beta", "0.5", "--lr-schedule",
          "1:2e-3,1:5e-4"],
         dict(seed=5, binarize=True, kl_warmup=1, beta=0.5, lr_schedule="1:2e-3,1:5e-4")),
        ("conditional", ["--seed", "2", "--conditional"], dict(seed=2))]
for name, flags, kw in runs:
    run = os.path.join(TMP, "run-" + name.replace("+", "-"))
    vae("train", "--data", DATA, "--out", run, "--epochs", "2", "--batch", "64", "--hidden", "64", "--latent", "4",
        "--threads", "1", *flags)
    m = libvae.Model.create(hidden=(64,), latent=4, max_batch=64, seed=kw["seed"],
                            classes=10 if name == "conditional" else 0)
    t = libvae.Trainer(m, x_train, y_train, batch=64, **kw)
    losses = [t.run_epoch() for _ in range(2)]
    cli = libvae.Model.load(os.path.join(run, "model.safetensors"))
    check(f"training ({name}): the parameters after 2 epochs equal the CLI's bit for bit",
          same_bits(m.parameters(), cli.parameters()),
          f"max difference {np.max(np.abs(m.parameters() - cli.parameters()))}")
    metrics = [json.loads(ln) for ln in open(os.path.join(run, "metrics.jsonl"))]
    check(f"training ({name}): train_loss of each epoch equals metrics.jsonl's",
          [f"{v:.6f}" for v in losses] == [f"{r['train_loss']:.6f}" for r in metrics],
          f"{losses} vs {[r['train_loss'] for r in metrics]}")
    check(f"training ({name}): Adam steps", m.steps == 2 * t.n_batches, str(m.steps))
    ev = json.loads(vae("eval", "--model", os.path.join(run, "model.safetensors"), "--data", DATA, "--threads", "1"))
    mine = cli.evaluate(x_test, y_test)
    check(f"evaluate ({name}): n, loss, recon and kl as vae eval prints them",
          ev["n"] == mine["n"] and all(f"{ev[k]:.6f}" == f"{mine[k]:.6f}" for k in ("loss", "recon", "kl")),
          f"{ev} vs { {k: mine[k] for k in ('n', 'loss', 'recon', 'kl')} }")

model_path = os.path.join(TMP, "run-plain", "model.safetensors")
m = libvae.Model.load(model_path)

# ---------------------------------------------------------------- encode, decode, evaluate, sample
vae("encode", "--model", model_path, "--data", DATA, "--out", os.path.join(TMP, "enc.csv"), "--threads", "1")
enc = csv_floats(os.path.join(TMP, "enc.csv"), skip_header=True)
mu, logvar = m.encode(x_test)
check("encode: mu equals vae encode's bit for bit", same_bits(mu, enc[:, 2:6]))
check("encode: logvar equals vae encode's bit for bit", same_bits(logvar, enc[:, 6:10]))
check("encode: labels as vae encode writes them", np.array_equal(enc[:, 1].astype(np.int32), y_test))

for z in (mu[0], np.array([0.5, -1.0, 2.0, 0.0], np.float32)):
    zs = ",".join(f"{v:.9g}" for v in z)
    vae("decode", "--model", model_path, "--z", zs, "--out", os.path.join(TMP, "dec.csv"))
    check(f"decode z = {zs}: equals vae decode's bit for bit",
          same_bits(m.decode(z)[0], csv_floats(os.path.join(TMP, "dec.csv"))[0]))

z0 = libvae.Rng(7).normal(4)
vae("decode", "--model", model_path, "--z", ",".join(f"{v:.9g}" for v in z0), "--out", os.path.join(TMP, "s.csv"))
# (one row each: a product's rounding may depend on the number of rows)
check("sample: the image of seed 7 is the decoded first draw of vae sample --seed 7",
      same_bits(m.sample(1, seed=7)[0], csv_floats(os.path.join(TMP, "s.csv"))[0]))
check("sample: n draws of seed 7 are the first n of vae sample --seed 7 (one vae_rng_normal each)",
      same_bits(m.sample(3, seed=7), m.decode(libvae.Rng(7).normal(12).reshape(3, 4))))

big = np.tile(x_test, (13, 1))[:2500]  # more rows than max_batch (1000): calls of 1000, 1000 and 500 rows
parts = [m.encode(big[a:a + 1000])[0] for a in (0, 1000, 2000)]
check("encode beyond max_batch: chunks of max_batch rows", same_bits(m.encode(big)[0], np.concatenate(parts)))

# ---------------------------------------------------------------- save and load
saved = os.path.join(TMP, "py.safetensors")
m.save(saved)
check("save then load gives the same parameters", same_bits(libvae.Model.load(saved).parameters(), m.parameters()))
vae("decode", "--model", saved, "--z", "0.5,-1,2,0", "--out", os.path.join(TMP, "d2.csv"))
check("the CLI decodes a checkpoint saved from Python as the model does",
      same_bits(csv_floats(os.path.join(TMP, "d2.csv"))[0], m.decode(np.array([0.5, -1, 2, 0], np.float32))[0]))

# ---------------------------------------------------------------- errors
missing = os.path.join(TMP, "no-such-model.safetensors")
try:
    libvae.Model.load(missing)
    check("loading a missing file raises VaeError", False, "no exception")
except libvae.VaeError as e:
    check("loading a missing file raises VaeError naming the file", missing in str(e) and e.status == 3, str(e))
try:
    libvae.Model.create(latent=0)
    check("a bad configuration raises VaeError", False, "no exception")
except libvae.VaeError as e:
    check("a bad configuration raises VaeError with libvae's message (ARG)", e.status == 1 and "latent" in str(e),
          str(e))
try:
    m.decode(np.zeros((2, 5), np.float32))
    check("decode with rows of the wrong width raises ValueError", False, "no exception")
except ValueError as e:
    check("decode with rows of the wrong width raises ValueError", "4" in str(e), str(e))

print(f"{passed} passed, {failed} failed")
sys.exit(1 if failed else 0)
