"""API latency and throughput on this machine, against a baseline measured in the same run.

The baseline is `GET /api/v1/health` (no authentication, one `SELECT 1`): what the web stack
itself costs. The measured endpoints add token authentication, tenant restriction,
pagination with a total and JSON serialisation. The difference is what the platform layer
costs per request.

    .venv/bin/python benchmarks/api_latency.py [--requests 2000] [--concurrency 8] [--database-url URL]

Traffic goes only to 127.0.0.1; the run is bounded by --requests and stops by itself. Results
are written to benchmarks/results/api_latency-<database>.{json,md}.
"""

from __future__ import annotations

import argparse
import http.client
import json
import os
import platform
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from datetime import UTC, datetime
from pathlib import Path

from _common import fresh_postgres_database, serve_argv

ROOT = Path(__file__).resolve().parent.parent
RESULTS = ROOT / "benchmarks" / "results"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def opsdesk(env: dict[str, str], *args: str) -> str:
    out = subprocess.run(
        [sys.executable, "-m", "opsdesk", *args],
        env=env,
        check=True,
        capture_output=True,
        text=True,
    )
    return out.stdout


def wait_until_up(port: int, timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            conn = http.client.HTTPConnection("127.0.0.1", port, timeout=2)
            conn.request("GET", "/api/v1/health")
            if conn.getresponse().status == 200:
                return
        except OSError:
            time.sleep(0.2)
    raise RuntimeError("server did not start")


def hammer(port: int, path: str, headers: dict[str, str], total: int, concurrency: int) -> dict:
    latencies: list[float] = []
    errors = 0
    lock = threading.Lock()
    per_thread = total // concurrency

    def run() -> None:
        nonlocal errors
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
        local: list[float] = []
        bad = 0
        for _ in range(per_thread):
            start = time.perf_counter()
            conn.request("GET", path, headers=headers)
            response = conn.getresponse()
            response.read()
            local.append(time.perf_counter() - start)
            if response.status != 200:
                bad += 1
        conn.close()
        with lock:
            latencies.extend(local)
            errors += bad

    threads = [threading.Thread(target=run) for _ in range(concurrency)]
    started = time.perf_counter()
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    elapsed = time.perf_counter() - started
    latencies.sort()
    q = statistics.quantiles(latencies, n=100)
    return {
        "path": path,
        "requests": len(latencies),
        "errors": errors,
        "seconds": round(elapsed, 3),
        "requests_per_second": round(len(latencies) / elapsed, 1),
        "p50_ms": round(q[49] * 1000, 2),
        "p95_ms": round(q[94] * 1000, 2),
        "p99_ms": round(q[98] * 1000, 2),
    }


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--requests", type=int, default=2000)
    parser.add_argument("--concurrency", type=int, default=8)
    parser.add_argument("--database-url", default="")
    args = parser.parse_args()

    with tempfile.TemporaryDirectory() as var:
        env = {
            **os.environ,
            "OPSDESK_VAR_DIR": var,
            "SECURE_COOKIES": "false",
            "LOG_LEVEL": "WARNING",
        }
        if args.database_url:
            env["DATABASE_URL"] = fresh_postgres_database(args.database_url)
        opsdesk(env, "migrate", "--no-input")
        opsdesk(env, "load_demo")
        token = opsdesk(env, "token", "create", "--user", "amina.abubakar@savanna.example").strip()
        port = free_port()
        server = subprocess.Popen(
            serve_argv(port, "--workers", "2", "--threads", "4"),
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        try:
            wait_until_up(port)
            auth = {"Authorization": f"Bearer {token}"}
            cases = [
                ("baseline: health (no auth)", "/api/v1/health", {}),
                ("me (token auth, roles)", "/api/v1/me", auth),
                ("teams list (auth, restrict, paginate)", "/api/v1/teams?limit=50", auth),
                ("audit list (auth, restrict, paginate)", "/api/v1/audit?limit=50", auth),
            ]
            for _, path, headers in cases:  # warm-up
                hammer(port, path, headers, args.concurrency * 10, args.concurrency)
            results = []
            for label, path, headers in cases:
                row = hammer(port, path, headers, args.requests, args.concurrency)
                row["case"] = label
                results.append(row)
                print(
                    f"{label:<42} {row['requests_per_second']:>8} req/s  p50 {row['p50_ms']:>6} ms  "
                    f"p95 {row['p95_ms']:>6} ms  p99 {row['p99_ms']:>6} ms  errors {row['errors']}"
                )
        finally:
            server.terminate()
            server.wait(timeout=15)

    database = "postgresql" if args.database_url.startswith("postgres") else "sqlite"
    report = {
        "benchmark": "api_latency",
        "when": datetime.now(UTC).isoformat(timespec="seconds"),
        "database": database,
        "machine": {"cpus": os.cpu_count(), "python": platform.python_version()},
        "server": "opsdesk serve: gunicorn gthread, 2 workers x 4 threads",
        "concurrency": args.concurrency,
        "results": results,
    }
    RESULTS.mkdir(parents=True, exist_ok=True)
    (RESULTS / f"api_latency-{database}.json").write_text(json.dumps(report, indent=2) + "\n")
    base = results[0]["requests_per_second"]
    lines = [
        f"# API latency — {database}, {report['when']}",
        "",
        f"{os.cpu_count()} CPUs, {report['server']}, {args.concurrency} concurrent keep-alive clients, "
        f"{args.requests} requests per case. Command: `{' '.join(['python', *sys.argv])}`",
        "",
        "| case | req/s | vs baseline | p50 ms | p95 ms | p99 ms | errors |",
        "|---|---:|---:|---:|---:|---:|---:|",
    ]
    for r in results:
        lines.append(
            f"| {r['case']} | {r['requests_per_second']} | {r['requests_per_second'] / base:.2f}x | "
            f"{r['p50_ms']} | {r['p95_ms']} | {r['p99_ms']} | {r['errors']} |"
        )
    (RESULTS / f"api_latency-{database}.md").write_text("\n".join(lines) + "\n")


if __name__ == "__main__":
    main()
