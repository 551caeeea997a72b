"""A small pure-Python (zlib + NumPy) PNG reader and writer, so image folders load without Pillow.

Reads non-interlaced PNGs of every colour type (grey, RGB, palette, grey+alpha, RGBA) at bit depths
1/2/4/8/16 (16-bit samples keep their high byte). Interlaced (Adam7) files raise NotImplementedError:
install Pillow for those (strided.data.decode_image uses Pillow first whenever it is importable).
Broken files raise ValueError; the image data is inflated only up to the size the header implies.
"""
from __future__ import annotations

import struct
import zlib

import numpy as np

SIGNATURE = b"\x89PNG\r\n\x1a\n"
_CHANNELS = {0: 1, 2: 3, 3: 1, 4: 2, 6: 4}
MAX_PIXELS = 1 << 26  # 64 Mpixel: far beyond a cell image or photo, and refused before inflating anything


def _unfilter(raw: bytes, height: int, stride: int, bpp: int) -> np.ndarray:
    rows = np.frombuffer(raw, np.uint8)
    if rows.size != height * (stride + 1):
        raise ValueError(f"PNG image data has {rows.size} bytes, expected {height * (stride + 1)}")
    rows = rows.reshape(height, stride + 1)
    out = np.zeros((height, stride), np.uint8)
    prev = np.zeros(stride, np.int32)
    for r in range(height):
        ftype = rows[r, 0]
        line = rows[r, 1:].astype(np.int32)
        if ftype == 0:
            cur = line
        elif ftype == 1:  # Sub: cumulative sums per byte lane, modulo 256
            pad = (-stride) % bpp
            lanes = np.concatenate([line, np.zeros(pad, np.int32)]).reshape(-1, bpp)
            cur = (np.cumsum(lanes, axis=0) & 255).reshape(-1)[:stride]
        elif ftype == 2:  # Up
            cur = (line + prev) & 255
        elif ftype in (3, 4):  # Average / Paeth: sequential along the row, vectorised over bpp
            cur = np.empty(stride, np.int32)
            for i in range(0, stride, bpp):
                j = min(i + bpp, stride)
                b = prev[i:j]
                if i == 0:
                    a = np.zeros(j - i, np.int32)
                    c = np.zeros(j - i, np.int32)
                else:
                    a = cur[i - bpp:j - bpp]
                    c = prev[i - bpp:j - bpp]
                if ftype == 3:
                    cur[i:j] = (line[i:j] + ((a + b) >> 1)) & 255
                else:
                    p = a + b - c
                    pa, pb, pc = np.abs(p - a), np.abs(p - b), np.abs(p - c)
                    pred = np.where((pa <= pb) & (pa <= pc), a, np.where(pb <= pc, b, c))
                    cur[i:j] = (line[i:j] + pred) & 255
        else:
            raise ValueError(f"PNG row {r} has unknown filter type {ftype}")
        out[r] = cur
        prev = cur
    return out


def read_png(data: bytes) -> np.ndarray:
    """Decode PNG bytes to a uint8 array (H, W) for grey or (H, W, C) with C in {2, 3, 4}; palettes become RGB(A)."""
    if not data.startswith(SIGNATURE):
        raise ValueError("not a PNG file (bad signature)")
    pos, idat, palette, trns, header = 8, [], None, None, None
    while pos + 8 <= len(data):
        length, ctype = struct.unpack(">I4s", data[pos:pos + 8])
        body = data[pos + 8:pos + 8 + length]
        pos += 12 + length
        if ctype == b"IHDR":
            if len(body) != 13:
                raise ValueError(f"PNG IHDR chunk of {len(body)} bytes, not 13")
            header = struct.unpack(">IIBBBBB", body)
        elif ctype == b"PLTE":
            palette = np.frombuffer(body, np.uint8).reshape(-1, 3)
        elif ctype == b"tRNS":
            trns = np.frombuffer(body, np.uint8)
        elif ctype == b"IDAT":
            idat.append(body)
        elif ctype == b"IEND":
            break
    if header is None:
        raise ValueError("PNG without an IHDR chunk")
    width, height, depth, ctype, _comp, _filt, interlace = header
    if interlace:
        raise NotImplementedError("interlaced PNG: install Pillow (pip install pillow) to read it")
    if ctype not in _CHANNELS or depth not in (1, 2, 4, 8, 16):
        raise ValueError(f"unsupported PNG colour type {ctype} / bit depth {depth}")
    if not 0 < width * height <= MAX_PIXELS:
        raise ValueError(f"PNG of {width}x{height} pixels: refused (between 1 and {MAX_PIXELS} pixels)")
    ch = _CHANNELS[ctype]
    bits = ch * depth
    stride = (width * bits + 7) // 8
    bpp = max(1, bits // 8)
    try:  # at most one byte beyond what the header implies: a small file cannot inflate to gigabytes
        raw = zlib.decompressobj().decompress(b"".join(idat), height * (stride + 1) + 1)
    except zlib.error as e:
        raise ValueError(f"PNG image data is corrupt ({e})") from e
    rows = _unfilter(raw, height, stride, bpp)
    if depth == 16:
        img = rows.reshape(height, width * ch, 2)[:, :, 0]  # big-endian: the high byte
    elif depth == 8:
        img = rows
    else:
        img = np.unpackbits(rows, axis=1).reshape(height, -1, depth)[:, :width * ch]
        weights = (1 << np.arange(depth - 1, -1, -1)).astype(np.uint16)
        img = (img * weights).sum(axis=2)
        if ctype == 0:  # scale grey levels to 0..255
            img = img * (255 // ((1 << depth) - 1))
        img = img.astype(np.uint8)
    img = img.reshape(height, width, ch)
    if ctype == 3:
        if palette is None or not len(palette):
            raise ValueError("palette PNG without a PLTE chunk")
        idx = img[:, :, 0]
        rgb = palette[np.minimum(idx, len(palette) - 1)]
        if trns is not None:
            alpha = np.full(len(palette), 255, np.uint8)
            alpha[:len(trns)] = trns[:len(palette)]
            rgb = np.concatenate([rgb, alpha[np.minimum(idx, len(palette) - 1)][..., None]], axis=2)
        img = rgb
    return img[:, :, 0] if img.shape[2] == 1 else np.ascontiguousarray(img)


def write_png(img: np.ndarray) -> bytes:
    """Encode a uint8 (H, W) grey, (H, W, 3) RGB or (H, W, 4) RGBA array as PNG bytes (filter 0 rows)."""
    img = np.asarray(img)
    if img.dtype != np.uint8:
        raise TypeError(f"write_png needs uint8, got {img.dtype}")
    if img.ndim == 2:
        img = img[:, :, None]
    h, w, c = img.shape
    ctype = {1: 0, 2: 4, 3: 2, 4: 6}[c]

    def chunk(kind, body):
        return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body) & 0xFFFFFFFF)

    raw = np.concatenate([np.zeros((h, 1), np.uint8), img.reshape(h, w * c)], axis=1).tobytes()
    return (SIGNATURE + chunk(b"IHDR", struct.pack(">IIBBBBB", w, h, 8, ctype, 0, 0, 0))
            + chunk(b"IDAT", zlib.compress(raw, 6)) + chunk(b"IEND", b""))
