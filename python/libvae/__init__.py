"""libvae: Python bindings of libvae, a variational autoencoder library in C (ctypes over libvae.so).

NumPy arrays go in and come out (float32, one image or latent vector per row); every call is the C library's
own, so results are those of the `vae` command-line tool, bit for bit, for the same checkpoint, input, seed
and thread count. Errors raise VaeError carrying libvae's message.

    import libvae
    m = libvae.Model.load("runs/mnist/model.safetensors")
    mu, logvar = m.encode(x)            # x: (N, D) grey values in [0, 1]
    images = m.decode(mu)               # (N, D)
    images = m.sample(64, seed=1)       # the draws of `vae sample --seed 1`

libvae.so is found through the LIBVAE_LIBRARY environment variable (a path), else next to this package in a
source tree (build/libvae.so), else by the system's loader (an installed libvae.so.MAJOR).
"""
import ctypes
import ctypes.util
import gzip
import json
import os
import struct
from collections import namedtuple

import numpy as np

__all__ = ["VaeError", "Rng", "Config", "TrainOpts", "Losses", "Model", "Trainer", "read_idx", "load_split",
           "set_threads", "set_engine", "engine", "__version__"]


def _find_library():
    path = os.environ.get("LIBVAE_LIBRARY")
    if path:
        return path
    here = os.path.dirname(os.path.abspath(__file__))
    local = os.path.join(here, "..", "..", "build", "libvae.so")
    if os.path.exists(local):
        return local
    return ctypes.util.find_library("vae") or "libvae.so.0"


_lib = ctypes.CDLL(_find_library())

# ---------------------------------------------------------------- structs (include/vae.h)

VAE_MAX_HIDDEN = 8
VAE_MAX_CONV = 6
VAE_CONFIG_SIZE = 256
VAE_TRAIN_OPTS_SIZE = 128
VAE_LR_SCHEDULE_MAX = 32


class _Rng(ctypes.Structure):
    _fields_ = [("s", ctypes.c_uint64 * 4)]


class Config(ctypes.Structure):
    """vae_config. Its size never changes within a MAJOR version (docs/abi.md): fields that a newer libvae
    adds live in `reserved` here, where vae_config_default put their defaults."""
    _fields_ = [("height", ctypes.c_int), ("width", ctypes.c_int), ("channels", ctypes.c_int),
                ("n_hidden", ctypes.c_int), ("hidden", ctypes.c_int * VAE_MAX_HIDDEN), ("n_latent", ctypes.c_int),
                ("n_classes", ctypes.c_int), ("likelihood", ctypes.c_int), ("activation", ctypes.c_int),
                ("ae", ctypes.c_int), ("arch", ctypes.c_int), ("n_conv", ctypes.c_int),
                ("conv_channels", ctypes.c_int * VAE_MAX_CONV), ("dropout", ctypes.c_float),
                ("reserved", ctypes.c_int32 * 38)]


class TrainOpts(ctypes.Structure):
    """vae_train_opts (same growth rule as Config)."""
    _fields_ = [("lr", ctypes.c_float), ("beta1", ctypes.c_float), ("beta2", ctypes.c_float),
                ("adam_eps", ctypes.c_float), ("kl_weight", ctypes.c_float), ("iwae_k", ctypes.c_int),
                ("grad_rows", ctypes.c_int), ("eps", ctypes.c_void_p), ("free_bits", ctypes.c_float),
                ("tc_beta", ctypes.c_float), ("dataset_size", ctypes.c_int), ("clip_grad", ctypes.c_float),
                ("weight_decay", ctypes.c_float), ("reserved", ctypes.c_int32 * 17)]


class _Losses(ctypes.Structure):
    _fields_ = [("loss", ctypes.c_double), ("recon", ctypes.c_double), ("kl", ctypes.c_double)]


class _LrSchedule(ctypes.Structure):
    _fields_ = [("n", ctypes.c_int), ("epochs", ctypes.c_int * VAE_LR_SCHEDULE_MAX),
                ("lr", ctypes.c_double * VAE_LR_SCHEDULE_MAX)]


assert ctypes.sizeof(Config) == VAE_CONFIG_SIZE and ctypes.sizeof(TrainOpts) == VAE_TRAIN_OPTS_SIZE

Losses = namedtuple("Losses", "loss recon kl")

# ---------------------------------------------------------------- prototypes

_P = ctypes.POINTER
_f32 = _P(ctypes.c_float)
_i32 = _P(ctypes.c_int)
_model = ctypes.c_void_p


def _proto(name, restype, *argtypes):
    fn = getattr(_lib, name)
    fn.restype = restype
    fn.argtypes = list(argtypes)
    return fn


_proto("vae_version", ctypes.c_char_p)
_proto("vae_strerror", ctypes.c_char_p, ctypes.c_int)
_proto("vae_last_error", ctypes.c_char_p)
_proto("vae_rng_seed", None, _P(_Rng), ctypes.c_uint64)
_proto("vae_rng_next", ctypes.c_uint64, _P(_Rng))
_proto("vae_rng_normal", ctypes.c_float, _P(_Rng))
_proto("vae_rng_normals", None, _P(_Rng), _f32, ctypes.c_size_t)
_proto("vae_rng_bernoulli", None, _P(_Rng), _f32, ctypes.c_size_t)
_proto("vae_rng_shuffle", None, _P(_Rng), _i32, ctypes.c_int)
_proto("vae_config_default", None, _P(Config))
_proto("vae_create", ctypes.c_int, _P(_model), _P(Config), ctypes.c_int, _P(_Rng))
_proto("vae_free", None, _model)
_proto("vae_get_config", _P(Config), _model)
_proto("vae_num_params", ctypes.c_size_t, _model)
_proto("vae_max_batch", ctypes.c_int, _model)
_proto("vae_train_opts_default", None, _P(TrainOpts))
_proto("vae_train_step", ctypes.c_int, _model, _f32, _i32, ctypes.c_int, _P(TrainOpts), _P(_Rng), _P(_Losses))
_proto("vae_param_buffer", ctypes.c_int, _model, _P(_f32), _P(ctypes.c_size_t))
_proto("vae_steps_taken", ctypes.c_long, _model)
_proto("vae_lr_schedule_parse", ctypes.c_int, _P(_LrSchedule), ctypes.c_char_p)
_proto("vae_lr_at", ctypes.c_double, _P(_LrSchedule), ctypes.c_int, ctypes.c_double)
_proto("vae_kl_weight_at", ctypes.c_float, ctypes.c_float, ctypes.c_long, ctypes.c_long)
_proto("vae_eval_batch", ctypes.c_int, _model, _f32, _i32, ctypes.c_int, _P(_Rng), _f32, _f32, _f32)
_proto("vae_encode", ctypes.c_int, _model, _f32, _i32, ctypes.c_int, _f32, _f32)
_proto("vae_decode", ctypes.c_int, _model, _f32, _i32, ctypes.c_int, _f32)
_proto("vae_save", ctypes.c_int, _model, ctypes.c_char_p)
_proto("vae_load", ctypes.c_int, _P(_model), ctypes.c_char_p, ctypes.c_int)
_proto("vae_set_engine", ctypes.c_int, ctypes.c_char_p)
_proto("vae_engine_name", ctypes.c_char_p)

__version__ = _lib.vae_version().decode()


class VaeError(Exception):
    """A libvae call failed: status is the vae_status code, kind its short name (vae_strerror), and the
    message libvae's detailed one (vae_last_error), naming the file, argument or tensor at fault."""

    def __init__(self, status, message):
        self.status = status
        self.kind = _lib.vae_strerror(status).decode()
        super().__init__(f"{message} ({self.kind})" if message else self.kind)


def _check(status):
    if status != 0:
        raise VaeError(status, _lib.vae_last_error().decode(errors="replace"))


def _floats(a, cols=None, what="array"):
    """a as a C-contiguous float32 (N, cols) array (a copy only when needed)."""
    a = np.ascontiguousarray(a, dtype=np.float32)
    if a.ndim == 1 and cols is not None:
        a = a.reshape(1, -1)
    if cols is not None:
        a = a.reshape(a.shape[0], -1)
        if a.shape[1] != cols:
            raise ValueError(f"{what}: rows of {a.shape[1]} values, the model needs {cols}")
    return a


def _fptr(a):
    return a.ctypes.data_as(_f32)


def _labels(labels, n):
    if labels is None:
        return None, None
    if np.isscalar(labels):
        labels = np.full(n, labels)
    lab = np.ascontiguousarray(labels, dtype=np.int32)
    if lab.shape != (n,):
        raise ValueError(f"labels: {n} labels needed, got shape {lab.shape}")
    return lab, lab.ctypes.data_as(_i32)


def set_threads(n):
    """Threads of OpenMP and OpenBLAS, as `vae --threads N` sets them (the library itself never does)."""
    for name in ("omp_set_num_threads", "openblas_set_num_threads"):
        getattr(_lib, name)(ctypes.c_int(int(n)))


def set_engine(name):
    """The matrix-product engine: "auto", "openblas", "dnnl" or "blis" (vae_set_engine; without a call the
    VAE_ENGINE environment variable chooses, else "auto", as for the CLI). Returns the engine now in use."""
    _check(_lib.vae_set_engine(name.encode()))
    return engine()


def engine():
    """The name of the engine products run on now."""
    return _lib.vae_engine_name().decode()


# ---------------------------------------------------------------- random numbers

class Rng:
    """The explicit generator (xoshiro256**) of libvae: the same seed draws the same numbers as the CLI."""

    def __init__(self, seed=0):
        self._s = _Rng()
        _lib.vae_rng_seed(ctypes.byref(self._s), ctypes.c_uint64(seed))

    def next(self):
        return _lib.vae_rng_next(ctypes.byref(self._s))

    def normal(self, n):
        """n standard normals drawn one at a time (vae_rng_normal: the draws of `vae sample`)."""
        return np.array([_lib.vae_rng_normal(ctypes.byref(self._s)) for _ in range(n)], dtype=np.float32)

    def normals(self, n):
        """n standard normals from both values of each Box-Muller pair (vae_rng_normals)."""
        out = np.empty(n, dtype=np.float32)
        _lib.vae_rng_normals(ctypes.byref(self._s), _fptr(out), n)
        return out

    def bernoulli(self, x):
        """Binarize a float32 array in place: each value p becomes 1 with probability p."""
        if not (isinstance(x, np.ndarray) and x.dtype == np.float32 and x.flags.c_contiguous):
            raise TypeError("bernoulli: a C-contiguous float32 array is binarized in place")
        _lib.vae_rng_bernoulli(ctypes.byref(self._s), _fptr(x), x.size)
        return x

    def shuffle(self, n):
        """A random permutation of 0..n-1: the epoch order of `vae train` (vae_rng_shuffle)."""
        order = np.empty(n, dtype=np.int32)
        _lib.vae_rng_shuffle(ctypes.byref(self._s), order.ctypes.data_as(_i32), n)
        return order


# ---------------------------------------------------------------- the model

class Model:
    """A libvae model (vae_model): create or load, encode, decode, sample, evaluate, train_step, save.
    Calls take any number of rows: they run in chunks of max_batch."""

    def __init__(self, handle, metadata=None):
        self._m = ctypes.c_void_p(handle)
        self.metadata = metadata or {}  # the checkpoint's __metadata__ (strings), {} for a new model

    @classmethod
    def create(cls, height=28, width=28, channels=1, hidden=(400,), latent=20, classes=0, likelihood="bernoulli",
               activation="relu", ae=False, conv_channels=(), dropout=0.0, max_batch=128, seed=1):
        """A new model, initialised as `vae train --seed SEED` initialises it (the generator seeded 2 SEED + 1).
        conv_channels: the channels of a convolutional model's stride-2 layers (docs/conv.md); () for an MLP.
        dropout: the probability of dropping a hidden activation in training steps (0: none)."""
        cfg = Config()
        _lib.vae_config_default(ctypes.byref(cfg))
        cfg.height, cfg.width, cfg.channels = height, width, channels
        if len(hidden) > VAE_MAX_HIDDEN or len(conv_channels) > VAE_MAX_CONV:
            raise ValueError(f"at most {VAE_MAX_HIDDEN} hidden layers and {VAE_MAX_CONV} conv layers")
        cfg.n_hidden = len(hidden)
        for i, h in enumerate(hidden):
            cfg.hidden[i] = h
        cfg.n_latent, cfg.n_classes, cfg.ae, cfg.dropout = latent, classes, int(bool(ae)), dropout
        cfg.likelihood = {"bernoulli": 0, "gaussian": 1}[likelihood]
        cfg.activation = {"relu": 0, "tanh": 1}[activation]
        cfg.arch, cfg.n_conv = (1 if conv_channels else 0), len(conv_channels)
        for i, c in enumerate(conv_channels):
            cfg.conv_channels[i] = c
        rng = Rng(2 * seed + 1)
        handle = ctypes.c_void_p()
        _check(_lib.vae_create(ctypes.byref(handle), ctypes.byref(cfg), max_batch, ctypes.byref(rng._s)))
        return cls(handle.value)

    @classmethod
    def load(cls, path, max_batch=1000):
        """A checkpoint written by vae_save or `vae train` (model.safetensors)."""
        handle = ctypes.c_void_p()
        _check(_lib.vae_load(ctypes.byref(handle), os.fsencode(path), max_batch))
        return cls(handle.value, _safetensors_metadata(path))

    def close(self):
        if self._m:
            _lib.vae_free(self._m)
            self._m = None

    def __del__(self):
        self.close()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    def _handle(self):
        if not self._m:
            raise ValueError("the model is closed")
        return self._m

    @property
    def config(self):
        """The model's vae_config (a copy)."""
        c = Config()
        ctypes.memmove(ctypes.byref(c), _lib.vae_get_config(self._handle()), ctypes.sizeof(Config))
        return c

    @property
    def dim(self):
        c = self.config
        return c.height * c.width * c.channels

    @property
    def latent(self):
        return self.config.n_latent

    @property
    def max_batch(self):
        return _lib.vae_max_batch(self._handle())

    @property
    def num_params(self):
        return _lib.vae_num_params(self._handle())

    @property
    def steps(self):
        """Adam steps taken."""
        return _lib.vae_steps_taken(self._handle())

    def parameters(self):
        """A copy of the flat parameter buffer (the layout of the checkpoint's tensor table)."""
        p, n = _f32(), ctypes.c_size_t()
        _check(_lib.vae_param_buffer(self._handle(), ctypes.byref(p), ctypes.byref(n)))
        return np.ctypeslib.as_array(p, shape=(n.value,)).copy()

    def _chunks(self, n, step):
        for start in range(0, n, step):
            yield start, min(n, start + step)

    def encode(self, x, labels=None):
        """(mu, logvar), each (N, Z), of the images x (N, D); labels (N) for a conditional model."""
        x = _floats(x, self.dim, "x")
        n, z = x.shape[0], self.latent
        lab, _ = _labels(labels, n)
        mu, logvar = np.empty((n, z), np.float32), np.empty((n, z), np.float32)
        for a, b in self._chunks(n, self.max_batch):
            lp = lab[a:b].ctypes.data_as(_i32) if lab is not None else None
            _check(_lib.vae_encode(self._handle(), _fptr(x[a:b]), lp, b - a, _fptr(mu[a:b]), _fptr(logvar[a:b])))
        return mu, logvar

    def decode(self, z, labels=None):
        """The decoder's mean (N, D) for the latent vectors z (N, Z) (sigmoid of the logits for Bernoulli)."""
        z = _floats(z, self.latent, "z")
        n = z.shape[0]
        lab, _ = _labels(labels, n)
        out = np.empty((n, self.dim), np.float32)
        for a, b in self._chunks(n, self.max_batch):
            lp = lab[a:b].ctypes.data_as(_i32) if lab is not None else None
            _check(_lib.vae_decode(self._handle(), _fptr(z[a:b]), lp, b - a, _fptr(out[a:b])))
        return out

    def sample(self, n, seed=1, labels=None):
        """n images decoded from z ~ N(0, I): the draws of `vae sample --seed SEED` (one vae_rng_normal each)."""
        z = Rng(seed).normal(n * self.latent).reshape(n, self.latent)
        return self.decode(z, labels)

    def evaluate(self, x, labels=None, seed=0x7E57, batch=1000, binarize_seed=None):
        """Per-image negative ELBO (one z sample per image, KL weight 1) as `vae eval` computes it on a test
        split (eps from seed 0x7e57, batches of 1000). A model trained with `--binarize dynamic` sees its
        test images binarized once with the seed its checkpoint records, as `vae eval` does (binarize_seed
        overrides it; for another split than the test set `vae eval` adds 2). Returns a dict: n, loss, recon,
        kl (means, as `vae eval` prints them) and per_image: (loss, recon, kl) arrays."""
        x = _floats(x, self.dim, "x")
        n = x.shape[0]
        lab, _ = _labels(labels, n)
        if binarize_seed is None and self.metadata.get("binarize") == "dynamic":
            binarize_seed = int(self.metadata.get("binarize_seed", "0"))
        rng, bin_rng = Rng(seed), Rng(binarize_seed or 0)
        loss, recon, kl = (np.empty(n, np.float32) for _ in range(3))
        for a, b in self._chunks(n, min(batch, self.max_batch)):
            lp = lab[a:b].ctypes.data_as(_i32) if lab is not None else None
            xb = x[a:b] if binarize_seed is None else bin_rng.bernoulli(x[a:b].copy())
            _check(_lib.vae_eval_batch(self._handle(), _fptr(xb), lp, b - a, ctypes.byref(rng._s),
                                       _fptr(loss[a:b]), _fptr(recon[a:b]), _fptr(kl[a:b])))
        # sums in order, in double, as the CLI adds them
        mean_recon = sum(float(v) for v in recon) / n
        mean_kl = sum(float(v) for v in kl) / n
        return {"n": n, "loss": mean_recon + mean_kl, "recon": mean_recon, "kl": mean_kl,
                "per_image": (loss, recon, kl)}

    def train_step(self, x, labels=None, rng=None, opts=None):
        """One Adam step on the batch x (B, D); rng (an Rng) draws the noise; opts a TrainOpts (default:
        train_opts()). Returns the batch's Losses."""
        x = _floats(x, self.dim, "x")
        lab, lp = _labels(labels, x.shape[0])
        if rng is None:
            raise ValueError("train_step: pass an Rng (the noise source)")
        opts = opts if opts is not None else train_opts()
        out = _Losses()
        _check(_lib.vae_train_step(self._handle(), _fptr(x), lp, x.shape[0], ctypes.byref(opts),
                                   ctypes.byref(rng._s), ctypes.byref(out)))
        return Losses(out.loss, out.recon, out.kl)

    def save(self, path):
        """Write the checkpoint (parameters and configuration, safetensors), atomically."""
        _check(_lib.vae_save(self._handle(), os.fsencode(path)))


def train_opts(**fields):
    """A TrainOpts from vae_train_opts_default with the given fields (lr, beta1, beta2, adam_eps, kl_weight,
    iwae_k, grad_rows, free_bits, tc_beta, dataset_size, clip_grad, weight_decay) changed. (eps, the caller's own noise, is a pointer: train_step draws its noise.)"""
    o = TrainOpts()
    _lib.vae_train_opts_default(ctypes.byref(o))
    for k, v in fields.items():
        if k in ("reserved", "eps") or k not in dict(TrainOpts._fields_):
            raise ValueError(f"train_opts: no field {k}")
        setattr(o, k, v)
    return o


# ---------------------------------------------------------------- training over NumPy batches

class Trainer:
    """Epochs over a NumPy training set in the order, batches, binarization and KL weights of `vae train`:
    with the same data, flags and seed (and thread count), the model's parameters after each epoch are
    those of the CLI's checkpoint, bit for bit.

        t = Trainer(model, x_train, batch=128, seed=1)
        for epoch in range(10):
            print(t.run_epoch())      # the epoch's mean training objective (train_loss)
        model.save("model.safetensors")
    """

    def __init__(self, model, x, labels=None, batch=128, seed=1, lr=1e-3, lr_schedule=None, adam_eps=1e-8,
                 beta=1.0, kl_warmup=0, binarize=False, iwae_k=0):
        self.model = model
        self.x = _floats(x, model.dim, "x")
        self.labels = None if labels is None else np.ascontiguousarray(labels, dtype=np.int32)
        n = self.x.shape[0]
        if batch < 1 or batch > n:
            raise ValueError(f"batch size {batch}: between 1 and the {n} training images")
        if batch * max(iwae_k, 1) > model.max_batch:
            raise ValueError(f"batch {batch} x {max(iwae_k, 1)} samples: more rows than the model's max_batch")
        self.batch, self.binarize, self.beta, self.lr, self.adam_eps, self.iwae_k = \
            batch, binarize, beta, lr, adam_eps, iwae_k
        self.rng = Rng(seed)
        self.epoch = 0
        self.n_batches = (n + batch - 1) // batch
        self.kl_warmup_steps = kl_warmup * self.n_batches
        self._schedule = _LrSchedule()
        _check(_lib.vae_lr_schedule_parse(ctypes.byref(self._schedule), (lr_schedule or "").encode()))

    def run_epoch(self):
        """One epoch; returns its mean training objective (the CLI's train_loss)."""
        epoch = self.epoch + 1
        conditional = self.model.config.n_classes > 0
        order = self.rng.shuffle(self.x.shape[0])
        base = train_opts(lr=_lib.vae_lr_at(ctypes.byref(self._schedule), epoch, self.lr), adam_eps=self.adam_eps,
                          iwae_k=self.iwae_k)
        total = 0.0
        for start in range(0, len(order), self.batch):
            idx = order[start:start + self.batch]
            xb = np.ascontiguousarray(self.x[idx])
            if self.binarize:
                self.rng.bernoulli(xb)
            lab = self.labels[idx] if conditional else None
            base.kl_weight = _lib.vae_kl_weight_at(self.beta, self.kl_warmup_steps, self.model.steps)
            total += self.model.train_step(xb, lab, self.rng, base).loss
        self.epoch = epoch
        return total / self.n_batches


# ---------------------------------------------------------------- data (IDX files, as the CLI reads them)

def _safetensors_metadata(path):
    """The __metadata__ of a safetensors file (libvae keeps the configuration and training flags there)."""
    with open(path, "rb") as f:
        n = struct.unpack("<Q", f.read(8))[0]
        return json.loads(f.read(n)).get("__metadata__", {})


def read_idx(path):
    """An IDX file (raw or .gz) as a NumPy array of its shape (uint8 images and labels)."""
    opener = gzip.open if path.endswith(".gz") else open
    with opener(path, "rb") as f:
        data = f.read()
    if len(data) < 4 or data[0] != 0 or data[1] != 0 or data[2] != 8:
        raise ValueError(f"{path}: not an IDX file of unsigned bytes")
    ndim = data[3]
    dims = struct.unpack(">" + "I" * ndim, data[4:4 + 4 * ndim])
    body = np.frombuffer(data, dtype=np.uint8, offset=4 + 4 * ndim)
    if body.size != int(np.prod(dims)):
        raise ValueError(f"{path}: {body.size} values, the header says {int(np.prod(dims))}")
    return body.reshape(dims)


def load_split(folder, split="train"):
    """(x, labels) of an IDX data folder's split ("train" or "test"): x (N, D) float32 grey values p / 255 as
    the CLI computes them, labels (N) int32 or None when the folder has no label file."""
    prefix = {"train": "train", "test": "t10k"}[split]

    def find(kind):
        for name in (f"{prefix}-{kind}-idx{3 if kind == 'images' else 1}-ubyte",):
            for ext in ("", ".gz"):
                p = os.path.join(folder, name + ext)
                if os.path.exists(p):
                    return p
        return None

    images = find("images")
    if images is None:
        raise FileNotFoundError(f"{folder}: no {prefix} images (IDX)")
    u8 = read_idx(images)
    x = (u8.reshape(u8.shape[0], -1).astype(np.float32) / np.float32(255.0))
    lp = find("labels")
    labels = read_idx(lp).astype(np.int32) if lp else None
    return x, labels
