"""Discovery-import throughput: CIs per second for the Kubernetes and CSV importers.

    .venv/bin/python benchmarks/cmdb_import.py [--pods 10000] [--servers 20000] [--repeat 3]
        [--database-url URL]

Generates (deterministically) a Kubernetes ``kind: List`` of nodes, namespaces,
deployments, replica sets, services and pods, and a CSV of servers; imports each twice into a
fresh database (the first run creates everything, the second finds everything unchanged)
and measures parse + reconcile + write, end to end, as CIs per second. Target: 5,000 CIs/s.
Besides wall-clock time it records CPU time, which other work on the machine disturbs far
less: the importer process's (``time.process_time()``) and, on PostgreSQL, the server
backend's share (user + system time of the connection's backend from ``/proc``, when the
server runs on this machine). Each format is measured ``--repeat`` times, each time into a
fresh organisation; the table shows every repetition and the median.
Results go to benchmarks/results/cmdb_import-<database>.{json,md}.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import random
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path

from _common import fresh_postgres_database

ROOT = Path(__file__).resolve().parent.parent
TARGET = 5000


def kubernetes_list(pods: int, seed: int = 7) -> bytes:
    rng = random.Random(seed)  # noqa: S311 - deterministic test data
    nodes = max(10, pods // 50)
    namespaces = max(5, pods // 500)
    deployments = max(10, pods // 10)
    items: list[dict] = []
    for n in range(nodes):
        items.append(
            {
                "apiVersion": "v1",
                "kind": "Node",
                "metadata": {"name": f"node-{n:04d}", "uid": f"uid-node-{n}"},
                "spec": {"providerID": f"aws:///eu-west-1a/i-{n:012x}"},
                "status": {
                    "capacity": {"cpu": "16"},
                    "nodeInfo": {"kubeletVersion": "v1.30.2", "osImage": "Bottlerocket"},
                },
            }
        )
    for s in range(namespaces):
        items.append(
            {
                "apiVersion": "v1",
                "kind": "Namespace",
                "metadata": {"name": f"ns-{s:03d}", "uid": f"uid-ns-{s}"},
            }
        )
    for d in range(deployments):
        ns = f"ns-{d % namespaces:03d}"
        app = f"app-{d:05d}"
        items.append(
            {
                "apiVersion": "apps/v1",
                "kind": "Deployment",
                "metadata": {"name": app, "namespace": ns, "uid": f"uid-dep-{d}"},
                "spec": {"replicas": 2, "selector": {"matchLabels": {"app": app}}},
            }
        )
        items.append(
            {
                "apiVersion": "apps/v1",
                "kind": "ReplicaSet",
                "metadata": {
                    "name": f"{app}-5d8f9c",
                    "namespace": ns,
                    "uid": f"uid-rs-{d}",
                    "ownerReferences": [{"kind": "Deployment", "name": app, "uid": f"uid-dep-{d}"}],
                },
            }
        )
        items.append(
            {
                "apiVersion": "v1",
                "kind": "Service",
                "metadata": {"name": app, "namespace": ns, "uid": f"uid-svc-{d}"},
                "spec": {
                    "selector": {"app": app},
                    "clusterIP": f"10.96.{d // 250}.{d % 250}",
                    "type": "ClusterIP",
                },
            }
        )
    for p in range(pods):
        d = p % deployments
        ns = f"ns-{d % namespaces:03d}"
        app = f"app-{d:05d}"
        items.append(
            {
                "apiVersion": "v1",
                "kind": "Pod",
                "metadata": {
                    "name": f"{app}-5d8f9c-{p:06d}",
                    "namespace": ns,
                    "uid": f"uid-pod-{p}",
                    "labels": {"app": app, "pod-template-hash": "5d8f9c"},
                    "ownerReferences": [
                        {"kind": "ReplicaSet", "name": f"{app}-5d8f9c", "uid": f"uid-rs-{d}"}
                    ],
                },
                "spec": {
                    "nodeName": f"node-{rng.randrange(nodes):04d}",
                    "containers": [{"name": "app"}],
                },
                "status": {"phase": "Running"},
            }
        )
    return json.dumps({"apiVersion": "v1", "kind": "List", "items": items}).encode()


def servers_csv(count: int, seed: int = 11) -> bytes:
    rng = random.Random(seed)  # noqa: S311 - deterministic test data
    envs = ["production", "staging", "test", "development"]
    countries = ["ZA", "KE", "NG", "DE", "FR", "GB", "US"]
    lines = [
        "class,name,environment,criticality,country,tags,attr:serial_number,attr:fqdn,attr:cpu_cores,attr:os"
    ]
    for i in range(count):
        lines.append(
            f"server,srv-{i:06d},{rng.choice(envs)},{rng.randint(1, 4)},{rng.choice(countries)},"
            f"rack-{i % 40};dc-{i % 3},SN{i:08d},srv-{i:06d}.example.net,{rng.choice([2, 4, 8, 16])},linux"
        )
    return ("\n".join(lines) + "\n").encode()


class ServerCPU:
    """CPU seconds used so far by this connection's PostgreSQL backend (None elsewhere)."""

    def __init__(self) -> None:
        from django.db import connection

        self.stat: Path | None = None
        if connection.vendor == "postgresql":
            with connection.cursor() as cursor:
                cursor.execute("SELECT pg_backend_pid()")
                stat = Path(f"/proc/{cursor.fetchone()[0]}/stat")
            if stat.exists():
                self.stat = stat
        self.tick = os.sysconf("SC_CLK_TCK")

    def seconds(self) -> float | None:
        if self.stat is None:
            return None
        fields = self.stat.read_text().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / self.tick  # utime + stime


def measure(fmt: str, payload: bytes, org, user, server: ServerCPU) -> list[dict]:
    from opsdesk.cmdb import importers
    from opsdesk.cmdb.reconcile import reconcile

    runs = []
    for attempt in ("first", "second"):
        server_start = server.seconds()
        cpu_start = time.process_time()
        start = time.perf_counter()
        items, rels, report = importers.parse(fmt, payload, {"cluster": "bench"})
        parsed = time.perf_counter()
        result = reconcile(
            organization=org, source=fmt, items=items, relationships=rels, acting_user=user
        )
        end = time.perf_counter()
        cpu = time.process_time() - cpu_start
        server_end = server.seconds()
        assert not report and not result.report, (report[:3], result.report[:3])
        server_cpu = None if server_start is None else server_end - server_start
        runs.append(
            {
                "run": attempt,
                "cis": len(items),
                "relationships_created": result.relationships_created,
                "created": result.created,
                "updated": result.updated,
                "unchanged": result.unchanged,
                "parse_seconds": round(parsed - start, 3),
                "total_seconds": round(end - start, 3),
                "cis_per_second": round(len(items) / (end - start)),
                "cpu_seconds": round(cpu, 3),
                "server_cpu_seconds": None if server_cpu is None else round(server_cpu, 2),
                "cis_per_cpu_second": round(len(items) / (cpu + (server_cpu or 0))),
            }
        )
    return runs


def _median(values: list[float]) -> float:
    ordered = sorted(values)
    middle = len(ordered) // 2
    return ordered[middle] if len(ordered) % 2 else (ordered[middle - 1] + ordered[middle]) / 2


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--pods", type=int, default=10000)
    parser.add_argument("--servers", type=int, default=20000)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--database-url", default="")
    parser.add_argument("--only", choices=["kubernetes", "csv"], default=None)
    parser.add_argument("--no-write", action="store_true", help="print, but keep the results")
    args = parser.parse_args()
    var = tempfile.mkdtemp(prefix="opsdesk-bench-import-")
    env = {**os.environ, "OPSDESK_VAR_DIR": var, "SECURE_COOKIES": "false"}
    env.pop("DATABASE_URL", None)
    if args.database_url:
        env["DATABASE_URL"] = fresh_postgres_database(args.database_url, "bench_import")
    subprocess.run(
        [sys.executable, "-m", "opsdesk", "migrate", "--noinput"],
        env=env,
        check=True,
        capture_output=True,
    )
    os.environ.update(env)
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "opsdesk.config.settings")
    sys.path.insert(0, str(ROOT))
    import django

    django.setup()
    from django.db import connection

    from opsdesk.accounts.models import User
    from opsdesk.core.models import Organization

    user = User.objects.create_superuser("bench@example.com", "bench-pass-123", full_name="Bench")
    server = ServerCPU()
    payloads = {
        "kubernetes": lambda: kubernetes_list(args.pods),
        "csv": lambda: servers_csv(args.servers),
    }
    results = []
    for fmt, make in payloads.items():
        if args.only and fmt != args.only:
            continue
        payload = make()
        repetitions = []
        for rep in range(args.repeat):
            # Each repetition imports into a fresh organisation: a first import again.
            org = Organization.objects.create(name=f"Bench {fmt} {rep}", slug=f"bench-{fmt}-{rep}")
            repetitions.append(measure(fmt, payload, org, user, server))
        median = {}
        for index, attempt in enumerate(("first", "second")):
            runs = [rep[index] for rep in repetitions]
            median[attempt] = {
                key: _median([r[key] for r in runs])
                for key in (
                    "total_seconds",
                    "cis_per_second",
                    "cpu_seconds",
                    "cis_per_cpu_second",
                )
            }
            if runs[0]["server_cpu_seconds"] is not None:
                median[attempt]["server_cpu_seconds"] = _median(
                    [r["server_cpu_seconds"] for r in runs]
                )
        results.append({"format": fmt, "repetitions": repetitions, "median": median})
    database = connection.vendor
    out = {
        "benchmark": "cmdb_import",
        "database": database,
        "target_cis_per_second": TARGET,
        "python": platform.python_version(),
        "machine": platform.machine(),
        "cpus": os.cpu_count(),
        "load_average": os.getloadavg(),
        "when": datetime.now(UTC).isoformat(timespec="seconds"),
        "results": results,
    }
    server_column = database == "postgresql"
    lines = [
        f"# CMDB import throughput ({database})",
        "",
        f"Target: {TARGET:,} CIs/s. Parse + reconcile + write, end to end, in one process;",
        f"Python {out['python']}, {out['cpus']} CPUs (shared with other work: load average "
        f"{out['load_average'][0]:.2f} at the end), {out['when']}.",
        "CPU s is the importer process's CPU time"
        + (", server CPU s the PostgreSQL backend's" if server_column else "")
        + "; CIs per CPU s divides the CIs by their sum.",
        "",
        "| format | run | rep | CIs | created | unchanged | relationships created | seconds "
        "| CIs/s | CPU s |"
        + (" server CPU s |" if server_column else "")
        + " CIs per CPU s | target met |",
        "| --- | --- | --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: |"
        + (" ---: |" if server_column else "")
        + " ---: | --- |",
    ]
    for res in results:
        for index, attempt in enumerate(("first", "second")):
            for rep, runs in enumerate(res["repetitions"], 1):
                run = runs[index]
                met = "yes" if run["cis_per_second"] >= TARGET else "no"
                lines.append(
                    f"| {res['format']} | {attempt} | {rep} | {run['cis']:,} | {run['created']:,} "
                    f"| {run['unchanged']:,} | {run['relationships_created']:,} "
                    f"| {run['total_seconds']} | {run['cis_per_second']:,} | {run['cpu_seconds']} |"
                    + (f" {run['server_cpu_seconds']} |" if server_column else "")
                    + f" {run['cis_per_cpu_second']:,} | {met} |"
                )
            med = res["median"][attempt]
            met = "yes" if med["cis_per_second"] >= TARGET else "no"
            lines.append(
                f"| {res['format']} | {attempt} | **median** | | | | | {med['total_seconds']} "
                f"| **{round(med['cis_per_second']):,}** | {med['cpu_seconds']} |"
                + (f" {med.get('server_cpu_seconds')} |" if server_column else "")
                + f" {round(med['cis_per_cpu_second']):,} | {met} |"
            )
    print("\n".join(lines))
    if args.no_write or args.only:
        return
    results_dir = ROOT / "benchmarks" / "results"
    results_dir.mkdir(exist_ok=True)
    (results_dir / f"cmdb_import-{database}.json").write_text(json.dumps(out, indent=2) + "\n")
    (results_dir / f"cmdb_import-{database}.md").write_text("\n".join(lines) + "\n")


if __name__ == "__main__":
    main()
