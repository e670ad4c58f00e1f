"""png16.py: reads an 8- or 16-bit RGB/RGBA PNG (non-interlaced, any row filter) as float32 in
[0, 1], so the engine's `--depth 16` output can be compared with a float reference (Pillow reads
16-bit RGB as 8 bits).

    read_png_float(path) -> float32 (H, W, 3)
"""
import struct
import zlib

import numpy as np


def _unfilter(raw, h, stride, bpp):
    """Undoes the PNG row filters (None, Sub, Up, Average, Paeth) of raw [h, 1 + stride] bytes."""
    out = np.zeros((h, stride), np.int32)
    prev = np.zeros(stride, np.int32)
    for y in range(h):
        ftype, line = int(raw[y, 0]), raw[y, 1:].astype(np.int32)
        if ftype == 0:
            cur = line
        elif ftype == 1:
            cur = np.cumsum(line.reshape(-1, bpp), axis=0).ravel() & 255
        elif ftype == 2:
            cur = (line + prev) & 255
        elif ftype in (3, 4):
            cur = np.zeros(stride, np.int32)
            left = np.zeros(bpp, np.int32)
            up_left = np.zeros(bpp, np.int32)
            for x in range(0, stride, bpp):
                up = prev[x:x + bpp]
                if ftype == 3:
                    pred = (left + up) >> 1
                else:
                    p = left + up - up_left
                    pa, pb, pc = np.abs(p - left), np.abs(p - up), np.abs(p - up_left)
                    pred = np.where((pa <= pb) & (pa <= pc), left, np.where(pb <= pc, up, up_left))
                cur[x:x + bpp] = (line[x:x + bpp] + pred) & 255
                left, up_left = cur[x:x + bpp], up
        else:
            raise ValueError(f"bad PNG filter type {ftype} on row {y}")
        out[y] = cur
        prev = cur
    return out


def read_png_float(path):
    with open(path, "rb") as f:
        data = f.read()
    if data[:8] != b"\x89PNG\r\n\x1a\n":
        raise ValueError(f"{path}: not a PNG file")
    pos, idat, header = 8, [], None
    while pos + 8 <= len(data):
        (n,) = struct.unpack(">I", data[pos:pos + 4])
        kind = data[pos + 4:pos + 8]
        if kind == b"IHDR":
            header = struct.unpack(">IIBBBBB", data[pos + 8:pos + 21])
        elif kind == b"IDAT":
            idat.append(data[pos + 8:pos + 8 + n])
        elif kind == b"IEND":
            break
        pos += 12 + n
    if header is None:
        raise ValueError(f"{path}: no IHDR chunk")
    w, h, depth, ctype, _, _, interlace = header
    channels = {2: 3, 6: 4}.get(ctype)
    if depth not in (8, 16) or channels is None or interlace:
        raise ValueError(f"{path}: only non-interlaced 8- or 16-bit RGB/RGBA PNGs are read here "
                         f"(depth {depth}, colour type {ctype}, interlace {interlace})")
    nbytes = depth // 8
    bpp, stride = channels * nbytes, w * channels * nbytes
    raw = np.frombuffer(zlib.decompress(b"".join(idat)), np.uint8)
    if raw.size != h * (1 + stride):
        raise ValueError(f"{path}: image data holds {raw.size} bytes, expected {h * (1 + stride)}")
    px = _unfilter(raw.reshape(h, 1 + stride), h, stride, bpp).astype(np.uint8)
    if nbytes == 2:
        vals = px.reshape(h, w * channels, 2).astype(np.uint32)
        vals = (vals[..., 0] << 8 | vals[..., 1]).astype(np.float32) / 65535.0
    else:
        vals = px.astype(np.float32) / 255.0
    return vals.reshape(h, w, channels)[..., :3]
