"""The pinned data release: which files, their sizes and SHA-256, and where they are published.

``data_release.json`` (next to this module, committed) lists every file of the data directory,
``SHA256SUMS`` and ``README.md`` included, so a fetch reproduces the directory exactly. It is
generated from a data directory with::

    python -m harness.datatools manifest ../shared/data

Mirrors are URL templates: ``{asset}`` is the file's flat release-asset name (``/`` → ``__``,
because release assets cannot hold directories), ``{path}`` its relative path; a URL with
neither gets the path appended. The default mirror is the repository's own release
``data-<version>`` (see docs/data.md); ``--mirror`` and ``$ESTBENCH_DATA_MIRRORS`` replace it.
"""

from __future__ import annotations

import json
import os
import shutil
import urllib.parse
from dataclasses import dataclass
from pathlib import Path

from harness.data import DataError, atomic_write_bytes
from harness.datatools.convert.common import sha256_file

MANIFEST_PATH = Path(__file__).with_name("data_release.json")
MIRRORS_ENV_VAR = "ESTBENCH_DATA_MIRRORS"
DEFAULT_VERSION = "v1"
# Where the project publishes the release: the assets of the GitHub release "data-<version>".
DEFAULT_MIRROR = "https://github.com/estbench/estbench/releases/download/data-{version}/{asset}"


@dataclass(frozen=True)
class ReleaseFile:
    """One file of the release."""

    path: str
    size: int
    sha256: str

    @property
    def asset(self) -> str:
        """The flat asset name under which the file is uploaded to a release."""
        return self.path.replace("/", "__")


@dataclass(frozen=True)
class Release:
    """The pinned release: version, default mirrors and files."""

    version: str
    mirrors: tuple[str, ...]
    files: tuple[ReleaseFile, ...]


def _release_files(data_dir: Path) -> list[str]:
    out = []
    for p in sorted(data_dir.rglob("*")):
        rel = p.relative_to(data_dir).as_posix()
        if p.is_file() and not rel.endswith(".part") and not any(
                part.startswith(".") for part in rel.split("/")):
            out.append(rel)
    return out


def build_manifest(data_dir: str | os.PathLike, version: str = DEFAULT_VERSION) -> dict:
    """The manifest of a data directory (every file, ``SHA256SUMS`` and ``README.md`` too)."""
    root = Path(data_dir)
    if not (root / "SHA256SUMS").is_file():
        raise DataError(f"{root} has no SHA256SUMS; not a data directory.")
    files = [{"path": rel, "size": (root / rel).stat().st_size,
              "sha256": sha256_file(root / rel)} for rel in _release_files(root)]
    return {"format": 1, "version": version, "mirrors": [DEFAULT_MIRROR], "files": files}


def write_manifest(manifest: dict, path: Path = MANIFEST_PATH) -> None:
    """Write the manifest as stable, diff-friendly JSON."""
    text = json.dumps(manifest, indent=1) + "\n"
    atomic_write_bytes(path, lambda fh: fh.write(text.encode()))


def stage_assets(data_dir: str | os.PathLike, manifest: dict, dest: str | os.PathLike) -> Path:
    """Copy the files under their flat asset names into ``dest``, ready to upload."""
    out = Path(dest)
    out.mkdir(parents=True, exist_ok=True)
    for f in manifest["files"]:
        shutil.copyfile(Path(data_dir) / f["path"], out / f["path"].replace("/", "__"))
    return out


def load_release(path: str | os.PathLike | None = None) -> Release:
    """Read the committed (or a given) manifest."""
    p = Path(path) if path else MANIFEST_PATH
    try:
        raw = json.loads(p.read_text())
        files = tuple(ReleaseFile(f["path"], int(f["size"]), str(f["sha256"]).lower())
                      for f in raw["files"])
        version = str(raw.get("version", DEFAULT_VERSION))
        mirrors = tuple(raw.get("mirrors") or [DEFAULT_MIRROR])
    except (OSError, ValueError, KeyError, TypeError) as exc:
        raise DataError(f"Release manifest {p} is missing or malformed ({exc}).") from exc
    for f in files:  # a manifest must never make fetch write outside the target directory
        parts = f.path.split("/")
        if f.path.startswith("/") or ".." in parts or "" in parts:
            raise DataError(f"Release manifest {p} has an unsafe path {f.path!r}.")
    return Release(version, mirrors, files)


def mirrors_from(cli: list[str] | None, release: Release) -> list[str]:
    """Mirrors in trial order: ``--mirror`` values, else ``$ESTBENCH_DATA_MIRRORS``
    (whitespace-separated), else the manifest's defaults."""
    if cli:
        return list(cli)
    env = os.environ.get(MIRRORS_ENV_VAR, "").split()
    return env or list(release.mirrors)


def file_url(mirror: str, f: ReleaseFile, version: str) -> str:
    """The URL of one file on one mirror (see the module docstring for templates)."""
    quoted = urllib.parse.quote(f.path)
    if "{asset}" in mirror or "{path}" in mirror or "{version}" in mirror:
        url = mirror.replace("{version}", version)
        if "{asset}" not in url and "{path}" not in url:
            return url.rstrip("/") + "/" + quoted
        return url.replace("{asset}", urllib.parse.quote(f.asset)).replace("{path}", quoted)
    return mirror.rstrip("/") + "/" + quoted
