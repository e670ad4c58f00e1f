#!/usr/bin/env python3
"""make_png_fixtures.py: writes small PNGs of every colour type and bit depth, and broken ones, to
tests/data/fuzz-seeds/png/: the seeds of tests/fuzz_png_read.c and the fixtures of
tests/test_png_io.c (the upscale input reader). Standard library only; the PNG encoding is written
here, independent of libpng.

Every typed picture is 16x8 pixels showing the same pattern: pixel (x, y) has index
p = (x + 3y) mod 16, colour C[p] = (17p, 255 - 17p, 85p mod 256) and grey level 17p (8 bits).
- rgb8, rgb16 (C[p] * 257), rgba8, rgba16 (alpha 255 - 16p, which the reader drops),
- gray1/2/4 (level p masked to the depth: p & 1, p & 3, p), gray8, gray16 (17p * 257),
  graya8, graya16, gray8-trns (grey 0 transparent),
- palette1/2/4/8 (palette C[0..15], index p masked to the depth), palette4-trns,
- rgb8-interlaced, gray2-interlaced (Adam7).
Broken or refused: huge-header (IHDR 100000x100000, empty image data), wide-4100x100 (grey, valid;
4 times larger is over 16384), truncated (rgb8 cut inside IDAT), bad-crc (IHDR's CRC wrong),
bad-zlib (IDAT not a zlib stream, its CRC right), not-png.txt.

Usage: make_png_fixtures.py [OUTPUT_FOLDER]
"""
import os
import struct
import sys
import zlib

W, H = 16, 8
COLOUR = [(17 * p, 255 - 17 * p, (85 * p) % 256) for p in range(16)]
ADAM7 = [(0, 0, 8, 8), (4, 0, 8, 8), (0, 4, 4, 8), (2, 0, 4, 4), (0, 2, 2, 4), (1, 0, 2, 2), (0, 1, 1, 2)]


def index(x, y):
    return (x + 3 * y) % 16


def chunk(kind, body):
    return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body))


def pack_row(samples, depth):
    """Samples of one row (already flattened over channels) as bytes at the bit depth."""
    if depth == 16:
        return b"".join(struct.pack(">H", s) for s in samples)
    if depth == 8:
        return bytes(samples)
    out, acc, bits = bytearray(), 0, 0
    for s in samples:
        acc, bits = (acc << depth) | s, bits + depth
        if bits == 8:
            out.append(acc)
            acc, bits = 0, 0
    if bits:
        out.append(acc << (8 - bits))
    return bytes(out)


def image_data(pixel, depth, interlaced):
    """The filtered (filter 0) scanlines of the picture, Adam7 passes one after another."""
    rows = []
    passes = ADAM7 if interlaced else [(0, 0, 1, 1)]
    for x0, y0, dx, dy in passes:
        xs = range(x0, W, dx)
        if not xs:
            continue
        for y in range(y0, H, dy):
            samples = [s for x in xs for s in pixel(x, y)]
            rows.append(b"\0" + pack_row(samples, depth))
    return b"".join(rows)


def png(colour_type, depth, pixel, extra=b"", interlaced=False, width=W, height=H, data=None):
    ihdr = struct.pack(">IIBBBBB", width, height, depth, colour_type, 0, 0, 1 if interlaced else 0)
    if data is None:
        data = image_data(pixel, depth, interlaced)
    return (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + extra
            + chunk(b"IDAT", zlib.compress(data, 9)) + chunk(b"IEND", b""))


def grey(depth):
    mask = {1: 1, 2: 3, 4: 15}.get(depth)
    if mask:
        return lambda x, y: [index(x, y) & mask]
    scale = 17 * (257 if depth == 16 else 1)
    return lambda x, y: [index(x, y) * scale]


def typed_pictures():
    plte = chunk(b"PLTE", bytes(c for rgb in COLOUR for c in rgb))
    rgb = lambda x, y: list(COLOUR[index(x, y)])
    rgb16 = lambda x, y: [c * 257 for c in COLOUR[index(x, y)]]
    alpha = lambda x, y: 255 - 16 * index(x, y)
    pics = {
        "rgb8": png(2, 8, rgb),
        "rgb16": png(2, 16, rgb16),
        "rgba8": png(6, 8, lambda x, y: rgb(x, y) + [alpha(x, y)]),
        "rgba16": png(6, 16, lambda x, y: rgb16(x, y) + [alpha(x, y) * 257]),
        "gray8-trns": png(0, 8, grey(8), extra=chunk(b"tRNS", struct.pack(">H", 0))),
        "graya8": png(4, 8, lambda x, y: grey(8)(x, y) + [alpha(x, y)]),
        "graya16": png(4, 16, lambda x, y: grey(16)(x, y) + [alpha(x, y) * 257]),
        "palette4-trns": png(3, 4, lambda x, y: [index(x, y)],
                             extra=plte + chunk(b"tRNS", bytes(255 - 16 * p for p in range(16)))),
        "rgb8-interlaced": png(2, 8, rgb, interlaced=True),
        "gray2-interlaced": png(0, 2, grey(2), interlaced=True),
    }
    for depth in (1, 2, 4, 8, 16):
        pics[f"gray{depth}"] = png(0, depth, grey(depth))
    for depth in (1, 2, 4, 8):
        mask = (1 << depth) - 1
        pics[f"palette{depth}"] = png(3, depth, lambda x, y, m=mask: [index(x, y) & m], extra=plte)
    return {name + ".png": data for name, data in pics.items()}


def broken_files(rgb8):
    huge = png(0, 8, None, width=100000, height=100000, data=b"")
    wide = png(0, 8, None, width=4100, height=100, data=b"\0" * (4101 * 100))
    idat = rgb8.index(b"IDAT")
    truncated = rgb8[:idat + 4 + 20]
    bad_crc = bytearray(rgb8)
    bad_crc[8 + 8 + 13] ^= 0xFF  # the first byte of IHDR's CRC
    not_zlib = b"\x89PNG\r\n\x1a\n" + rgb8[8:idat - 4] + chunk(b"IDAT", b"this is not zlib data") + chunk(b"IEND", b"")
    return {"huge-header.png": huge, "wide-4100x100.png": wide, "truncated.png": truncated,
            "bad-crc.png": bytes(bad_crc), "bad-zlib.png": not_zlib,
            "not-png.txt": b"# not a picture\nA text file given as the upscale input.\n"}


def main():
    root = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
    folder = sys.argv[1] if len(sys.argv) > 1 else os.path.join(root, "tests", "data", "fuzz-seeds", "png")
    os.makedirs(folder, exist_ok=True)
    files = typed_pictures()
    files.update(broken_files(files["rgb8.png"]))
    for name, data in sorted(files.items()):
        with open(os.path.join(folder, name), "wb") as f:
            f.write(data)
        print(f"{name}: {len(data)} bytes")


if __name__ == "__main__":
    main()
