"""Discovery-import throughput: CIs per second for the Kubernetes and CSV importers.

    .venv/bin/python benchmarks/cmdb_import.py [--pods 10000] [--servers 20000] [--database-url URL]

Generates (deterministically) a Kubernetes ``kind: List`` of nodes, namespaces,
deployments, replica sets, services and pods, and a CSV of servers; imports each twice into a
fresh database (the first run creates everything, the second finds everything unchanged)
and measures parse + reconcile + write, end to end, as CIs per second. Target: 5,000 CIs/s.
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


def measure(fmt: str, payload: bytes, org, user) -> dict:
    from opsdesk.cmdb import importers
    from opsdesk.cmdb.reconcile import reconcile

    runs = []
    for attempt in ("first", "second"):
        start = time.perf_counter()
        items, rels, report = importers.parse(fmt, payload, {"cluster": "bench"})
        parsed = time.perf_counter()
        result = reconcile(
            organization=org, source=fmt, items=items, relationships=rels, acting_user=user
        )
        end = time.perf_counter()
        assert not report and not result.report, (report[:3], result.report[:3])
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
            }
        )
    return {"format": fmt, "runs": runs}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--pods", type=int, default=10000)
    parser.add_argument("--servers", type=int, default=20000)
    parser.add_argument("--database-url", default="")
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

    org = Organization.objects.create(name="Bench", slug="bench")
    user = User.objects.create_superuser("bench@example.com", "bench-pass-123", full_name="Bench")
    results = [
        measure("kubernetes", kubernetes_list(args.pods), org, user),
        measure("csv", servers_csv(args.servers), org, user),
    ]
    database = connection.vendor
    out = {
        "benchmark": "cmdb_import",
        "database": database,
        "target_cis_per_second": TARGET,
        "python": platform.python_version(),
        "machine": platform.machine(),
        "cpus": os.cpu_count(),
        "when": datetime.now(UTC).isoformat(timespec="seconds"),
        "results": results,
    }
    results_dir = ROOT / "benchmarks" / "results"
    results_dir.mkdir(exist_ok=True)
    (results_dir / f"cmdb_import-{database}.json").write_text(json.dumps(out, indent=2) + "\n")
    lines = [
        f"# CMDB import throughput ({database})",
        "",
        f"Target: {TARGET:,} CIs/s. Parse + reconcile + write, end to end, in one process;",
        f"Python {out['python']}, {out['cpus']} CPUs, {out['when']}.",
        "",
        "| format | run | CIs | created | unchanged | relationships created | seconds | CIs/s | target met |",
        "| --- | --- | ---: | ---: | ---: | ---: | ---: | ---: | --- |",
    ]
    for res in results:
        for run in res["runs"]:
            met = "yes" if run["cis_per_second"] >= TARGET else "no"
            lines.append(
                f"| {res['format']} | {run['run']} | {run['cis']:,} | {run['created']:,} | {run['unchanged']:,} "
                f"| {run['relationships_created']:,} | {run['total_seconds']} | {run['cis_per_second']:,} | {met} |"
            )
    (results_dir / f"cmdb_import-{database}.md").write_text("\n".join(lines) + "\n")
    print("\n".join(lines))


if __name__ == "__main__":
    main()
