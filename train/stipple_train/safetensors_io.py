"""Reading and writing safetensors files without the safetensors package.

Layout: 8-byte little-endian header length N, N bytes of JSON header (sorted
keys, padded with spaces to a multiple of 8), then the tensors back to back
in header order with no gaps. Tensors are numpy arrays or torch tensors; the
writer stores F32 or F16, the reader returns float32 numpy arrays for every
dtype it knows (F32, F16, BF16, F64).
"""
import json
import struct

import numpy as np

DTYPES = {"F32": np.float32, "F16": np.float16, "F64": np.float64}


def _as_numpy(t):
    if hasattr(t, "detach"):
        t = t.detach().cpu().numpy()
    return np.asarray(t)


def encode(tensors, metadata=None, dtype="F32"):
    """The bytes of a safetensors file holding tensors (an ordered mapping of
    name -> array), each stored as dtype ("F32" or "F16"); metadata maps
    strings to strings."""
    if dtype not in ("F32", "F16"):
        raise ValueError("dtype must be F32 or F16, not %r" % dtype)
    header = {}
    blobs = []
    offset = 0
    for name in sorted(tensors):
        arr = np.asarray(_as_numpy(tensors[name]), dtype=DTYPES[dtype], order="C")
        if not np.all(np.isfinite(arr)):
            raise ValueError("tensor %r has NaN or Inf values" % name)
        data = arr.astype(arr.dtype.newbyteorder("<"), copy=False).tobytes()
        header[name] = {"dtype": dtype, "shape": list(arr.shape),
                        "data_offsets": [offset, offset + len(data)]}
        blobs.append(data)
        offset += len(data)
    if metadata is not None:
        if not all(isinstance(k, str) and isinstance(v, str) for k, v in metadata.items()):
            raise ValueError("metadata keys and values must be strings")
        header["__metadata__"] = dict(metadata)
    text = json.dumps(header, sort_keys=True, separators=(",", ":")).encode("utf-8")
    text += b" " * (-len(text) % 8)
    return struct.pack("<Q", len(text)) + text + b"".join(blobs)


def write(path, tensors, metadata=None, dtype="F32"):
    with open(path, "wb") as f:
        f.write(encode(tensors, metadata, dtype))


def decode(data):
    """(tensors, metadata, header) of a safetensors file's bytes; tensors is a
    dict name -> float32 numpy array, in the file's data order."""
    if len(data) < 8:
        raise ValueError("truncated file")
    (n,) = struct.unpack("<Q", data[:8])
    if n > len(data) - 8:
        raise ValueError("header length past the end of the file")
    header = json.loads(data[8:8 + n].decode("utf-8"))
    body = memoryview(data)[8 + n:]
    metadata = header.get("__metadata__", {})
    entries = sorted(((k, v) for k, v in header.items() if k != "__metadata__"),
                     key=lambda kv: kv[1]["data_offsets"][0])
    tensors = {}
    for name, info in entries:
        begin, end = info["data_offsets"]
        if not 0 <= begin <= end <= len(body):
            raise ValueError("tensor %r lies outside the file" % name)
        raw = body[begin:end]
        if info["dtype"] == "BF16":
            bits = np.frombuffer(raw, dtype="<u2").astype(np.uint32) << 16
            arr = bits.view(np.float32)
        elif info["dtype"] in DTYPES:
            arr = np.frombuffer(raw, dtype=np.dtype(DTYPES[info["dtype"]]).newbyteorder("<"))
        else:
            raise ValueError("tensor %r has unknown dtype %s" % (name, info["dtype"]))
        count = int(np.prod(info["shape"], dtype=np.int64))
        if arr.size != count:
            raise ValueError("tensor %r: %d bytes for shape %s" % (name, end - begin, info["shape"]))
        tensors[name] = arr.astype(np.float32).reshape(tuple(info["shape"]))
    return tensors, metadata, header


def read(path):
    with open(path, "rb") as f:
        return decode(f.read())
