"""Impact analysis on a large CMDB, against an in-memory networkx baseline measured in the same run.

Generates one organisation with --cis configuration items (default 100,000) and
--relationships relationships (default 500,000) in a layered topology:

    business services -> applications -> databases / Kubernetes workloads
                      -> servers / Kubernetes nodes -> storage and network devices

plus random cross-links inside layers, network devices meshed in small groups
(``connects_to`` carries impact both ways) and some back-edges that make cycles.
The benchmark data is bulk-inserted straight into the tables (COPY on PostgreSQL,
executemany on SQLite): it bypasses actions and the audit trail on purpose, to load fast.

Measured, from --samples random infrastructure CIs (servers, nodes, storage, network):

- ``upstream_services``: the business services a failing CI can take down, with one path
  each, depth 6 (what ``impact_analysis`` computes for its ``services``);
- ``impact_analysis``: the whole answer of ``GET /api/v1/cis/{id}/impact`` (both
  directions, CI rows, edges), depth 6;
- the networkx baseline: shortest paths from the CI over the same graph held in memory
  (``single_source_shortest_path`` with cutoff 6), then the services among them.

Every sample's set of services is checked to be the same in the database and in networkx.

    .venv/bin/python benchmarks/cmdb_impact.py [--cis 100000] [--relationships 500000]
        [--samples 300] [--seed 7] [--database-url postgres://...]

With --database-url a fresh database ``<name>_bench`` is created beside the given one (as
benchmarks/api_latency.py does); without it a temporary SQLite file is used. Results are
written to benchmarks/results/cmdb_impact-<database>.{json,md}.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import random
import statistics
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path

from _common import fresh_postgres_database

ROOT = Path(__file__).resolve().parent.parent
RESULTS = ROOT / "benchmarks" / "results"
sys.path.insert(0, str(ROOT))

# Share of the CIs per class (sums to 1).
LAYERS = [
    ("business_service", 0.003),
    ("application", 0.03),
    ("database", 0.06),
    ("k8s_workload", 0.10),
    ("server", 0.40),
    ("k8s_node", 0.10),
    ("storage", 0.15),
    ("network_device", 0.157),
]
INFRASTRUCTURE = ("server", "k8s_node", "storage", "network_device")
#: Share of links that reach into another domain.
CROSS = 0.01


def quantiles(values: list[float]) -> dict[str, float]:
    q = statistics.quantiles(values, n=100)
    return {
        "p50_ms": round(q[49] * 1000, 2),
        "p95_ms": round(q[94] * 1000, 2),
        "p99_ms": round(q[98] * 1000, 2),
        "max_ms": round(max(values) * 1000, 2),
    }


# --- The topology ---------------------------------------------------------------------------------


def topology(n_cis: int, n_rels: int, rng: random.Random) -> tuple[list[tuple], set[tuple]]:
    """CIs as (index, class key, name, criticality) and relationships as
    (source index, target index, type key), unique and never a CI to itself."""
    cis: list[tuple] = []
    by_class: dict[str, list[int]] = {}
    for key, share in LAYERS:
        count = max(1, round(n_cis * share))
        if key == LAYERS[-1][0]:
            count = n_cis - len(cis)
        for i in range(count):
            idx = len(cis)
            crit = (1 + i % 4) if key in ("business_service", "application") else None
            cis.append((idx, key, f"{key.replace('_', '-')}-{i:06d}", crit))
            by_class.setdefault(key, []).append(idx)
    # CIs fall into domains (a data centre or cluster with its services): most links stay
    # inside a domain, CROSS of them reach into another one.
    domains = max(1, n_cis // 1600)

    def pools(keys: tuple[str, ...]) -> list[list[int]]:
        out: list[list[int]] = [[] for _ in range(domains)]
        for key in keys:
            for i, idx in enumerate(by_class[key]):
                out[i % domains].append(idx)
        return out

    svc, app = pools(("business_service",)), pools(("application",))
    data = pools(("database", "k8s_workload"))
    hosts = pools(("server", "k8s_node"))
    storage, network = pools(("storage",)), pools(("network_device",))
    databases = set(by_class["database"])
    rels: set[tuple] = set()

    def add(s: int, t: int, k: str) -> None:
        if s != t:
            rels.add((s, t, k))

    def pick(pool: list[list[int]], d: int, n: int) -> list[int]:
        if rng.random() < CROSS:
            d = rng.randrange(domains)
        return rng.sample(pool[d], min(n, len(pool[d])))

    for d in range(domains):
        for a in app[d]:  # every application serves one to three business services
            for s in pick(svc, d, rng.randint(1, 3)):
                add(s, a, "depends_on")
            for t in pick(data, d, rng.randint(3, 8)):  # and rests on databases and workloads
                add(a, t, "depends_on")
        for t in data[d]:  # which run on servers or nodes
            for h in pick(hosts, d, rng.randint(2, 4)):
                add(t, h, "runs_on" if t in databases else "member_of")
        for h in hosts[d]:  # which use storage and sit behind switches
            for s in pick(storage, d, 3):
                add(h, s, "depends_on")
            for n in pick(network, d, 2):
                add(h, n, "depends_on")
        group = network[d]
        for i in range(0, len(group) - 3, 4):  # switches meshed in groups of four
            ring = group[i : i + 4]
            for a, b in zip(ring, ring[1:] + ring[:1], strict=True):
                add(a, b, "connects_to")
        for b in rng.sample(storage[d], len(storage[d]) // 3):  # backups carry no impact
            add(rng.choice(storage[d]), b, "backs_up")
    for _ in range(max(10, n_rels // 1000)):  # back-edges: cycles
        d = rng.randrange(domains)
        add(rng.choice(data[d]), rng.choice(app[d]), "depends_on")
        add(rng.choice(hosts[d]), rng.choice(hosts[d]), "depends_on")
    layers = [app, data, hosts, storage]
    while len(rels) < n_rels:  # random cross-links inside a layer or one layer down
        layer = rng.randrange(len(layers))
        d = rng.randrange(domains)
        source = rng.choice(layers[layer][d])
        target_layer = layers[min(layer + rng.randint(0, 1), len(layers) - 1)]
        add(source, pick(target_layer, d, 1)[0], "depends_on")
    return cis, set(list(rels)[:n_rels])


# --- Loading --------------------------------------------------------------------------------------


def load(cis: list[tuple], rels: set[tuple]) -> tuple[int, dict[int, int], float]:
    """Bulk-insert the topology; returns the organisation id, index -> CI id, and seconds."""
    from django.db import connection
    from django.utils import timezone

    from opsdesk.cmdb.models import CIClass, ConfigurationItem, Relationship, RelationshipType
    from opsdesk.core.models import Organization

    started = time.perf_counter()
    org = Organization.objects.create(name="Benchmark Bank", slug="benchmark-bank")
    classes = dict(CIClass.objects.values_list("key", "pk"))
    types = dict(RelationshipType.objects.values_list("key", "pk"))
    now = timezone.now()

    def columns(model: type, values: dict) -> tuple[list[str], list]:
        """Every concrete column with its prepared default, overridden by `values`."""
        names, prepared = [], []
        template = model(organization_id=org.pk)
        for field in model._meta.concrete_fields:
            if field.primary_key:
                continue
            value = values.get(field.attname, getattr(template, field.attname))
            if field.attname in ("created_at", "updated_at"):
                value = now
            names.append(field.column)
            prepared.append(field.get_db_prep_save(value, connection))
        return names, prepared

    with connection.cursor() as cur:
        cur.execute("SELECT COALESCE(MAX(id), 0) FROM cmdb_configurationitem")
        first_id = cur.fetchone()[0] + 1
    ci_cols, ci_base = columns(ConfigurationItem, {"status": "operational"})
    name_at, class_at, crit_at = (
        ci_cols.index("name"),
        ci_cols.index("ci_class_id"),
        ci_cols.index("criticality"),
    )
    ci_rows = []
    ids: dict[int, int] = {}
    for idx, key, name, crit in cis:
        row = list(ci_base)
        row[name_at], row[class_at], row[crit_at] = name, classes[key], crit
        ids[idx] = first_id + idx
        ci_rows.append([ids[idx], *row])
    rel_cols, rel_base = columns(Relationship, {"discovered_by": "benchmark"})
    s_at, t_at, k_at = (
        rel_cols.index("source_id"),
        rel_cols.index("target_id"),
        rel_cols.index("type_id"),
    )
    rel_rows = []
    for s, t, k in rels:
        row = list(rel_base)
        row[s_at], row[t_at], row[k_at] = ids[s], ids[t], types[k]
        rel_rows.append(row)
    insert(connection, "cmdb_configurationitem", ["id", *ci_cols], ci_rows)
    insert(connection, "cmdb_relationship", rel_cols, rel_rows)
    with connection.cursor() as cur:
        if connection.vendor == "postgresql":
            cur.execute(
                "SELECT setval(pg_get_serial_sequence('cmdb_configurationitem', 'id'), "
                "(SELECT MAX(id) FROM cmdb_configurationitem))"
            )
        cur.execute("ANALYZE")
    return org.pk, ids, time.perf_counter() - started


def insert(connection: object, table: str, cols: list[str], rows: list[list]) -> None:
    from django.db import transaction

    with transaction.atomic(), connection.cursor() as cur:  # type: ignore[attr-defined]
        if connection.vendor == "postgresql":  # type: ignore[attr-defined]
            raw = cur.cursor  # the psycopg cursor: COPY is the fast path
            with raw.copy(f"COPY {table} ({', '.join(cols)}) FROM STDIN") as copy:
                for row in rows:
                    copy.write_row(row)
        else:
            marks = ", ".join(["%s"] * len(cols))
            for i in range(0, len(rows), 20_000):
                cur.executemany(
                    f"INSERT INTO {table} ({', '.join(cols)}) VALUES ({marks})",  # noqa: S608 - fixed table names
                    rows[i : i + 20_000],
                )


# --- Measuring ------------------------------------------------------------------------------------


def baseline_graph(cis: list[tuple], rels: set[tuple]):  # type: ignore[no-untyped-def]
    """The impact graph in memory: an edge a -> b when a failure of a impacts b."""
    import networkx as nx

    from opsdesk.cmdb.builtin import RELATIONSHIP_TYPES

    propagation = {k: v[2] for k, v in RELATIONSHIP_TYPES.items()}
    graph = nx.DiGraph()
    graph.add_nodes_from(idx for idx, *_ in cis)
    for s, t, k in rels:
        if propagation[k] in ("to_source", "both"):
            graph.add_edge(t, s)
        if propagation[k] == "both":
            graph.add_edge(s, t)
    return graph


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--cis", type=int, default=100_000)
    parser.add_argument("--relationships", type=int, default=500_000)
    parser.add_argument("--samples", type=int, default=300)
    parser.add_argument("--depth", type=int, default=6)
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--database-url", default="")
    args = parser.parse_args()

    var = tempfile.mkdtemp(prefix="opsdesk-bench-")
    os.environ["OPSDESK_VAR_DIR"] = var
    os.environ.setdefault("SECURE_COOKIES", "false")
    os.environ["LOG_LEVEL"] = "WARNING"
    if args.database_url:
        os.environ["DATABASE_URL"] = fresh_postgres_database(args.database_url)
    else:
        os.environ.pop("DATABASE_URL", None)
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "opsdesk.config.settings")
    import django

    django.setup()
    from django.core.management import call_command
    from django.db import connection

    call_command("migrate", verbosity=0, interactive=False)
    database = connection.vendor

    rng = random.Random(args.seed)  # noqa: S311 - reproducible test data
    t0 = time.perf_counter()
    cis, rels = topology(args.cis, args.relationships, rng)
    generate_s = time.perf_counter() - t0
    print(f"generated {len(cis):,} CIs and {len(rels):,} relationships in {generate_s:.1f} s")
    _, ids, load_s = load(cis, rels)
    print(f"bulk-loaded into {database} in {load_s:.1f} s (straight into the tables, no audit)")

    import networkx as nx

    from opsdesk.cmdb.impact import impact_analysis, upstream_services
    from opsdesk.cmdb.models import ConfigurationItem

    t0 = time.perf_counter()
    graph = baseline_graph(cis, rels)
    graph_s = time.perf_counter() - t0
    services = {idx for idx, key, *_ in cis if key == "business_service"}
    index_of = {v: k for k, v in ids.items()}
    infra = [idx for idx, key, *_ in cis if key in INFRASTRUCTURE]
    sample = rng.sample(infra, args.samples)
    objects = {
        ci.pk: ci
        for ci in ConfigurationItem.objects.filter(pk__in=[ids[i] for i in sample]).only(
            "id", "organization_id", "name"
        )
    }

    for idx in sample[:10]:  # warm-up (caches, plans)
        upstream_services(objects[ids[idx]], args.depth)
    db_times, full_times, nx_times, found = [], [], [], []
    mismatches = 0
    for idx in sample:
        ci = objects[ids[idx]]
        start = time.perf_counter()
        result = upstream_services(ci, args.depth)
        db_times.append(time.perf_counter() - start)
        start = time.perf_counter()
        paths = nx.single_source_shortest_path(graph, idx, cutoff=args.depth)
        hit = {n: p for n, p in paths.items() if n in services}
        nx_times.append(time.perf_counter() - start)
        found.append(len(result["services"]))
        if {index_of[s["id"]] for s in result["services"]} != set(hit):
            mismatches += 1
        for s in result["services"]:  # every path is a real path of the right length
            assert len(s["path"]) - 1 == len(hit[index_of[s["id"]]]) - 1, "path length differs"
    for idx in sample[: max(20, args.samples // 3)]:
        start = time.perf_counter()
        impact_analysis(objects[ids[idx]], args.depth)
        full_times.append(time.perf_counter() - start)

    upstream = quantiles(db_times)
    baseline = quantiles(nx_times)
    full = quantiles(full_times)
    report = {
        "benchmark": "cmdb_impact",
        "when": datetime.now(UTC).isoformat(timespec="seconds"),
        "database": database,
        "machine": {"cpus": os.cpu_count(), "python": platform.python_version()},
        "data": {
            "cis": len(cis),
            "relationships": len(rels),
            "loading": "bulk inserts straight into the tables (COPY / executemany), "
            "bypassing actions and the audit trail",
            "generate_seconds": round(generate_s, 1),
            "load_seconds": round(load_s, 1),
            "networkx_build_seconds": round(graph_s, 1),
            "seed": args.seed,
        },
        "depth": args.depth,
        "samples": len(sample),
        "services_found": {
            "mean": round(statistics.mean(found), 1),
            "max": max(found),
            "none": sum(1 for f in found if not f),
        },
        "mismatches_with_networkx": mismatches,
        "upstream_services": upstream,
        "impact_analysis_full": {**full, "samples": len(full_times)},
        "networkx_baseline": baseline,
        "ratio_p50": round(upstream["p50_ms"] / max(baseline["p50_ms"], 0.001), 1),
        "ratio_p95": round(upstream["p95_ms"] / max(baseline["p95_ms"], 0.001), 1),
        "target": "p95 of upstream_services under 100 ms on PostgreSQL",
    }
    print(json.dumps(report, indent=2))
    RESULTS.mkdir(parents=True, exist_ok=True)
    (RESULTS / f"cmdb_impact-{database}.json").write_text(json.dumps(report, indent=2) + "\n")
    lines = [
        f"# CMDB impact analysis — {database}, {report['when']}",
        "",
        f"{len(cis):,} CIs and {len(rels):,} relationships in one organisation (layered: "
        "business services → applications → databases / Kubernetes workloads → servers / "
        "nodes → storage and network devices, plus cross-links, switch meshes and cycles), "
        f"bulk-loaded straight into the tables in {load_s:.1f} s (no actions, no audit: "
        f"benchmark data only). {os.cpu_count()} CPUs, Python {platform.python_version()}. "
        f"Depth {args.depth}, {len(sample)} random infrastructure CIs "
        f"(servers, nodes, storage, network devices). Command: "
        f"`{' '.join(['python', *sys.argv])}`",
        "",
        "| query | p50 ms | p95 ms | p99 ms | max ms |",
        "|---|---:|---:|---:|---:|",
    ]
    for label, row in [
        ("upstream_services (database)", upstream),
        (f"impact_analysis, full answer ({len(full_times)} samples)", full),
        ("networkx baseline, same graph in memory", baseline),
    ]:
        lines.append(
            f"| {label} | {row['p50_ms']} | {row['p95_ms']} | {row['p99_ms']} | {row['max_ms']} |"
        )
    lines += [
        "",
        f"Ratio database / networkx: p50 {report['ratio_p50']}x, p95 {report['ratio_p95']}x. "
        f"Services found per CI: mean {report['services_found']['mean']}, "
        f"max {report['services_found']['max']}, none for {report['services_found']['none']}. "
        f"Samples whose services differ from networkx: {mismatches}.",
        "",
        "Target: p95 under 100 ms on PostgreSQL.",
        "",
    ]
    (RESULTS / f"cmdb_impact-{database}.md").write_text("\n".join(lines))
    if args.database_url:
        connection.close()


if __name__ == "__main__":
    main()
