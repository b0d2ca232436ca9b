#!/usr/bin/python3
"""torch_interop.py: libvae checkpoints in PyTorch and PyTorch models in libvae.

Run it with Debian's python3 (/usr/bin/python3), which sees the python3-torch package; another python3
that comes first on PATH may not. It parses safetensors itself (8-byte little-endian header length, JSON
header, raw little-endian data), since Debian has no safetensors package, and IDX data files (raw or gzip).

The torch module mirrors libvae's MLP (src/model.h), and its state_dict keys are libvae's tensor names, so
a checkpoint maps one to one (docs/checkpoint.md, "Tensors and metadata of a libvae model"):

    enc.fc1 .. enc.fcN   nn.Linear, hidden widths in encoder order, input D + K (image, one-hot label)
    enc.head             nn.Linear to 2Z: rows 0..Z-1 give mu, rows Z..2Z-1 logvar (clamped to [-30, 20])
    dec.fc1 .. dec.fcN   nn.Linear, widths reversed, input Z + K (z, one-hot label)
    dec.out              nn.Linear to D: Bernoulli logits (mean = sigmoid) or the Gaussian mean
    dec.logvar           (Gaussian only) nn.Parameter of shape [1], the learned log-variance

Modes:
  export-check  load a libvae checkpoint, encode the first N images of a data split (mu, logvar, written
                like `vae encode`) and decode seeded random latent vectors (written like `vae decode` to
                .csv, one row per vector; the vectors go to --z-out so `vae decode` can be run on them)
  torch-to-vae  build a torch model of a given architecture with torch's own initialisation (seeded),
                write it as a libvae checkpoint, and the same outputs as export-check
  compare       max absolute difference of two CSV files of the same shape (header rows must agree)

Example:
  /usr/bin/python3 scripts/torch_interop.py export-check --model run/model.safetensors --data data/mnist \\
      --n 16 --encode-out torch-enc.csv --z-out z.csv --decode-out torch-dec.csv
"""

import argparse
import csv
import gzip
import json
import os
import struct
import sys

torch = nn = None  # imported by import_torch() for the modes that need it (the import takes seconds)

LOGVAR_MIN, LOGVAR_MAX = -30.0, 20.0



def import_torch():
    global torch, nn
    import torch as torch_module
    from torch import nn as nn_module

    torch, nn = torch_module, nn_module


def dtypes():
    """safetensors dtypes read and written here, with torch dtypes and element sizes."""
    return {
        "F32": (torch.float32, 4),
        "F64": (torch.float64, 8),
        "I32": (torch.int32, 4),
        "I64": (torch.int64, 8),
        "U8": (torch.uint8, 1),
    }


# ---------------------------------------------------------------- safetensors


def read_safetensors(path):
    """Return (tensors: dict name -> torch tensor, metadata: dict of strings)."""
    with open(path, "rb") as f:
        blob = f.read()
    if len(blob) < 8:
        raise ValueError(f"{path}: shorter than the 8-byte header length")
    (n,) = struct.unpack("<Q", blob[:8])
    if n > len(blob) - 8:
        raise ValueError(f"{path}: header length {n} past the end of the file")
    header = json.loads(blob[8 : 8 + n].decode("utf-8"))
    data = blob[8 + n :]
    meta = header.pop("__metadata__", {}) or {}
    tensors = {}
    for name, info in header.items():
        dtype = info["dtype"]
        if dtype not in dtypes():
            raise ValueError(f"{path}: tensor '{name}' has dtype {dtype}, not supported here")
        torch_dtype, size = dtypes()[dtype]
        shape = [int(s) for s in info["shape"]]
        begin, end = (int(v) for v in info["data_offsets"])
        numel = 1
        for s in shape:
            numel *= s
        if not 0 <= begin <= end <= len(data) or end - begin != numel * size:
            raise ValueError(f"{path}: tensor '{name}': data_offsets [{begin}, {end}] do not fit")
        raw = bytearray(data[begin:end])  # a writable copy; the host is little-endian like the file
        if sys.byteorder != "little":
            raise SystemExit("torch_interop.py: big-endian hosts are not supported")
        t = torch.frombuffer(raw, dtype=torch_dtype) if numel else torch.zeros(0, dtype=torch_dtype)
        tensors[name] = t.reshape(shape).clone()
    return tensors, meta


def write_safetensors(path, tensors, meta):
    """Write tensors (dict name -> torch tensor, insertion order kept) and string metadata atomically."""
    names = {t: name for name, (t, _) in dtypes().items()}
    header = {"__metadata__": {k: str(v) for k, v in meta.items()}}
    chunks, offset = [], 0
    for name, t in tensors.items():
        t = t.detach().contiguous().cpu()
        raw = t.numpy().tobytes()  # host order = little-endian
        header[name] = {"dtype": names[t.dtype], "shape": list(t.shape), "data_offsets": [offset, offset + len(raw)]}
        chunks.append(raw)
        offset += len(raw)
    text = json.dumps(header, separators=(",", ":")).encode("utf-8")
    text += b" " * (-len(text) % 8)  # pad so the data block starts at a multiple of 8, as safetensors does
    tmp = path + ".tmp"
    with open(tmp, "wb") as f:
        f.write(struct.pack("<Q", len(text)))
        f.write(text)
        for c in chunks:
            f.write(c)
        f.flush()
        os.fsync(f.fileno())
    os.replace(tmp, path)


# ---------------------------------------------------------------- IDX data


def read_idx(path):
    """Read an IDX file (raw or gzip, decided by the magic bytes) into a torch tensor."""
    with open(path, "rb") as f:
        blob = f.read()
    if blob[:2] == b"\x1f\x8b":
        blob = gzip.decompress(blob)
    if len(blob) < 4 or blob[0] != 0 or blob[1] != 0:
        raise ValueError(f"{path}: not an IDX file")
    kind, ndim = blob[2], blob[3]
    dims = struct.unpack(">" + "I" * ndim, blob[4 : 4 + 4 * ndim])
    body = blob[4 + 4 * ndim :]
    numel = 1
    for d in dims:
        numel *= d
    if kind == 0x08:
        t = torch.frombuffer(bytearray(body[:numel]), dtype=torch.uint8)
    elif kind == 0x0D:
        t = torch.tensor(struct.unpack(">" + "f" * numel, body[: 4 * numel]), dtype=torch.float32)
    else:
        raise ValueError(f"{path}: IDX type 0x{kind:02x} is not supported")
    if t.numel() != numel:
        raise ValueError(f"{path}: truncated")
    return t.reshape(dims)


def find_file(folder, name):
    for candidate in (os.path.join(folder, name), os.path.join(folder, name + ".gz")):
        if os.path.exists(candidate):
            return candidate
    return None


def load_split(folder, split, n):
    """First n images of a split as (n, D) floats in [0, 1] (uint8 / 255, as libvae), and labels or None."""
    prefix = "train" if split == "train" else "t10k"
    images_path = find_file(folder, f"{prefix}-images-idx3-ubyte")
    if images_path is None:
        raise SystemExit(f"torch_interop.py: {folder}: no {prefix}-images-idx3-ubyte[.gz]")
    images = read_idx(images_path)
    if n > images.shape[0]:
        raise SystemExit(f"torch_interop.py: --n {n}: the {split} split holds only {images.shape[0]} images")
    x = images[:n].reshape(n, -1)
    x = x.to(torch.float32) / 255.0 if x.dtype == torch.uint8 else x.to(torch.float32)
    labels_path = find_file(folder, f"{prefix}-labels-idx1-ubyte")
    labels = read_idx(labels_path)[:n].to(torch.int64) if labels_path else None
    return x, labels, tuple(images.shape[1:])


# ---------------------------------------------------------------- the model


class VAE:
    """libvae's MLP VAE as a torch nn.Module tree whose state_dict keys are libvae's tensor names."""

    def __init__(self, cfg):
        self.cfg = cfg
        D = cfg["height"] * cfg["width"] * cfg["channels"]
        self.D, self.Z, self.K = D, cfg["latent"], cfg["classes"]
        hidden = cfg["hidden"]
        self.module = m = nn.Module()
        m.enc, m.dec = nn.Module(), nn.Module()
        width = D + self.K
        for i, h in enumerate(hidden):  # enc.fc1 .. enc.fcN, then enc.head
            setattr(m.enc, f"fc{i + 1}", nn.Linear(width, h))
            width = h
        m.enc.head = nn.Linear(width, 2 * self.Z)
        width = self.Z + self.K
        for i, h in enumerate(reversed(hidden)):  # dec.fc1 .. dec.fcN, then dec.out
            setattr(m.dec, f"fc{i + 1}", nn.Linear(width, h))
            width = h
        m.dec.out = nn.Linear(width, D)
        if cfg["likelihood"] == "gaussian":
            m.dec.logvar = nn.Parameter(torch.zeros(1))  # libvae starts at unit variance
        self.act = torch.tanh if cfg["activation"] == "tanh" else torch.relu
        m.eval()

    def onehot(self, labels, n):
        if labels is None:
            raise SystemExit("torch_interop.py: the conditional model needs labels")
        return nn.functional.one_hot(labels.to(torch.int64), self.K).to(torch.float32).reshape(n, self.K)

    def encode(self, x, labels=None):
        """(mu, logvar), each (B, Z); logvar clamped to [-30, 20]; an autoencoder's logvar is 0."""
        enc = self.module.enc
        h = x if self.K == 0 else torch.cat([x, self.onehot(labels, x.shape[0])], dim=1)
        for i in range(len(self.cfg["hidden"])):
            h = self.act(getattr(enc, f"fc{i + 1}")(h))
        head = enc.head(h)
        mu, logvar = head[:, : self.Z], head[:, self.Z :].clamp(LOGVAR_MIN, LOGVAR_MAX)
        if self.cfg["ae"]:
            logvar = torch.zeros_like(logvar)
        return mu, logvar

    def decode(self, z, labels=None):
        """The decoder's mean (B, D): sigmoid of the logits (Bernoulli) or the Gaussian mean."""
        dec = self.module.dec
        h = z if self.K == 0 else torch.cat([z, self.onehot(labels, z.shape[0])], dim=1)
        for i in range(len(self.cfg["hidden"])):
            h = self.act(getattr(dec, f"fc{i + 1}")(h))
        out = dec.out(h)
        return torch.sigmoid(out) if self.cfg["likelihood"] == "bernoulli" else out


def config_from_meta(meta, path):
    try:
        cfg = {
            "height": int(meta["height"]),
            "width": int(meta["width"]),
            "channels": int(meta["channels"]),
            "hidden": [int(h) for h in meta["hidden"].split(",")] if meta["hidden"] else [],
            "latent": int(meta["latent"]),
            "classes": int(meta["classes"]),
            "likelihood": meta["likelihood"],
            "activation": meta["activation"],
            "ae": int(meta["ae"]),
        }
    except (KeyError, ValueError) as e:
        raise SystemExit(f"torch_interop.py: {path}: bad or missing metadata: {e}")
    if meta.get("arch", "mlp") != "mlp":
        raise SystemExit(f"torch_interop.py: {path}: architecture '{meta['arch']}' is not the MLP")
    return cfg


def config_to_meta(cfg):
    """The __metadata__ of a libvae model file (docs/checkpoint.md)."""
    return {
        "format": "libvae-model",
        "format_version": "1",
        "arch": "mlp",
        "height": cfg["height"],
        "width": cfg["width"],
        "channels": cfg["channels"],
        "hidden": ",".join(str(h) for h in cfg["hidden"]),
        "latent": cfg["latent"],
        "classes": cfg["classes"],
        "likelihood": cfg["likelihood"],
        "activation": cfg["activation"],
        "ae": cfg["ae"],
    }


def load_model(path):
    tensors, meta = read_safetensors(path)
    cfg = config_from_meta(meta, path)
    model = VAE(cfg)
    want = model.module.state_dict()
    missing = [k for k in want if k not in tensors]
    extra = [k for k in tensors if k not in want]
    if missing or extra:
        raise SystemExit(f"torch_interop.py: {path}: missing tensors {missing}, unexpected tensors {extra}")
    for k, t in tensors.items():
        if tuple(t.shape) != tuple(want[k].shape) or t.dtype != torch.float32:
            raise SystemExit(f"torch_interop.py: {path}: tensor '{k}' is {t.dtype} {list(t.shape)}, "
                             f"expected float32 {list(want[k].shape)}")
    model.module.load_state_dict(tensors, strict=True)
    return model


# ---------------------------------------------------------------- outputs


def fmt(v):
    """%.9g: the text reads back as the same float32."""
    return "%.9g" % v


def write_encode_csv(path, mu, logvar, labels):
    n, Z = mu.shape
    with open(path, "w") as f:
        f.write("index,label," + ",".join(f"mu_{j + 1}" for j in range(Z)) + ","
                + ",".join(f"logvar_{j + 1}" for j in range(Z)) + "\n")
        for i in range(n):
            label = int(labels[i]) if labels is not None else -1
            row = [str(i), str(label)] + [fmt(v) for v in mu[i].tolist()] + [fmt(v) for v in logvar[i].tolist()]
            f.write(",".join(row) + "\n")


def write_outputs(model, args):
    """Encode the first --n images (when --data is given) and decode --n-z seeded random latent vectors."""
    with torch.no_grad():
        if args.data:
            x, labels, shape = load_split(args.data, args.split, args.n)
            c = model.cfg
            have = tuple(shape) if len(shape) == 3 else tuple(shape) + (1,)
            want = (c["height"], c["width"], c["channels"])
            if have != want:
                raise SystemExit(f"torch_interop.py: {args.data}: images are {have}, the model expects {want}")
            mu, logvar = model.encode(x, labels)
            write_encode_csv(args.encode_out, mu, logvar, labels)
        gen = torch.Generator().manual_seed(args.z_seed)
        z = torch.randn(args.n_z, model.Z, generator=gen, dtype=torch.float32)
        zlabels = torch.arange(args.n_z) % model.K if model.K else None
        out = model.decode(z, zlabels)
        with open(args.z_out, "w") as f:  # the vectors, for `vae decode --z ... --label ...`
            f.write("label," + ",".join(f"z_{j + 1}" for j in range(model.Z)) + "\n")
            for i in range(args.n_z):
                label = int(zlabels[i]) if zlabels is not None else -1
                f.write(",".join([str(label)] + [fmt(v) for v in z[i].tolist()]) + "\n")
        with open(args.decode_out, "w") as f:  # one row of D values per vector, as `vae decode --out x.csv`
            for i in range(args.n_z):
                f.write(",".join(fmt(v) for v in out[i].tolist()) + "\n")


def cmd_export_check(args):
    model = load_model(args.model)
    write_outputs(model, args)


def cmd_torch_to_vae(args):
    cfg = {
        "height": args.height,
        "width": args.width,
        "channels": args.channels,
        "hidden": [int(h) for h in args.hidden.split(",")] if args.hidden else [],
        "latent": args.latent,
        "classes": args.classes,
        "likelihood": args.likelihood,
        "activation": args.activation,
        "ae": int(args.ae),
    }
    torch.manual_seed(args.seed)
    model = VAE(cfg)  # torch's own nn.Linear initialisation
    if cfg["likelihood"] == "gaussian":
        with torch.no_grad():
            model.module.dec.logvar.fill_(-1.5)  # not the libvae default, so a lost value would show
    write_safetensors(args.out, model.module.state_dict(), config_to_meta(cfg))
    write_outputs(model, args)


def read_csv(path):
    with open(path, newline="") as f:
        rows = [r for r in csv.reader(f) if r]
    header = None
    if rows and rows[0]:
        try:
            float(rows[0][0])
        except ValueError:
            header, rows = rows[0], rows[1:]
    return header, [[float(v) for v in r] for r in rows]


def cmd_compare(args):
    ha, a = read_csv(args.a)
    hb, b = read_csv(args.b)
    what = args.what or f"{args.a} vs {args.b}"
    if ha != hb:
        print(f"{what}: headers differ: {ha} vs {hb}")
        return 1
    if len(a) != len(b) or any(len(ra) != len(rb) for ra, rb in zip(a, b)) or not a:
        print(f"{what}: shapes differ: {len(a)} vs {len(b)} rows")
        return 1
    diff = max(abs(x - y) for ra, rb in zip(a, b) for x, y in zip(ra, rb))
    n = sum(len(r) for r in a)
    ok = diff <= args.tol
    print(f"{what}: max abs diff {diff:.3g} over {n} values ({'ok' if ok else 'FAIL'}, tolerance {args.tol:g})")
    return 0 if ok else 1


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = p.add_subparsers(dest="mode", required=True)

    def outputs(q):
        q.add_argument("--data", help="data folder: encode the first --n images of --split")
        q.add_argument("--split", choices=["test", "train"], default="test")
        q.add_argument("--n", type=int, default=16, help="images to encode (default 16)")
        q.add_argument("--encode-out", help="CSV like `vae encode`: index,label,mu_1..,logvar_1..")
        q.add_argument("--n-z", type=int, default=8, help="random latent vectors to decode (default 8)")
        q.add_argument("--z-seed", type=int, default=7, help="seed of the latent vectors (default 7)")
        q.add_argument("--z-out", required=True, help="CSV of the vectors: label,z_1..z_Z (label -1: none)")
        q.add_argument("--decode-out", required=True, help="CSV: one row of D decoder means per vector")

    q = sub.add_parser("export-check", help="libvae checkpoint -> torch outputs")
    q.add_argument("--model", required=True, help="libvae model.safetensors")
    outputs(q)
    q = sub.add_parser("torch-to-vae", help="torch model -> libvae checkpoint and torch outputs")
    q.add_argument("--out", required=True, help="checkpoint to write")
    q.add_argument("--height", type=int, default=28)
    q.add_argument("--width", type=int, default=28)
    q.add_argument("--channels", type=int, default=1)
    q.add_argument("--hidden", default="400", help="widths in encoder order, e.g. 512,256 (default 400)")
    q.add_argument("--latent", type=int, default=20)
    q.add_argument("--classes", type=int, default=0, help="conditional model with K classes (default 0)")
    q.add_argument("--likelihood", choices=["bernoulli", "gaussian"], default="bernoulli")
    q.add_argument("--activation", choices=["relu", "tanh"], default="relu")
    q.add_argument("--ae", action="store_true", help="plain autoencoder")
    q.add_argument("--seed", type=int, default=0, help="torch.manual_seed for the initialisation (default 0)")
    outputs(q)
    q = sub.add_parser("compare", help="max abs difference of two CSVs")
    q.add_argument("a")
    q.add_argument("b")
    q.add_argument("--tol", type=float, default=1e-4)
    q.add_argument("--what", help="name printed in the result line")

    args = p.parse_args()
    if args.mode == "compare":
        return cmd_compare(args)
    import_torch()
    if getattr(args, "data", None) and not args.encode_out:
        p.error("--data needs --encode-out")
    if args.mode == "export-check":
        cmd_export_check(args)
    else:
        cmd_torch_to_vae(args)
    return 0


if __name__ == "__main__":
    sys.exit(main())
