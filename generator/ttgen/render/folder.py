"""The atomic output folder: it appears complete or not at all.

Files are written into a temporary sibling folder (``.<name>.ttgen-tmp-*``,
hidden and ignored by ttgen) and the folder is renamed into place at the end.
With ``force``, an existing target is moved aside only once the new folder is
complete, then removed; until then it stays intact. Every file's sha256 is
computed as it is written, for the manifest.
"""

from __future__ import annotations

import errno
import hashlib
import itertools
import os
import shutil
from pathlib import Path
from types import TracebackType
from typing import Iterable

from ..errors import OutputError, Problem, SourcePos
from ..layout import OLD_MARK, TMP_MARK, numbered


def _token() -> str:
    # Random, for names no other process picks; os.urandom spares importing uuid (~3 ms).
    return os.urandom(4).hex()


def _os_problem(exc: OSError, where: Path, doing: str) -> OutputError:
    hint = {
        errno.EACCES: "check the folder's permissions, or choose another with --out",
        errno.EPERM: "this place does not allow it: choose another folder with --out",
        errno.ENOENT: "a folder on the way is missing (removed meanwhile?) or cannot be created here: "
                      "choose another folder with --out",
        errno.EEXIST: "a file is in the way of the output folder's path: choose another folder with --out",
        errno.ENOTDIR: "a file is in the way of the output folder's path: choose another folder with --out",
        errno.EROFS: "the file system is read-only: choose another folder with --out",
        errno.ENOSPC: "the disk is full: free space or choose another folder with --out",
        errno.EDQUOT: "the disk quota is exceeded: free space or choose another folder with --out",
        errno.EFBIG: "a file size limit was hit (ulimit -f): raise it or choose another folder with --out",
    }.get(exc.errno or 0)
    return OutputError([Problem(f"cannot {doing}: {exc.strerror or exc}", pos=SourcePos(str(where)), hint=hint)])


class AtomicFolder:
    """Collects files in a temporary folder and renames it to *target* on success."""

    STREAM_BATCH = 4096  # chunks joined per write by `stream_text`

    def __init__(self, target: Path, *, force: bool = False, reserved: bool = False) -> None:
        self.target = Path(target)
        self.force = force
        # The target is an empty folder this render made to hold its name (`reserve_folder`):
        # the new folder replaces it, and it is removed if the render fails.
        self.reserved = reserved
        self.tmp: Path | None = None
        self.files: dict[str, str] = {}  # relative name -> sha256, in write order

    def _check_target(self) -> None:
        if self.reserved:
            return
        if self.target.exists() and not self.target.is_dir():
            raise OutputError([Problem("output path exists and is not a folder", pos=SourcePos(str(self.target)),
                                       hint="choose another folder with --out")])
        if self.target.exists() and not self.force:
            raise OutputError([Problem("output folder already exists", pos=SourcePos(str(self.target)),
                                       hint="pass --force to replace it, or choose another folder with --out")])

    def __enter__(self) -> "AtomicFolder":
        self._check_target()
        parent = self.target.parent
        try:
            parent.mkdir(parents=True, exist_ok=True)
            self.tmp = parent / f".{self.target.name}{TMP_MARK}{os.getpid()}-{_token()}"
            self.tmp.mkdir()
        except OSError as exc:
            raise _os_problem(exc, parent, "create the output folder") from None
        return self

    def path(self, rel: str) -> Path:
        assert self.tmp is not None
        return self.tmp / rel

    def mkdir(self, rel: str) -> Path:
        p = self.path(rel)
        try:
            p.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise _os_problem(exc, p, "create a folder") from None
        return p

    def write_bytes(self, rel: str, data: bytes, *, mode: int = 0o644) -> str:
        """Write one file (permissions *mode*, less the umask) and record its sha256."""
        assert self.tmp is not None
        p = f"{self.tmp}/{rel}"  # a plain string: a Path per file costs more than the write itself
        try:
            # os-level calls: one open, write and close per config, without a buffered file object.
            fd = os.open(p, os.O_WRONLY | os.O_CREAT | os.O_EXCL, mode)
            try:
                view = memoryview(data)
                while view:
                    view = view[os.write(fd, view):]
            finally:
                os.close(fd)
        except OSError as exc:
            raise _os_problem(exc, Path(p), f"write {rel}") from None
        digest = hashlib.sha256(data).hexdigest()
        self.files[rel] = digest
        return digest

    def write_text(self, rel: str, text: str) -> str:
        return self.write_bytes(rel, text.encode("utf-8"))

    def stream_text(self, rel: str, chunks: Iterable[str]) -> str:
        """Write text that arrives in many small chunks (a template's output), hashing it."""
        p = self.path(rel)
        digest = hashlib.sha256()
        chunks = iter(chunks)
        try:
            with open(p, "wb") as fh:
                # Join a batch of chunks at a time: a template yields a dozen pieces per run,
                # and one Python-level call per piece would cost more than the writing.
                while batch := list(itertools.islice(chunks, self.STREAM_BATCH)):
                    data = "".join(batch).encode("utf-8")
                    digest.update(data)
                    fh.write(data)
        except OSError as exc:
            raise _os_problem(exc, p, f"write {rel}") from None
        self.files[rel] = digest.hexdigest()
        return self.files[rel]

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        assert self.tmp is not None
        if exc_type is not None:
            self._discard()
            return
        try:
            self._commit()
        except BaseException:
            self._discard()
            raise

    def _discard(self) -> None:
        assert self.tmp is not None
        shutil.rmtree(self.tmp, ignore_errors=True)
        if self.reserved:
            try:
                os.rmdir(self.target)  # the empty folder that held the name; never one with files
            except OSError:
                pass

    def _commit(self) -> None:
        assert self.tmp is not None
        old: Path | None = None
        try:
            if self.reserved:
                os.rename(self.tmp, self.target)  # onto the empty reserved folder: one atomic rename
                return
            if self.target.exists():
                if not self.force:
                    raise OutputError([Problem("output folder appeared while rendering",
                                               pos=SourcePos(str(self.target)),
                                               hint="pass --force to replace it, or choose another folder with --out")])
                old = self.target.parent / f".{self.target.name}{OLD_MARK}{_token()}"
                os.rename(self.target, old)
            os.rename(self.tmp, self.target)
        except BaseException as exc:  # an OSError, or Ctrl-C between the two renames
            if old is not None and not self.target.exists():
                os.rename(old, self.target)  # put the previous folder back
            if isinstance(exc, OSError):
                raise _os_problem(exc, self.target, "move the output folder into place") from None
            raise
        if old is not None:
            shutil.rmtree(old, ignore_errors=True)



def reserve_folder(first: Path) -> Path:
    """Create the first free folder of *first*, ``<first>_2``, ... and return it: two renders in the
    same second never pick the same default folder (mkdir is atomic)."""
    for candidate in numbered(first):
        try:
            candidate.parent.mkdir(parents=True, exist_ok=True)
            candidate.mkdir()
            return candidate
        except FileExistsError:
            continue
        except OSError as exc:
            raise _os_problem(exc, candidate, "create the output folder") from None
    raise AssertionError("unreachable")
