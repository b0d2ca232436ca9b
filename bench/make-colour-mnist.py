#!/usr/bin/env python3
"""make-colour-mnist.py: a colour data set from MNIST: each digit drawn in its class's colour on black.

    python3 bench/make-colour-mnist.py [--png] [SRC [DST]]      (defaults: data/mnist, data/colour-mnist)

Reads SRC's four IDX files (raw or .gz) and writes DST/train-images-idx3-ubyte and t10k-images-idx3-ubyte as
IDX with 4 dimensions (N, 28, 28, 3; uint8, type 0x08, channel fastest), and copies the label files. Pixel
(r, g, b) = round(v * colour[label] / 255) for the grey value v, so the grey image is kept in every channel in
proportion to the colour: 0 red, 1 green, 2 yellow, 3 blue, 4 orange, 5 purple, 6 cyan, 7 magenta, 8 lime,
9 pink. A colour model has to learn the colour together with the shape (docs/results-data.md). Plain python3
(no numpy): about 2 seconds for MNIST. The folder is built as DST.tmp and renamed when complete.

--png writes the same images as a folder of PNG files instead (DST defaults to data/colour-mnist-png):
DST/train/<digit>/NNNNN.png and DST/test/<digit>/NNNNN.png (RGB, 8 bits; NNNNN the index in the IDX file),
the layout of docs/data.md whose sorted sub-folder names 0..9 give back the labels 0..9. About 30 seconds.
"""
import gzip
import os
import shutil
import struct
import sys
import zlib

COLOURS = [(230, 25, 75), (60, 180, 75), (255, 225, 25), (0, 130, 200), (245, 130, 48),
           (145, 30, 180), (70, 240, 240), (240, 50, 230), (210, 245, 60), (250, 190, 212)]


def read_idx(folder, name):
    path = os.path.join(folder, name)
    if not os.path.exists(path):
        path += ".gz"
    with open(path, "rb") as f:
        data = f.read()
    if data[:2] == b"\x1f\x8b":
        data = gzip.decompress(data)
    if data[0] != 0 or data[1] != 0 or data[2] != 8:
        sys.exit("%s: not a uint8 IDX file" % path)
    ndim = data[3]
    dims = struct.unpack(">" + "I" * ndim, data[4:4 + 4 * ndim])
    body = data[4 + 4 * ndim:]
    size = 1
    for d in dims:
        size *= d
    if len(body) != size:
        sys.exit("%s: %d bytes of data, header says %d" % (path, len(body), size))
    return dims, body


def tint(images, labels, dims):
    n, h, w = dims
    dim = h * w
    # one translation table per (class, channel): v -> round(v * c / 255)
    tables = [[bytes((v * c + 127) // 255 for v in range(256)) for c in col] for col in COLOURS]
    out = bytearray(n * dim * 3)
    for i in range(n):
        img = images[i * dim:(i + 1) * dim]
        t = tables[labels[i] % 10]
        base = i * dim * 3
        for ch in range(3):
            out[base + ch:base + dim * 3:3] = img.translate(t[ch])
    return bytes(out)


def png_bytes(w, h, rgb):
    """8-bit RGB PNG (colour type 2), filter 0 on every row"""
    raw = b"".join(b"\0" + rgb[y * w * 3:(y + 1) * w * 3] for y in range(h))

    def chunk(kind, data):
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))
    return (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", w, h, 8, 2, 0, 0, 0))
            + chunk(b"IDAT", zlib.compress(raw, 9)) + chunk(b"IEND", b""))


def write_pngs(folder, rgb, labels, dims):
    n, h, w = dims
    size = h * w * 3
    for c in range(10):
        os.makedirs(os.path.join(folder, str(c)))
    for i in range(n):
        with open(os.path.join(folder, str(labels[i]), "%05d.png" % i), "wb") as f:
            f.write(png_bytes(w, h, rgb[i * size:(i + 1) * size]))


def main():
    args = sys.argv[1:]
    png = "--png" in args
    args = [a for a in args if a != "--png"]
    src = args[0] if len(args) > 0 else "data/mnist"
    dst = args[1] if len(args) > 1 else "data/colour-mnist-png" if png else "data/colour-mnist"
    tmp = dst + ".tmp"
    shutil.rmtree(tmp, ignore_errors=True)
    os.makedirs(tmp)
    for prefix in ("train", "t10k"):
        dims, images = read_idx(src, prefix + "-images-idx3-ubyte")
        ldims, labels = read_idx(src, prefix + "-labels-idx1-ubyte")
        if len(dims) != 3 or ldims[0] != dims[0]:
            sys.exit("%s: expected N,H,W images and N labels" % src)
        if max(labels) > 9:
            sys.exit("%s: labels above 9" % src)
        rgb = tint(images, labels, dims)
        if png:
            write_pngs(os.path.join(tmp, "train" if prefix == "train" else "test"), rgb, labels, dims)
            print("%s: %d PNG files of %dx%d RGB" % (prefix, dims[0], dims[1], dims[2]))
            continue
        with open(os.path.join(tmp, prefix + "-images-idx3-ubyte"), "wb") as f:
            f.write(struct.pack(">BBBBIIII", 0, 0, 8, 4, dims[0], dims[1], dims[2], 3))
            f.write(rgb)
        with open(os.path.join(tmp, prefix + "-labels-idx1-ubyte"), "wb") as f:
            f.write(struct.pack(">BBBBI", 0, 0, 8, 1, ldims[0]))
            f.write(labels)
        print("%s: %d images of %dx%dx3" % (prefix, dims[0], dims[1], dims[2]))
    shutil.rmtree(dst, ignore_errors=True)
    os.rename(tmp, dst)
    print("wrote", dst)


if __name__ == "__main__":
    main()
