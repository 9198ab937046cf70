"""Watch for plaintext on disk while something runs: new or changed files in directories (inotify
and before/after snapshots), and files held open by this process or its children (including
deleted and unnamed temporary files, read back through /proc/<pid>/fd). Memory-backed files
(memfd) are not disk and are skipped."""

from __future__ import annotations

import ctypes
import os
import stat
import struct
import threading
import time
from collections.abc import Sequence
from pathlib import Path

IN_MODIFY, IN_CLOSE_WRITE, IN_MOVED_TO, IN_CREATE = 0x2, 0x8, 0x80, 0x100
_READ_LIMIT = 256 * 1024 * 1024


class DiskWatch:
    def __init__(self, markers: list[bytes], directories: list[Path], *, deep: Sequence[Path] = ()) -> None:
        """`directories` are watched at their top level and snapshotted whole; `deep` ones (a data
        dir) are watched in every subdirectory too."""
        self.markers = [m for m in markers if m]
        self.directories = [d for d in dict.fromkeys(Path(p).resolve() for p in [*directories, *deep]) if d.is_dir()]
        self.deep = [Path(d).resolve() for d in deep if Path(d).is_dir()]
        self.found: list[str] = []
        self.files_seen = 0  # regular files read back (disk files open in the processes, changed files)
        self.probes = 0
        self._before: dict[str, tuple[int, int, int]] = {}
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._libc = ctypes.CDLL(None, use_errno=True)
        self._fd = -1
        self._watches: dict[int, Path] = {}

    # -- what is looked at ------------------------------------------------------------------------

    def _search(self, where: str, data: bytes) -> None:
        self.files_seen += 1
        for marker in self.markers:
            if marker in data:
                self.found.append(where)
                return

    def _read_file(self, path: str, where: str) -> None:
        try:
            with open(path, "rb") as f:
                self._search(where, f.read(_READ_LIMIT))
        except OSError:
            pass

    def probe(self) -> None:
        """Read back every regular file open in this process and its children now."""
        self.probes += 1
        pids = [os.getpid()]
        try:
            for task in os.listdir("/proc/self/task"):
                with open(f"/proc/self/task/{task}/children") as f:
                    pids.extend(int(p) for p in f.read().split())
        except OSError:
            pass
        for pid in pids:
            try:
                fds = os.listdir(f"/proc/{pid}/fd")
            except OSError:
                continue
            for fd in fds:
                link = f"/proc/{pid}/fd/{fd}"
                try:
                    target = os.readlink(link)
                    if target.startswith("/memfd:") or not stat.S_ISREG(os.stat(link).st_mode):
                        continue
                except OSError:
                    continue
                if target.startswith("/proc/") or target.endswith((".py", ".pyc", ".so")):
                    continue
                self._read_file(link, f"pid {pid} fd {fd} -> {target}")

    def _snapshot(self) -> dict[str, tuple[int, int, int]]:
        seen: dict[str, tuple[int, int, int]] = {}
        for root in self.directories:
            for dirpath, _, names in os.walk(root):
                for name in names:
                    path = os.path.join(dirpath, name)
                    try:
                        st = os.lstat(path)
                    except OSError:
                        continue
                    if stat.S_ISREG(st.st_mode):
                        seen[path] = (st.st_ino, st.st_size, st.st_mtime_ns)
        return seen

    # -- inotify: names created or written while it runs, read at once ---------------------------

    def _add_watch(self, directory: Path) -> None:
        wd = self._libc.inotify_add_watch(
            self._fd, os.fsencode(directory), IN_CREATE | IN_MODIFY | IN_CLOSE_WRITE | IN_MOVED_TO
        )
        if wd >= 0:
            self._watches[wd] = directory

    def _drain(self) -> None:
        while True:
            try:
                buffer = os.read(self._fd, 65536)
            except (BlockingIOError, OSError):
                return
            offset = 0
            while offset < len(buffer):
                wd, _mask, _, length = struct.unpack_from("iIII", buffer, offset)
                name = buffer[offset + 16 : offset + 16 + length].rstrip(b"\0").decode(errors="replace")
                offset += 16 + length
                directory = self._watches.get(wd)
                if directory is not None and name:
                    path = directory / name
                    self._read_file(str(path), f"inotify {path}")

    def _run(self) -> None:
        while not self._stop.is_set():
            self.probe()
            if self._fd >= 0:
                self._drain()
            self._stop.wait(0.005)

    def __enter__(self) -> DiskWatch:
        self._before = self._snapshot()
        self._fd = self._libc.inotify_init1(os.O_NONBLOCK | os.O_CLOEXEC)
        if self._fd >= 0:
            for root in self.directories:
                self._add_watch(root)
            for root in self.deep:
                for dirpath, dirnames, _ in os.walk(root):
                    for name in dirnames:
                        self._add_watch(Path(dirpath) / name)
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        assert self._thread is not None
        self._thread.join(10)
        self.probe()
        if self._fd >= 0:
            self._drain()
            os.close(self._fd)
        for path, identity in self._snapshot().items():
            if self._before.get(path) != identity:
                self._read_file(path, f"changed {path}")
        time.sleep(0)
