"""png.py: a minimal PNG writer and reader (8-bit RGB/RGBA/grey, all five filters) with zlib,
so the scene tools need nothing beyond numpy."""
import struct
import zlib

import numpy as np


def _chunk(kind, data):
    body = kind + data
    return struct.pack(">I", len(data)) + body + struct.pack(">I", zlib.crc32(body) & 0xFFFFFFFF)


def write_png(path, img, level=6):
    """Writes a uint8 (H, W, 3) image to `path` (filter: Up on every row)."""
    img = np.ascontiguousarray(img, dtype=np.uint8)
    if img.ndim != 3 or img.shape[2] != 3:
        raise ValueError(f"{path}: expected an (H, W, 3) uint8 image, got shape {img.shape}")
    h, w, _ = img.shape
    up = np.empty_like(img)
    up[0] = img[0]
    up[1:] = img[1:] - img[:-1]
    rows = np.concatenate([np.full((h, 1), 2, np.uint8), up.reshape(h, w * 3)], axis=1)
    data = b"\x89PNG\r\n\x1a\n"
    data += _chunk(b"IHDR", struct.pack(">IIBBBBB", w, h, 8, 2, 0, 0, 0))
    data += _chunk(b"IDAT", zlib.compress(rows.tobytes(), level))
    data += _chunk(b"IEND", b"")
    with open(path, "wb") as f:
        f.write(data)


def read_png(path):
    """Reads a PNG as uint8 (H, W, 3): through Pillow when it is installed, else by the decoder
    here (8-bit, non-interlaced grey/RGB/RGBA; the Average and Paeth filters row by row in
    Python, slow on large pictures)."""
    try:
        from PIL import Image
    except ImportError:
        return _decode_png(path)
    with Image.open(path) as im:
        return np.asarray(im.convert("RGB"), dtype=np.uint8).copy()


def _decode_png(path):
    with open(path, "rb") as f:
        data = f.read()
    if data[:8] != b"\x89PNG\r\n\x1a\n":
        raise ValueError(f"{path}: not a PNG file")
    pos, idat, header = 8, [], None
    while pos < len(data):
        (n,) = struct.unpack(">I", data[pos:pos + 4])
        kind = data[pos + 4:pos + 8]
        body = data[pos + 8:pos + 8 + n]
        if kind == b"IHDR":
            header = struct.unpack(">IIBBBBB", body)
        elif kind == b"IDAT":
            idat.append(body)
        elif kind == b"IEND":
            break
        pos += 12 + n
    if header is None:
        raise ValueError(f"{path}: no IHDR chunk")
    w, h, depth, ctype, _, _, interlace = header
    channels = {0: 1, 2: 3, 6: 4, 4: 2}.get(ctype)
    if depth != 8 or channels is None or interlace:
        raise ValueError(f"{path}: only 8-bit non-interlaced grey/RGB/RGBA PNGs are supported")
    raw = np.frombuffer(zlib.decompress(b"".join(idat)), np.uint8).reshape(h, 1 + w * channels)
    bpp, stride = channels, w * channels
    out = np.zeros((h, stride), np.int32)
    prev = np.zeros(stride, np.int32)
    for y in range(h):
        ftype, line = raw[y, 0], raw[y, 1:].astype(np.int32)
        if ftype == 0:
            cur = line
        elif ftype == 1:
            cur = np.cumsum(line.reshape(w, bpp), axis=0).ravel() & 255
        elif ftype == 2:
            cur = (line + prev) & 255
        else:
            cur = np.zeros(stride, np.int32)
            for x in range(stride):
                a = cur[x - bpp] if x >= bpp else 0
                b = prev[x]
                if ftype == 3:
                    pred = (a + b) >> 1
                elif ftype == 4:
                    c = prev[x - bpp] if x >= bpp else 0
                    p = a + b - c
                    pa, pb, pc = abs(p - a), abs(p - b), abs(p - c)
                    pred = a if pa <= pb and pa <= pc else (b if pb <= pc else c)
                else:
                    raise ValueError(f"{path}: bad filter type {ftype} on row {y}")
                cur[x] = (line[x] + pred) & 255
        out[y] = cur
        prev = cur
    img = out.astype(np.uint8).reshape(h, w, channels)
    if channels in (1, 2):
        return np.repeat(img[..., :1], 3, axis=2)
    return img[..., :3].copy()
