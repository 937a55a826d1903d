"""TFRecord framing and protobuf wire decoding, without TensorFlow or ``protobuf``.

A TFRecord file is a sequence of records, each::

    uint64 length (little endian) | uint32 masked_crc32c(length) | data | uint32 masked_crc32c(data)

where ``masked_crc32c(x) = ((crc >> 15 | crc << 17) + 0xa282ead8) mod 2**32`` of the CRC-32C
(Castagnoli) checksum. The protobuf decoder reads the wire format (varints, 64-bit, 32-bit and
length-delimited fields), which is all that NAS-Bench-101's ``ModelMetrics`` needs.
"""

from __future__ import annotations

import struct
from collections.abc import Callable, Iterator
from typing import BinaryIO

from harness.data import DataError


def _crc32c_table() -> list[int]:
    poly = 0x82F63B78  # CRC-32C (Castagnoli), reflected
    table = []
    for n in range(256):
        c = n
        for _ in range(8):
            c = (c >> 1) ^ poly if c & 1 else c >> 1
        table.append(c)
    return table


_TABLE = _crc32c_table()


def _fast_crc32c() -> Callable[[bytes], int] | None:
    try:  # optional C implementations; the pure-Python fallback reads only ~3 MB/s
        # lazy: optional C implementation
        import google_crc32c

        return lambda data: google_crc32c.value(data)
    except ImportError:
        pass
    try:
        # lazy: optional C implementation
        import crc32c as _crc32c

        return _crc32c.crc32c
    except ImportError:
        return None


FAST_CRC32C = _fast_crc32c()


def crc32c(data: bytes) -> int:
    """CRC-32C of ``data`` (a C package if installed, else pure Python)."""
    if FAST_CRC32C is not None:
        return FAST_CRC32C(data)
    crc = 0xFFFFFFFF
    table = _TABLE
    for b in data:
        crc = table[(crc ^ b) & 0xFF] ^ (crc >> 8)
    return crc ^ 0xFFFFFFFF


def masked_crc(data: bytes) -> int:
    """TFRecord's masked CRC-32C."""
    crc = crc32c(data)
    return (((crc >> 15) | (crc << 17)) + 0xA282EAD8) & 0xFFFFFFFF


def write_record(fh: BinaryIO, data: bytes) -> None:
    """Append one TFRecord (used by tests to write fixtures in the official framing)."""
    header = struct.pack("<Q", len(data))
    fh.write(header + struct.pack("<I", masked_crc(header)))
    fh.write(data + struct.pack("<I", masked_crc(data)))


def read_records(fh: BinaryIO, *, check_crc: bool | None = True,
                 name: str = "file") -> Iterator[bytes]:
    """Yield the payload of each record, streaming.

    Args:
        fh: binary file positioned at a record boundary.
        check_crc: verify the data checksums too; ``None``: only with a fast CRC package (the
            12-byte header checksum is always verified: it is cheap and catches a file that is
            not a TFRecord at all).
        name: file name for error messages.

    Raises:
        DataError: truncated file or checksum mismatch.
    """
    if check_crc is None:
        check_crc = FAST_CRC32C is not None
    n = 0
    while True:
        header = fh.read(12)
        if not header:
            return
        if len(header) < 12:
            raise DataError(f"{name}: truncated TFRecord header after {n} records.")
        length_bytes, (length_crc,) = header[:8], struct.unpack("<I", header[8:])
        if masked_crc(length_bytes) != length_crc:
            raise DataError(f"{name}: record {n} has a bad length checksum; not a TFRecord file "
                            "or corrupt.")
        (length,) = struct.unpack("<Q", length_bytes)
        data = fh.read(length)
        footer = fh.read(4)
        if len(data) < length or len(footer) < 4:
            raise DataError(f"{name}: truncated record {n}; the download is incomplete.")
        if check_crc and masked_crc(data) != struct.unpack("<I", footer)[0]:
            raise DataError(f"{name}: record {n} fails its CRC-32C check; the file is corrupt.")
        n += 1
        yield data


# --------------------------------------------------------------------------------------------
# Protobuf wire format
# --------------------------------------------------------------------------------------------


def _varint(buf: bytes, pos: int) -> tuple[int, int]:
    result = shift = 0
    while True:
        if pos >= len(buf):
            raise DataError("truncated protobuf varint")
        b = buf[pos]
        pos += 1
        result |= (b & 0x7F) << shift
        if not b & 0x80:
            return result, pos
        shift += 7


def parse_message(buf: bytes) -> dict[int, list[int | float | bytes]]:
    """Decode one protobuf message into ``{field number: [raw values]}``.

    Varints come back as ints, fixed64 as doubles, fixed32 as floats and length-delimited
    fields as bytes (decode nested messages with another call).
    """
    fields: dict[int, list[int | float | bytes]] = {}
    pos = 0
    while pos < len(buf):
        key, pos = _varint(buf, pos)
        number, wire = key >> 3, key & 7
        value: int | float | bytes
        if wire == 0:
            value, pos = _varint(buf, pos)
        elif wire == 1:
            (value,) = struct.unpack_from("<d", buf, pos)
            pos += 8
        elif wire == 2:
            size, pos = _varint(buf, pos)
            value = buf[pos:pos + size]
            pos += size
        elif wire == 5:
            (value,) = struct.unpack_from("<f", buf, pos)
            pos += 4
        else:
            raise DataError(f"unsupported protobuf wire type {wire}")
        if pos > len(buf):
            raise DataError("truncated protobuf message")
        fields.setdefault(number, []).append(value)
    return fields


def encode_varint(value: int) -> bytes:
    """Protobuf varint encoding of a non-negative int (for writing test fixtures)."""
    out = bytearray()
    while True:
        b = value & 0x7F
        value >>= 7
        if value:
            out.append(b | 0x80)
        else:
            out.append(b)
            return bytes(out)


def encode_field(number: int, value: int | float | bytes) -> bytes:
    """One protobuf field: ints as varints, floats as doubles, bytes length-delimited."""
    if isinstance(value, bytes):
        return encode_varint(number << 3 | 2) + encode_varint(len(value)) + value
    if isinstance(value, float):
        return encode_varint(number << 3 | 1) + struct.pack("<d", value)
    return encode_varint(number << 3 | 0) + encode_varint(value)
