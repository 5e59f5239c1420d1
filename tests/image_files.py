"""Image files that tests write by hand."""

import struct
import zlib


def png_header_only(width: int, height: int) -> bytes:
    """A PNG that declares width × height (8-bit RGB) but holds a single row of data: what its
    header says can be read without decoding (or allocating) the pixels."""
    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    row = zlib.compress(b"\x00" + b"\x00" * 3 * width)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", row) + chunk(b"IEND", b"")
