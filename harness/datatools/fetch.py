"""Download the pinned data release: resumable, verified, atomic, from mirrors in order.

For each file of the manifest (:mod:`.manifest`):

1. a file already in place with the right size and SHA-256 is kept;
2. otherwise bytes go to ``<file>.part``; a ``.part`` left by an interrupted run, or a
   connection that drops mid-file, is resumed with an HTTP ``Range`` request (a server that
   ignores ``Range`` and answers 200 restarts the file from byte 0);
3. the complete ``.part`` is checked against the manifest's size and SHA-256 and only then
   renamed over the destination (``os.replace``: readers never see a partial file);
4. a failing or corrupt mirror is given up for that file and the next one is tried. A corrupt
   result that was resumed from an earlier ``.part`` is first fetched once more from scratch,
   because the stale part, not the mirror, may be at fault.

Only the standard library is used (``urllib``).
"""

from __future__ import annotations

import http.client
import os
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path
from typing import TextIO

from harness.datatools.convert.common import sha256_file
from harness.datatools.manifest import Release, ReleaseFile, file_url

CHUNK = 1 << 16
USER_AGENT = "estbench-data-fetch/1"


class MirrorError(Exception):
    """This mirror cannot deliver this file (HTTP error, or the connection keeps failing).

    ``unreachable`` is set when no connection worked at all: the run then skips the mirror.
    """

    def __init__(self, message: str, unreachable: bool = False) -> None:
        super().__init__(message)
        self.unreachable = unreachable


class Progress:
    """A plain one-line progress bar on a stream (redrawn in place on a terminal only).

    Off a terminal (CI logs) it stays silent: per-file result lines go to stdout anyway.
    """

    def __init__(self, label: str, total: int, stream: TextIO | None = None,
                 enabled: bool | None = None) -> None:
        self.label, self.total = label, max(total, 1)
        self.stream = stream if stream is not None else sys.stderr
        self.enabled = self.stream.isatty() if enabled is None else enabled
        self._last = 0.0

    def update(self, done: int, force: bool = False) -> None:
        """Redraw for ``done`` bytes (at most 10 times a second)."""
        now = time.monotonic()
        if not self.enabled or (not force and now - self._last < 0.1):
            return
        self._last = now
        frac = min(done / self.total, 1.0)
        bar = "#" * int(frac * 30)
        self.stream.write(f"\r{self.label[:40]:<40} [{bar:<30}] {frac:6.1%} "
                          f"{done / 1e6:8.1f}/{self.total / 1e6:.1f} MB")
        self.stream.flush()

    def close(self, done: int) -> None:
        """Draw the final state and end the line (nothing if no byte ever arrived)."""
        if self.enabled and done > 0:
            self.update(done, force=True)
            self.stream.write("\n")
            self.stream.flush()


def _size(path: Path) -> int:
    return path.stat().st_size if path.exists() else 0


def download(url: str, part: Path, size: int, progress: Progress, *, timeout: float = 30.0,
             attempts: int = 6) -> None:
    """Fill ``part`` up to ``size`` bytes from ``url``, resuming after dropped connections.

    Raises:
        MirrorError: an HTTP 4xx answer, or ``attempts`` connections in a row failed.
    """
    last: BaseException | None = None
    connected = False
    for attempt in range(attempts):
        have = _size(part)
        if have > size:  # longer than the release's file: cannot be a prefix of it
            part.unlink()
            have = 0
        if have == size:
            return
        headers = {"User-Agent": USER_AGENT}
        if have:
            headers["Range"] = f"bytes={have}-"
        try:
            with urllib.request.urlopen(urllib.request.Request(url, headers=headers),
                                        timeout=timeout) as resp:
                connected = True
                status = getattr(resp, "status", None) or 200
                appending = have > 0 and status == 206
                if appending and not str(resp.headers.get("Content-Range", "")).startswith(
                        f"bytes {have}-"):
                    appending = False  # an unexpected range: start over rather than guess
                    have = 0
                    resp.close()
                    part.unlink()
                    continue
                if not appending:
                    have = 0
                with open(part, "ab" if appending else "wb") as fh:
                    while have < size:
                        chunk = resp.read(min(CHUNK, size - have))
                        if not chunk:
                            break
                        fh.write(chunk)
                        have += len(chunk)
                        progress.update(have)
            if have >= size:
                return
            last = ConnectionError(f"connection closed after {have} of {size} bytes")
        except urllib.error.HTTPError as exc:
            connected = True
            if exc.code == 416 and have:  # our part is not a prefix the server knows
                part.unlink()
                continue
            if exc.code < 500:
                raise MirrorError(f"HTTP {exc.code} {exc.reason}") from exc
            last = exc
        except (urllib.error.URLError, http.client.HTTPException, OSError) as exc:
            last = exc  # dropped or refused connection, timeout: resume from what we have
        time.sleep(min(0.1 * 2 ** attempt, 2.0))
    raise MirrorError(f"gave up after {attempts} attempts ({last})", unreachable=not connected)


def _fsync(path: Path) -> None:
    with open(path, "rb+") as fh:
        os.fsync(fh.fileno())


def fetch_file(f: ReleaseFile, root: Path, mirrors: list[str], version: str, *,
               progress: bool | None = None, timeout: float = 30.0,
               dead: set[str] | None = None) -> tuple[bool, str]:
    """Put one release file in place under ``root``.

    ``dead`` collects mirrors that could not be reached at all; they are skipped from then on.

    Returns:
        ``(ok, message)``: the message says where it came from or why every mirror failed.
    """
    dest = root / f.path
    if dest.is_file() and dest.stat().st_size == f.size and sha256_file(dest) == f.sha256:
        return True, "already present"
    dest.parent.mkdir(parents=True, exist_ok=True)
    part = dest.with_name(dest.name + ".part")
    errors: list[str] = []
    dead = dead if dead is not None else set()
    for mirror in mirrors:
        if mirror in dead:
            errors.append(f"{mirror}: unreachable earlier in this run, skipped")
            continue
        url = file_url(mirror, f, version)
        for fresh in (False, True):
            if fresh:
                part.unlink(missing_ok=True)
            resumed = _size(part) > 0
            bar = Progress(f.path, f.size, enabled=progress)
            try:
                download(url, part, f.size, bar, timeout=timeout)
            except MirrorError as exc:
                bar.close(_size(part))
                errors.append(f"{url}: {exc}")
                if exc.unreachable:
                    dead.add(mirror)
                break
            bar.close(_size(part))
            if _size(part) == f.size and sha256_file(part) == f.sha256:
                _fsync(part)
                os.replace(part, dest)
                return True, f"from {url}"
            part.unlink()
            errors.append(f"{url}: SHA-256 mismatch, corrupt copy discarded")
            if not resumed:
                break  # this mirror serves a bad copy: try the next one
    return False, "; ".join(errors) if errors else "no mirror given"


def fetch(release: Release, dest: str | os.PathLike, mirrors: list[str], *,
          out: TextIO | None = None, progress: bool | None = None,
          timeout: float = 30.0) -> int:
    """Fetch every file of ``release`` into ``dest``; print one line per file.

    Returns:
        0 when every file is in place and verified, 1 otherwise.
    """
    out = out if out is not None else sys.stdout
    root = Path(dest).expanduser().resolve()
    try:
        root.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        print(f"FAILED  cannot create {root}: {exc.strerror or exc}", file=out)
        return 1
    failed = 0
    dead: set[str] = set()
    for f in release.files:
        try:
            ok, msg = fetch_file(f, root, mirrors, release.version, progress=progress,
                                 timeout=timeout, dead=dead)
        except OSError as exc:  # the local disk, not a mirror: full, read-only, ...
            ok, msg = False, f"local error: {exc}"
        failed += not ok
        print(f"{'ok' if ok else 'FAILED':<7} {f.path}  ({msg})", file=out, flush=True)
    n = len(release.files)
    print(f"{n - failed} of {n} files in place and verified in {root}"
          + ("" if not failed else f"; {failed} failed"), file=out)
    return 0 if not failed else 1
