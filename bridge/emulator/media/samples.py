"""A few built-in sample pictures, drawn as PNG here so nothing binary is shipped.

The sandbox page offers them beside a file picker, and tests can send one without
uploading anything. Each is a small RGB PNG written with ``zlib`` and ``struct``; the
same call always gives the same bytes.
"""

from __future__ import annotations

import struct
import zlib
from collections.abc import Callable

__all__ = ["SAMPLES", "png"]

Pixel = Callable[[int, int], tuple[int, int, int]]


def png(width: int, height: int, pixel: Pixel) -> bytes:
    """An 8-bit RGB PNG of ``width`` × ``height`` whose colour at (x, y) is ``pixel``."""
    rows = b"".join(
        b"\x00" + bytes(channel for x in range(width) for channel in pixel(x, y))
        for y in range(height)
    )
    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return (
        b"\x89PNG\r\n\x1a\n"
        + _chunk(b"IHDR", header)
        + _chunk(b"IDAT", zlib.compress(rows, 9))
        + _chunk(b"IEND", b"")
    )


def _chunk(kind: bytes, data: bytes) -> bytes:
    crc = zlib.crc32(kind + data) & 0xFFFFFFFF
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", crc)


def _sunset(x: int, y: int) -> tuple[int, int, int]:
    sky = y / 127
    sun = (x - 64) ** 2 + (y - 80) ** 2 < 18**2
    if sun:
        return (255, 214, 90)
    if y > 96:
        return (22, 60 + (y - 96), 110)  # the sea
    return (int(40 + 215 * sky), int(60 + 90 * sky), int(160 - 100 * sky))


def _checkerboard(x: int, y: int) -> tuple[int, int, int]:
    return (22, 119, 255) if (x // 16 + y // 16) % 2 else (245, 247, 250)


_BARS = ((16, 70, (22, 119, 255)), (44, 40, (0, 179, 101)), (72, 90, (255, 154, 46)))


def _chart(x: int, y: int) -> tuple[int, int, int]:
    if y == 112 or x == 8:
        return (80, 80, 80)  # the axes
    for left, height, colour in _BARS:
        if left <= x < left + 20 and 112 - height <= y < 112:
            return colour
    return (255, 255, 255)


SAMPLES: dict[str, tuple[str, Callable[[], bytes]]] = {
    "sample-sunset": ("日落 sunset.png", lambda: png(128, 128, _sunset)),
    "sample-checkerboard": ("棋盘 checkerboard.png", lambda: png(128, 128, _checkerboard)),
    "sample-chart": ("柱状图 chart.png", lambda: png(128, 128, _chart)),
}
"""Media id → (file name, how to draw it)."""
