"""CIFAR-10 official python tarball (``cifar-10-python.tar.gz``) → the images npz files.

The tarball holds ``cifar-10-batches-py/{data_batch_1..5, test_batch, batches.meta}``: pickled
dicts with ``data`` (uint8, N×3072: the red, green, then blue 32×32 planes of each image),
``labels``, ``filenames``; ``batches.meta`` has ``label_names``. They are read with a restricted
unpickler straight from the tarball.

The output has the data release's layout (see ``harness.data.Cifar10``): ``jpeg`` (all encoded
images end to end), ``offsets`` (int64, N+1), ``labels`` (uint8), ``names``
(``"<class>/<k:04d>.jpg"``) and ``classes``; images are grouped by class in class order and, within
a class, kept in the order of the official batches, as in the release. JPEG images use Pillow's
defaults (quality 75, 4:2:0 chroma subsampling), the release's settings. The release is a
third party's JPEG copy, so a conversion is not byte-identical to it; ``codec="png"`` stores
the official pixels losslessly instead (the loader decodes either).
"""

from __future__ import annotations

import io
import os
import tarfile
import zlib
from pathlib import Path

import numpy as np
from PIL import Image

from harness.data import CIFAR10_FILES, DataError, atomic_write_bytes
from harness.datatools.convert.common import safe_pickle_load, update_sums

MEMBERS = {"train": [f"data_batch_{i}" for i in range(1, 6)], "test": ["test_batch"]}


def _member(tar: tarfile.TarFile, name: str, src: Path) -> dict:
    try:
        fh = tar.extractfile(f"cifar-10-batches-py/{name}")
    except KeyError:
        fh = None
    if fh is None:
        raise DataError(f"{src} lacks cifar-10-batches-py/{name}: not the official CIFAR-10 "
                        "python tarball.")
    obj = safe_pickle_load(fh, encoding="bytes", what=f"{src}:{name}")
    if not isinstance(obj, dict):
        raise DataError(f"{src}:{name} is not a CIFAR-10 batch.")
    # Python-2 pickles come back with bytes keys; accept str keys too.
    return {(k.decode() if isinstance(k, bytes) else k): v for k, v in obj.items()}


def encode(image: np.ndarray, codec: str) -> bytes:
    """One HWC uint8 image as JPEG (Pillow defaults, as the release) or PNG bytes."""
    buf = io.BytesIO()
    if codec == "jpeg":
        Image.fromarray(image).save(buf, "JPEG", quality=75, subsampling=2)
    else:
        Image.fromarray(image).save(buf, "PNG")
    return buf.getvalue()


def split_arrays(tar: tarfile.TarFile, split: str, classes: list[str], codec: str,
                 src: Path) -> dict[str, np.ndarray]:
    """The npz arrays of one split."""
    pixels, labels = [], []
    for name in MEMBERS[split]:
        batch = _member(tar, name, src)
        try:
            data = np.asarray(batch["data"], dtype=np.uint8).reshape(-1, 3, 32, 32)
            lab = np.asarray(batch["labels"], dtype=np.int64)
        except (KeyError, ValueError) as exc:
            raise DataError(f"{src}:{name} has no usable data/labels ({exc}).") from exc
        if len(lab) != len(data):
            raise DataError(f"{src}:{name}: {len(data)} images but {len(lab)} labels.")
        pixels.append(data.transpose(0, 2, 3, 1))  # CHW planes -> HWC, as images are stored
        labels.append(lab)
    images, y = np.concatenate(pixels), np.concatenate(labels)
    if y.min() < 0 or y.max() >= len(classes):
        raise DataError(f"{src}: labels outside 0..{len(classes) - 1}.")
    order = np.argsort(y, kind="stable")  # by class; stable keeps the official order within
    blobs, names, counts = [], [], [0] * len(classes)
    ext = "jpg" if codec == "jpeg" else "png"
    for i in order:
        c = int(y[i])
        blobs.append(encode(np.ascontiguousarray(images[i]), codec))
        names.append(f"{classes[c]}/{counts[c]:04d}.{ext}")
        counts[c] += 1
    offsets = np.zeros(len(blobs) + 1, dtype=np.int64)
    offsets[1:] = np.cumsum([len(b) for b in blobs])
    return {
        "jpeg": np.frombuffer(b"".join(blobs), dtype=np.uint8),
        "offsets": offsets,
        "labels": y[order].astype(np.uint8),
        "names": np.array(names),
        "classes": np.array(classes),
    }


def convert(tarball: str | os.PathLike, out_dir: str | os.PathLike,
            codec: str = "jpeg", splits: tuple[str, ...] = ("train", "test")) -> list[Path]:
    """Write ``cifar10/cifar10_{train,test}_jpeg.npz`` under ``out_dir`` (SHA256SUMS updated).

    Args:
        tarball: ``cifar-10-python.tar.gz``.
        out_dir: the data directory to write into.
        codec: ``"jpeg"`` (as the release) or ``"png"`` (lossless official pixels).
        splits: which splits to write.
    """
    src = Path(tarball)
    if not src.is_file():
        raise DataError(f"CIFAR-10 tarball {src} does not exist.")
    if codec not in ("jpeg", "png"):
        raise DataError(f"codec must be jpeg or png, not {codec!r}")
    written = []
    try:
        with tarfile.open(src, "r:*") as tar:
            meta = _member(tar, "batches.meta", src)
            classes = [c.decode() if isinstance(c, bytes) else str(c)
                       for c in meta.get("label_names", [])]
            if len(classes) != 10:
                raise DataError(f"{src}: batches.meta does not name 10 classes.")
            for split in splits:
                arrays = split_arrays(tar, split, classes, codec, src)
                rel = CIFAR10_FILES[split]
                # np.savez (not compressed), the arrays in the release's order
                atomic_write_bytes(Path(out_dir) / rel, lambda fh, a=arrays: np.savez(fh, **a))
                update_sums(Path(out_dir), rel)
                written.append(Path(out_dir) / rel)
    except (tarfile.TarError, EOFError, zlib.error) as exc:
        raise DataError(f"{src} is not a readable tarball ({exc}).") from exc
    except OSError as exc:  # gzip reports a damaged stream as OSError; writes fail the same way
        raise DataError(f"converting {src}: {exc}") from exc
    return written
