"""Scans over real HTTP with every variant on (issue 14, "Done means"): a `staydown serve` on SQLite, as
`make serve` runs it, and this process as the platform.

    python bench/scan.py [--seconds 15] [--concurrency 4] [--bank 20000]

Phases, each on the same server:
  1. the 7000 x 7000 one-colour PNG (143-160 KB), once alone: its time and the peak memory it added
     (VmHWM of the server and each child process, reset before the scan: the decode and all variant
     work happen in a hash worker process);
  2. four of them at once, while notices are filed in a closed loop beside them: the time until all
     four are answered, and the notices' latencies;
  3. 1,280 px PNG photos, one at a time: p50 and p99;
  4. 1 MP JPEG photos (1155 x 866), `--concurrency` at a time for `--seconds`: scans/s, p50, p99 and
     the server's CPU per scan; then the same with notices filed beside them (their p99 too).
The bank holds `--bank` PDQ hashes of a hash-only list (random ones plus two of the forty JPEGs'
originals, so some matches happen and are recorded: a case opened, the upload vaulted) and the scans carry content ids, so each writes its scan, the
content's signals and, on a match, a case and the vault. Every JSON figure is measured; the machine's
load average before each phase is in it (other work on the machine shows there).
"""

from __future__ import annotations

import argparse
import http.client
import io
import json
import os
import sys
import tempfile
import threading
import time
import uuid
from pathlib import Path

import numpy as np
from PIL import Image

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import corpus

import intake  # its server helpers: start_server, server_env, percentile...

FLAT_SIDE = 7000


def _multipart(data: bytes, fields: dict[str, str], filename: str, ctype: str) -> tuple[bytes, str]:
    boundary = uuid.uuid4().hex
    parts = []
    for k, v in fields.items():
        parts.append(f'--{boundary}\r\nContent-Disposition: form-data; name="{k}"\r\n\r\n{v}\r\n'.encode())
    parts.append(
        f'--{boundary}\r\nContent-Disposition: form-data; name="file"; filename="{filename}"\r\n'
        f"Content-Type: {ctype}\r\n\r\n".encode()
        + data
        + b"\r\n"
    )
    parts.append(f"--{boundary}--\r\n".encode())
    return b"".join(parts), f"multipart/form-data; boundary={boundary}"


class Client:
    """One keep-alive connection, as a platform's upload worker holds."""

    def __init__(self, base_url: str, key: str) -> None:
        host, port = base_url.removeprefix("http://").split(":")
        self.conn = http.client.HTTPConnection(host, int(port), timeout=120)
        self.key = key

    def scan(self, data: bytes, content_id: str, filename: str, ctype: str) -> tuple[int, float, dict]:
        body, content_type = _multipart(
            data, {"content_id": content_id, "account_id": "acct-" + content_id[-3:]}, filename, ctype
        )
        started = time.perf_counter()
        self.conn.request(
            "POST", "/v1/scan", body=body, headers={"Authorization": f"Bearer {self.key}", "Content-Type": content_type}
        )
        r = self.conn.getresponse()
        payload = r.read()
        elapsed = time.perf_counter() - started
        try:
            parsed = json.loads(payload)
        except ValueError:
            parsed = {}
        return r.status, elapsed, parsed

    def notice(self, n: int) -> tuple[int, float]:
        body = json.dumps(
            {
                "kind": "user_report",
                "reporter_kind": "user",
                "policy_id": "harassment",
                "explanation": "threatening messages",
                "reporter_id": f"r-{n % 997}",
                "items": [{"content_id": f"note-{n}", "account_id": f"acct-{n % 5000}"}],
            }
        )
        started = time.perf_counter()
        self.conn.request(
            "POST",
            "/v1/notices",
            body=body,
            headers={"Authorization": f"Bearer {self.key}", "Content-Type": "application/json"},
        )
        r = self.conn.getresponse()
        r.read()
        return r.status, time.perf_counter() - started


def _vm(pid: int, field: str) -> float:
    for line in open(f"/proc/{pid}/status"):
        if line.startswith(field + ":"):
            return int(line.split()[1]) / 1024.0
    return float("nan")


def _reset_peak(pid: int) -> None:
    """Reset a process's peak resident size (VmHWM) to its current size (Linux: clear_refs 5)."""
    try:
        with open(f"/proc/{pid}/clear_refs", "w") as f:
            f.write("5")
    except OSError:
        pass  # not permitted: VmHWM is then the peak since the process started


def _ms(values: list[float], q: float) -> float | None:
    v = intake.percentile(sorted(values), q)
    return None if v is None else round(v * 1000, 1)


class Notices:
    """Notices filed in a closed loop by `threads` clients until stopped."""

    def __init__(self, server, threads: int) -> None:
        self.server, self.threads = server, threads
        self.latencies: list[float] = []
        self.errors: dict[int, int] = {}
        self.stop = threading.Event()
        self._counter = iter(range(10**9))
        self._lock = threading.Lock()
        self._workers: list[threading.Thread] = []

    def _run(self) -> None:
        c = Client(self.server.base_url, self.server.api_key)
        while not self.stop.is_set():
            with self._lock:
                n = next(self._counter)
            status, elapsed = c.notice(n)
            with self._lock:
                if status == 201 or status == 200:
                    self.latencies.append(elapsed)
                else:
                    self.errors[status] = self.errors.get(status, 0) + 1
            time.sleep(0.01)  # a steady stream beside the scans, not a saturating flood

    def __enter__(self) -> Notices:
        self._workers = [threading.Thread(target=self._run, daemon=True) for _ in range(self.threads)]
        for t in self._workers:
            t.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop.set()
        for t in self._workers:
            t.join(timeout=60)

    def figures(self) -> dict:
        return {
            "notices": len(self.latencies),
            "p50_ms": _ms(self.latencies, 50),
            "p99_ms": _ms(self.latencies, 99),
            "max_ms": _ms(self.latencies, 100),
            "errors": self.errors,
        }


def _photos(n: int, size: tuple[int, int]) -> list[Image.Image]:
    real = [im for _, im in corpus.real_pictures() if min(im.size) >= 300][:n]
    out = [corpus.fit(im, size) for im in real]
    out += [corpus.synthetic_image(3_000_000 + k, size) for k in range(n - len(out))]
    return out


def _jpeg_phase(server, pid: int, jpegs: list[bytes], opts: argparse.Namespace, tag: str, with_notices: bool) -> dict:
    """`opts.concurrency` platform workers scanning 1 MP JPEGs in a closed loop for `opts.seconds`."""
    lat: list[float] = []
    statuses: dict[int, int] = {}
    hashes: list[int] = []
    stop = threading.Event()
    lock = threading.Lock()
    counter = iter(range(10**9))

    def worker() -> None:
        cl = Client(server.base_url, server.api_key)
        while not stop.is_set():
            with lock:
                n = next(counter)
            s, e, b = cl.scan(jpegs[n % len(jpegs)], f"{tag}-{n}", "j.jpg", "image/jpeg")
            with lock:
                statuses[s] = statuses.get(s, 0) + 1
                if s == 200:
                    lat.append(e)
                    hashes.append(b.get("query_variants", 0))

    cpu_before = intake.proc_cpu_seconds(pid)
    notices = Notices(server, opts.notice_threads if with_notices else 0)
    with notices:
        workers = [threading.Thread(target=worker) for _ in range(opts.concurrency)]
        started = time.perf_counter()
        for t in workers:
            t.start()
        time.sleep(opts.seconds)
        stop.set()
        for t in workers:
            t.join()
        window = time.perf_counter() - started
    cpu = intake.proc_cpu_seconds(pid) - cpu_before
    out = {
        "scans_per_s": round(len(lat) / window, 1),
        "p50_ms": _ms(lat, 50),
        "p99_ms": _ms(lat, 99),
        "concurrency": opts.concurrency,
        "statuses": statuses,
        "seconds": round(window, 1),
        "query_hashes_mean": round(float(np.mean(hashes)), 1) if hashes else None,
        "server_cpu_ms_per_scan": round(cpu * 1000 / max(1, len(lat)), 1),
    }
    if with_notices:
        out["notices_meanwhile"] = notices.figures()
    return out


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--seconds", type=float, default=15.0)
    ap.add_argument("--concurrency", type=int, default=4)
    ap.add_argument("--bank", type=int, default=20_000)
    ap.add_argument("--notice-threads", type=int, default=2)
    ap.add_argument("--only", choices=["jpeg"], default=None, help="run only the JPEG phases (for profiling)")
    opts = ap.parse_args()
    t0 = time.perf_counter()
    out: dict = {"cores": os.cpu_count(), "loadavg_start": [round(x, 2) for x in os.getloadavg()]}
    jpegs = [corpus.jpeg_bytes(im, 88) for im in _photos(40, (1155, 866))]
    pngs = [corpus.png_bytes(im) for im in _photos(12, (1280, 960))]
    buf = io.BytesIO()
    Image.new("RGB", (FLAT_SIDE, FLAT_SIDE), (200, 30, 40)).save(buf, "PNG")
    flat = buf.getvalue()
    out["inputs"] = {
        "jpeg": "1155x866 q88",
        "jpeg_bytes_mean": int(np.mean([len(j) for j in jpegs])),
        "png": "1280x960",
        "png_bytes_mean": int(np.mean([len(p) for p in pngs])),
        "flat_png_bytes": len(flat),
    }
    with tempfile.TemporaryDirectory() as tmp:
        data_dir = Path(tmp) / "data"
        env = intake.server_env({"STAYDOWN_DATA_DIR": str(data_dir), "STAYDOWN_SCAN_URL_ALLOWLIST": "[]"})
        # A hash-only list: random PDQ hashes plus the originals of half the JPEGs.
        from staydown.media.hashing import compute_signals

        rng = np.random.default_rng(7)
        rows = ["signal_type,signal,note"]
        rows += [f"pdq,{rng.integers(0, 256, 32, dtype=np.uint8).tobytes().hex()},random" for _ in range(opts.bank)]
        # Two of the forty originals: most uploads match nothing; those that do open a case and are vaulted.
        rows += [f"pdq,{compute_signals(j).pdq},bench original" for j in jpegs[:2]]
        csv_path = Path(tmp) / "bank.csv"
        csv_path.write_text("\n".join(rows) + "\n")
        import subprocess

        exe = intake.staydown_bin()
        data_dir.mkdir(parents=True)
        subprocess.run([exe, "db", "upgrade"], env=env, check=True, capture_output=True)
        subprocess.run(
            [
                exe,
                "banks",
                "create",
                "hash-list",
                "--source",
                "other",
                "--purpose",
                "benchmark hash-only list of benign images",
                "--policy",
                "csam",
                "--action",
                "hold",
            ],
            env=env,
            check=True,
            capture_output=True,
        )
        subprocess.run([exe, "banks", "import", "hash-list", str(csv_path)], env=env, check=True, capture_output=True)
        server = intake.start_server(env, Path(tmp))
        try:
            pid = server.proc.pid
            c = Client(server.base_url, server.api_key)
            for k in range(10):  # warm-up: compiled kernels, caches
                c.scan(jpegs[k], f"warm-{k}", "w.jpg", "image/jpeg")
                c.scan(pngs[k % len(pngs)], f"warmp-{k}", "w.png", "image/png")
            if opts.only == "jpeg":
                for phase, with_notices in (("jpeg_1mp", False), ("jpeg_1mp_with_notices", True)):
                    out[phase] = _jpeg_phase(server, pid, jpegs, opts, phase, with_notices)
                print(json.dumps(out))
                return
            # 1. the huge one-colour PNG, alone
            out["loadavg_before_flat"] = round(os.getloadavg()[0], 2)
            # The server and its child processes (the hash workers decode; the intake writer):
            # each one's peak is reset, then read after the scan.
            procs = [pid, *intake._children(pid)]
            rss_before = {p: _vm(p, "VmRSS") for p in procs}
            for p in procs:
                _reset_peak(p)
            status, elapsed, body = c.scan(flat, "flat-0", "flat.png", "image/png")
            increase = {p: _vm(p, "VmHWM") - rss_before[p] for p in procs}
            out["flat_png_7000"] = {
                "status": status,
                "seconds": round(elapsed, 3),
                "processes": len(procs),
                "server_rss_before_mb": round(rss_before[pid], 1),
                "peak_increase_mb": round(max(increase.values()), 1),
                "peak_increase_all_processes_mb": round(sum(max(0.0, v) for v in increase.values()), 1),
                "query_hashes": body.get("query_variants"),
            }
            # 2. four at once, with notices beside them
            out["loadavg_before_flat4"] = round(os.getloadavg()[0], 2)
            results: list[tuple[int, float]] = []

            def one(k: int) -> None:
                s, e, _ = Client(server.base_url, server.api_key).scan(flat, f"flat4-{k}", "flat.png", "image/png")
                results.append((s, e))

            with Notices(server, opts.notice_threads) as notices:
                time.sleep(0.5)
                started = time.perf_counter()
                threads = [threading.Thread(target=one, args=(k,)) for k in range(4)]
                for t in threads:
                    t.start()
                for t in threads:
                    t.join()
                wall = time.perf_counter() - started
                time.sleep(0.5)
            out["flat_png_7000_x4"] = {
                "seconds_all_answered": round(wall, 3),
                "statuses": sorted(s for s, _ in results),
                "each_s": sorted(round(e, 3) for _, e in results),
                "server_peak_mb_all_processes": round(sum(_vm(p, "VmHWM") for p in procs), 1),
                "notices_meanwhile": notices.figures(),
            }
            # 3. 1,280 px PNGs, one at a time
            out["loadavg_before_png"] = round(os.getloadavg()[0], 2)
            lat = []
            for k in range(60):
                s, e, body = c.scan(pngs[k % len(pngs)], f"png-{k}", "p.png", "image/png")
                if s == 200:
                    lat.append(e)
            out["png_1280"] = {
                "scans": len(lat),
                "p50_ms": _ms(lat, 50),
                "p99_ms": _ms(lat, 99),
                "query_hashes": body.get("query_variants"),
            }
            # 4. 1 MP JPEGs, closed loop: alone (the figure), then with notices beside them
            for phase, with_notices in (("jpeg_1mp", False), ("jpeg_1mp_with_notices", True)):
                out[f"loadavg_before_{phase}"] = round(os.getloadavg()[0], 2)
                out[phase] = _jpeg_phase(server, pid, jpegs, opts, phase, with_notices)
        finally:
            server.stop()
    aims = {
        "jpeg_scans_per_s>=50": out["jpeg_1mp"]["scans_per_s"] >= 50,
        "jpeg_p99<=200ms": (out["jpeg_1mp"]["p99_ms"] or 1e9) <= 200,
        "png_1280_p50<=50ms": (out["png_1280"]["p50_ms"] or 1e9) <= 50,
        "flat_7000<=2s": out["flat_png_7000"]["seconds"] <= 2.0,
        "flat_7000_peak_increase<=300MB": out["flat_png_7000"]["peak_increase_mb"] <= 300,
        "flat_7000_x4<=8s": out["flat_png_7000_x4"]["seconds_all_answered"] <= 8.0,
        "notices_p99<=100ms_during_flat_x4": (out["flat_png_7000_x4"]["notices_meanwhile"]["p99_ms"] or 1e9) <= 100,
        "notices_p99<=100ms_during_jpeg": (out["jpeg_1mp_with_notices"]["notices_meanwhile"]["p99_ms"] or 1e9) <= 100,
    }
    out["aims_met"] = aims
    out["bank_pdq_hashes"] = opts.bank + 2
    out["loadavg_end"] = [round(x, 2) for x in os.getloadavg()]
    out["wall_s"] = round(time.perf_counter() - t0, 1)
    print(json.dumps(out))


if __name__ == "__main__":
    main()
