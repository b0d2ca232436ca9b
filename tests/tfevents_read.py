#!/usr/bin/env python3
"""tfevents_read.py: read TensorBoard event files with the Python standard library alone, written apart
from libvae's writer (src/tfevents.c) to check it: every TFRecord's length and data CRC-32C (masked) is
checked, every record is decoded as an Event protobuf (wall_time, step, file_version, summary), every
Summary.Value as a tag with a simple_value or an Image, and every image's PNG (signature, chunk CRCs,
IHDR size against the Image's height and width, zlib stream) is checked too.

    python3 tests/tfevents_read.py FILE_OR_DIR...      prints one JSON object per event, exit 1 on any error

Format: TFRecord = uint64 length | uint32 masked crc32c(length) | data | uint32 masked crc32c(data), all
little-endian, masked(c) = ((c >> 15) | (c << 17)) + 0xa282ead8 mod 2^32; Event, Summary, Value and Image
are tensorflow/core/util/event.proto and tensorflow/core/framework/summary.proto.
"""
import json
import os
import struct
import sys
import zlib


def _crc32c_table():
    table = []
    for i in range(256):
        c = i
        for _ in range(8):
            c = (c >> 1) ^ 0x82F63B78 if c & 1 else c >> 1
        table.append(c)
    return table


TABLE = _crc32c_table()


def crc32c(data):
    c = 0xFFFFFFFF
    for b in data:
        c = TABLE[(c ^ b) & 0xFF] ^ (c >> 8)
    return c ^ 0xFFFFFFFF


def masked(data):
    c = crc32c(data)
    return (((c >> 15) | (c << 17)) + 0xA282EAD8) & 0xFFFFFFFF


def varint(buf, i):
    shift = value = 0
    while True:
        if i >= len(buf):
            raise ValueError("truncated varint")
        b = buf[i]
        i += 1
        value |= (b & 0x7F) << shift
        shift += 7
        if not b & 0x80:
            return value, i
        if shift > 63:
            raise ValueError("varint too long")


def fields(buf):
    """Yield (field number, wire type, value) for a protobuf message; value is int, or bytes for type 2."""
    i = 0
    while i < len(buf):
        key, i = varint(buf, i)
        field, wire = key >> 3, key & 7
        if wire == 0:
            value, i = varint(buf, i)
        elif wire == 1:
            value, i = buf[i:i + 8], i + 8
        elif wire == 2:
            n, i = varint(buf, i)
            value, i = buf[i:i + n], i + n
        elif wire == 5:
            value, i = buf[i:i + 4], i + 4
        else:
            raise ValueError("unsupported wire type %d" % wire)
        if i > len(buf):
            raise ValueError("field %d runs past the end of its message" % field)
        yield field, wire, value


def check_png(data, height, width):
    if data[:8] != b"\x89PNG\r\n\x1a\n":
        raise ValueError("image is not a PNG")
    i, idat, size = 8, b"", None
    while i < len(data):
        n, kind = struct.unpack(">I4s", data[i:i + 8])
        body, crc = data[i + 8:i + 8 + n], struct.unpack(">I", data[i + 8 + n:i + 12 + n])[0]
        if zlib.crc32(kind + body) & 0xFFFFFFFF != crc:
            raise ValueError("PNG chunk %r: bad CRC" % kind)
        if kind == b"IHDR":
            size = struct.unpack(">II", body[:8])
        elif kind == b"IDAT":
            idat += body
        i += 12 + n
        if kind == b"IEND":
            break
    if size != (width, height):
        raise ValueError("PNG is %r, the Image says %dx%d" % (size, width, height))
    zlib.decompress(idat)


def decode_value(buf):
    out = {}
    for field, wire, value in fields(buf):
        if field == 1 and wire == 2:
            out["tag"] = value.decode("utf-8")
        elif field == 2 and wire == 5:
            out["simple_value"] = struct.unpack("<f", value)[0]
        elif field == 4 and wire == 2:
            im = {}
            for f2, w2, v2 in fields(value):
                im[{1: "height", 2: "width", 3: "colorspace", 4: "png"}.get(f2, f2)] = v2
            check_png(im["png"], im["height"], im["width"])
            out["image"] = {"height": im["height"], "width": im["width"], "colorspace": im["colorspace"],
                            "png_bytes": len(im["png"])}
    if "tag" not in out:
        raise ValueError("Summary.Value without a tag")
    return out


def decode_event(buf):
    ev = {"values": []}
    for field, wire, value in fields(buf):
        if field == 1 and wire == 1:
            ev["wall_time"] = struct.unpack("<d", value)[0]
        elif field == 2 and wire == 0:
            ev["step"] = value
        elif field == 3 and wire == 2:
            ev["file_version"] = value.decode("utf-8")
        elif field == 5 and wire == 2:
            for f2, w2, v2 in fields(value):
                if f2 == 1 and w2 == 2:
                    ev["values"].append(decode_value(v2))
        else:
            raise ValueError("unexpected Event field %d (wire type %d)" % (field, wire))
    return ev


def read_records(path):
    data = open(path, "rb").read()
    i = 0
    while i < len(data):
        if i + 12 > len(data):
            raise ValueError("%s: truncated record header at byte %d" % (path, i))
        head = data[i:i + 8]
        (n,) = struct.unpack("<Q", head)
        (crc,) = struct.unpack("<I", data[i + 8:i + 12])
        if masked(head) != crc:
            raise ValueError("%s: bad length CRC at byte %d" % (path, i))
        body = data[i + 12:i + 12 + n]
        if len(body) != n or i + 16 + n > len(data):
            raise ValueError("%s: truncated record at byte %d" % (path, i))
        (dcrc,) = struct.unpack("<I", data[i + 12 + n:i + 16 + n])
        if masked(body) != dcrc:
            raise ValueError("%s: bad data CRC at byte %d" % (path, i))
        yield body
        i += 16 + n


def main(args):
    files = []
    for a in args:
        if os.path.isdir(a):
            files += sorted(os.path.join(a, f) for f in os.listdir(a) if "tfevents" in f)
        else:
            files.append(a)
    if not files:
        print("tfevents_read.py: no event files", file=sys.stderr)
        return 1
    try:
        for path in files:
            for k, body in enumerate(read_records(path)):
                ev = decode_event(body)
                if k == 0 and ev.get("file_version") != "brain.Event:2":
                    raise ValueError("%s: the first record is not file_version brain.Event:2" % path)
                ev["file"] = os.path.basename(path)
                print(json.dumps(ev))
    except (ValueError, KeyError, struct.error, zlib.error) as e:
        print("tfevents_read.py: %s" % e, file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
