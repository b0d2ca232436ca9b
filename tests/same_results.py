#!/usr/bin/env python3
"""same_results.py: what tests/test_same_results.sh compares between the old code's checkpoints and the new.

  same_results.py line FILE          one line: SHA-256 of the data section (every parameter byte), SHA-256 of
                                     the tensor table (names, dtypes, shapes, offsets; canonical JSON), and the
                                     metadata as compact JSON
  same_results.py same REFLINE FILE  exit 0 when FILE has the same data and tensor table as REFLINE records
                                     and every metadata key of REFLINE with the same value (keys added since
                                     are allowed: the checkpoint format belongs to checkpoint.c); else say how
                                     it differs on stdout and exit 1
"""
import hashlib
import json
import struct
import sys


def line(path):
    b = open(path, "rb").read()
    n = struct.unpack("<Q", b[:8])[0]
    header = json.loads(b[8:8 + n])
    meta = header.pop("__metadata__", {})
    table = json.dumps(header, sort_keys=True, separators=(",", ":")).encode()
    data = hashlib.sha256()
    for name in sorted(header):
        lo, hi = header[name]["data_offsets"]
        if name == "sums":  # the training state's (loss sum, training seconds): the seconds are a clock reading
            hi = lo + 8
        data.update(b[8 + n + lo:8 + n + hi])
    return "%s %s %s" % (data.hexdigest(), hashlib.sha256(table).hexdigest(),
                         json.dumps(meta, sort_keys=True, separators=(",", ":")))


def same(ref, path):
    r_data, r_table, r_meta = ref.split(" ", 2)
    n_data, n_table, n_meta = line(path).split(" ", 2)
    bad = []
    if r_data != n_data:
        bad.append("parameter bytes differ")
    if r_table != n_table:
        bad.append("tensor table differs")
    old, new = json.loads(r_meta), json.loads(n_meta)
    for k, v in old.items():
        if new.get(k) != v:
            bad.append("metadata %s: %r, was %r" % (k, new.get(k), v))
    if bad:
        print("; ".join(bad))
    return not bad


if __name__ == "__main__":
    if len(sys.argv) == 3 and sys.argv[1] == "line":
        print(line(sys.argv[2]))
    elif len(sys.argv) == 4 and sys.argv[1] == "same":
        sys.exit(0 if same(sys.argv[2], sys.argv[3]) else 1)
    else:
        sys.exit(__doc__)
