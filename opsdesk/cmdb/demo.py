"""A believable CMDB for each demo organisation: about three hundred CIs and their relationships.

Business services (Online banking, Payments, Customer portal, ERP, Email and collaboration, HR
and payroll, Data warehouse, Intranet) with their offerings and applications, databases on
database servers, two Kubernetes clusters (nodes on Azure VMs, namespaces, workloads, pods,
services), on-premises and Azure servers, storage, network devices per site, SaaS, end-user
devices, phones and printers. Hostnames follow the organisation's sites (jnb, nbo, fra, ...).

The story impact analysis tells: the database server ``<site>-dbs-07`` carries the core
banking database, on which both tier-1 services Online banking and Payments depend.

Loaded through the bulk reconcile path as the discovery source ``demo`` (fast, audited,
identified by name and identifiers), so loading it twice changes nothing.
"""

from __future__ import annotations

import random
import uuid
from dataclasses import dataclass, field
from typing import Any

from opsdesk.accounts.models import Team
from opsdesk.cmdb.models import ConfigurationItem
from opsdesk.cmdb.reconcile import DiscoveredCI, DiscoveredRelationship, reconcile
from opsdesk.core.models import Organization

SOURCE = "demo"

SITES = {
    "ZA": ("jnb", "Johannesburg"),
    "KE": ("nbo", "Nairobi"),
    "NG": ("los", "Lagos"),
    "DE": ("fra", "Frankfurt"),
    "FR": ("par", "Paris"),
    "NL": ("ams", "Amsterdam"),
    "BE": ("bru", "Brussels"),
    "PL": ("waw", "Warsaw"),
    "ES": ("mad", "Madrid"),
    "IT": ("mil", "Milan"),
    "SE": ("sto", "Stockholm"),
}
AZURE_REGION = {"ZA": "southafricanorth", "KE": "southafricanorth", "NG": "southafricanorth"}

#: name, criticality, owner team, personal data, offerings
SERVICES = [
    (
        "Online banking",
        1,
        "Application Support",
        True,
        ["Retail online banking", "Business online banking"],
    ),
    ("Payments", 1, "Application Support", True, ["Card payments", "Instant transfers"]),
    ("Customer portal", 1, "Application Support", True, ["Self-service portal"]),
    ("ERP", 2, "Application Support", False, ["Finance and procurement", "Supply chain"]),
    ("Email and collaboration", 2, "Platform", True, ["Email", "Chat and meetings"]),
    ("HR and payroll", 2, "Application Support", True, ["Payroll", "Employee self-service"]),
    ("Data warehouse", 3, "Database", True, ["Management reporting"]),
    ("Intranet", 4, "Platform", False, ["Company intranet"]),
]

#: application, vendor, offerings it serves, databases it uses, where it runs
#: ("k8s:<workload>" on Kubernetes, "vm:<n>" on n on-premises VMs, "azure:<n>" on n Azure VMs)
APPLICATIONS = [
    ("banking-web", "in-house", ["Retail online banking"], [], "k8s:banking-web"),
    (
        "banking-api",
        "in-house",
        ["Retail online banking", "Business online banking"],
        ["corebank-db"],
        "k8s:banking-api",
    ),
    ("business-banking-ui", "in-house", ["Business online banking"], [], "k8s:business-ui"),
    (
        "core-banking",
        "Temenos",
        ["Retail online banking", "Business online banking", "Instant transfers"],
        ["corebank-db"],
        "vm:3",
    ),
    (
        "payments-switch",
        "ACI Worldwide",
        ["Card payments", "Instant transfers"],
        ["corebank-db", "payments-db"],
        "vm:2",
    ),
    ("fraud-scoring", "in-house", ["Card payments"], ["payments-db"], "k8s:fraud-scoring"),
    ("portal-frontend", "in-house", ["Self-service portal"], [], "k8s:portal-frontend"),
    ("portal-backend", "in-house", ["Self-service portal"], ["portal-db"], "k8s:portal-backend"),
    (
        "identity-provider",
        "Keycloak",
        ["Self-service portal", "Retail online banking"],
        ["identity-db"],
        "k8s:keycloak",
    ),
    ("sap-s4", "SAP", ["Finance and procurement", "Supply chain"], ["erp-db"], "vm:4"),
    ("procurement-portal", "Coupa", ["Finance and procurement"], ["erp-db"], "azure:2"),
    ("warehouse-mgmt", "Manhattan", ["Supply chain"], ["wms-db"], "azure:2"),
    ("exchange-hybrid", "Microsoft", ["Email"], [], "vm:2"),
    ("mail-gateway", "Proofpoint", ["Email"], [], "azure:2"),
    ("payroll-engine", "SAP SuccessFactors", ["Payroll"], ["hr-db"], "azure:2"),
    ("hr-selfservice", "in-house", ["Employee self-service"], ["hr-db"], "k8s:hr-selfservice"),
    ("dwh-etl", "in-house", ["Management reporting"], ["dwh-db"], "k8s:dwh-etl"),
    (
        "reporting-portal",
        "Microsoft Power BI Report Server",
        ["Management reporting"],
        ["dwh-db"],
        "vm:2",
    ),
    ("intranet-cms", "WordPress", ["Company intranet"], ["intranet-db"], "k8s:intranet"),
]
SAAS = [
    ("Microsoft 365", "Microsoft", ["Email", "Chat and meetings"]),
    ("Workday", "Workday", ["Employee self-service"]),
    ("Salesforce", "Salesforce", ["Self-service portal"]),
]
#: database, engine, version, server number, size in GB
DATABASES = [
    ("corebank-db", "oracle", "19c", 7, 4200),
    ("payments-db", "postgresql", "16.3", 8, 900),
    ("portal-db", "postgresql", "16.3", 9, 120),
    ("identity-db", "postgresql", "15.7", 9, 40),
    ("erp-db", "hana", "2.0 SPS07", 10, 2600),
    ("wms-db", "sqlserver", "2022", 11, 310),
    ("hr-db", "sqlserver", "2022", 11, 180),
    ("dwh-db", "postgresql", "16.3", 12, 8800),
    ("intranet-db", "mysql", "8.0", 12, 25),
]
NAMESPACES = {
    "banking": ["banking-web", "banking-api", "business-ui", "fraud-scoring"],
    "portal": ["portal-frontend", "portal-backend"],
    "identity": ["keycloak"],
    "hr": ["hr-selfservice"],
    "data": ["dwh-etl"],
    "intranet": ["intranet"],
}
PEOPLE = [
    "Thandi",
    "Sipho",
    "Wanjiru",
    "Otieno",
    "Chinedu",
    "Ngozi",
    "Amina",
    "Pieter",
    "Lerato",
    "Kofi",
    "Zanele",
    "Baraka",
    "Lukas",
    "Camille",
    "Sanne",
    "Katarzyna",
    "Giulia",
    "Jonas",
    "Elif",
    "Mateo",
    "Ines",
    "Lars",
    "Sofia",
    "Bram",
]


@dataclass
class Topology:
    org: Organization
    rng: random.Random
    items: list[DiscoveredCI] = field(default_factory=list)
    rels: list[DiscoveredRelationship] = field(default_factory=list)
    names: set[str] = field(default_factory=set)

    def add(
        self, class_key: str, name: str, attributes: dict[str, Any] | None = None, **fields: Any
    ) -> str:
        assert name not in self.names, name
        self.names.add(name)
        self.items.append(
            DiscoveredCI(
                key=name,
                class_key=class_key,
                name=name,
                fields=fields,
                attributes={k: v for k, v in (attributes or {}).items() if v not in (None, "")},
                row=len(self.items) + 1,
            )
        )
        return name

    def rel(self, source: str, type_key: str, target: str) -> None:
        self.rels.append(DiscoveredRelationship(source, type_key, target, row=len(self.rels) + 1))

    def uid(self, name: str) -> str:
        return str(uuid.uuid5(uuid.NAMESPACE_DNS, f"{self.org.slug}.{name}"))

    def serial(self, prefix: str) -> str:
        return f"{prefix}{self.rng.randrange(10**7, 10**8)}"


def _sites(org: Organization) -> list[tuple[str, str, str]]:
    countries = [c for c in (org.countries or []) if c in SITES] or ["ZA"]
    return [(c, *SITES[c]) for c in countries]


def build(org: Organization) -> Topology:
    """The demo topology of one organisation (deterministic)."""
    t = Topology(org=org, rng=random.Random(org.slug))  # noqa: S311 (demo data, not secrets)
    sites = _sites(org)
    main_country, main, main_city = sites[0]
    domain = f"{org.slug}.example"
    region = AZURE_REGION.get(main_country, "westeurope")
    subscription = str(uuid.uuid5(uuid.NAMESPACE_DNS, f"{org.slug}.subscription"))
    prod = {
        "environment": "production",
        "country": main_country,
        "location": f"{main_city} data centre",
    }

    def azure_id(kind: str, name: str) -> str:
        return f"/subscriptions/{subscription}/resourceGroups/rg-{org.slug}-prod/providers/{kind}/{name}"

    # --- network, per site --------------------------------------------------------------------
    core: dict[str, list[str]] = {}
    for country, code, city in sites:
        site = {
            "environment": "production",
            "country": country,
            "location": f"{city} data centre" if code == main else f"{city} office",
        }
        core[code] = []
        for n in (1, 2) if code == main else (1,):
            name = t.add(
                "network_device",
                f"{code}-core-sw-0{n}",
                {
                    "serial_number": t.serial("FDO"),
                    "fqdn": f"{code}-core-sw-0{n}.{domain}",
                    "device_type": "core switch",
                    "vendor": "Cisco",
                    "model": "Catalyst 9500",
                    "firmware": "IOS XE 17.9.4",
                    "ip_address": f"10.{len(core)}.0.{n}",
                },
                owner_team="Network",
                support_team="Network",
                criticality=1 if code == main else 2,
                **site,
            )
            core[code].append(name)
        t.add(
            "network_device",
            f"{code}-wan-rtr-01",
            {
                "serial_number": t.serial("FGL"),
                "fqdn": f"{code}-wan-rtr-01.{domain}",
                "device_type": "WAN router",
                "vendor": "Cisco",
                "model": "ISR 4451",
                "firmware": "IOS XE 17.6.5",
            },
            owner_team="Network",
            support_team="Network",
            **site,
        )
        for sw in core[code]:
            t.rel(sw, "depends_on", f"{code}-wan-rtr-01")
        if code != main:
            t.rel(f"{code}-wan-rtr-01", "depends_on", f"{main}-wan-rtr-01")
    firewalls = []
    for n in (1, 2):
        fw = t.add(
            "network_device",
            f"{main}-fw-0{n}",
            {
                "serial_number": t.serial("FG"),
                "fqdn": f"{main}-fw-0{n}.{domain}",
                "device_type": "firewall",
                "vendor": "Fortinet",
                "model": "FortiGate 600F",
                "firmware": "FortiOS 7.4.3",
            },
            owner_team="Network",
            support_team="Network",
            criticality=1,
            tags=["perimeter"],
            **prod,
        )
        t.rel(fw, "depends_on", core[main][n - 1])
        firewalls.append(fw)
    lbs = []
    for n in (1, 2):
        lb = t.add(
            "network_device",
            f"{main}-lb-0{n}",
            {
                "serial_number": t.serial("F5"),
                "fqdn": f"{main}-lb-0{n}.{domain}",
                "device_type": "load balancer",
                "vendor": "F5",
                "model": "BIG-IP i5800",
                "firmware": "17.1.1",
            },
            owner_team="Network",
            support_team="Network",
            criticality=1,
            tags=["dmz"],
            **prod,
        )
        t.rel(lb, "depends_on", firewalls[n - 1])
        lbs.append(lb)

    # --- storage ------------------------------------------------------------------------------
    san = t.add(
        "storage",
        f"{main}-san-01",
        {
            "serial_number": t.serial("CKM"),
            "capacity_gb": 512000,
            "storage_type": "SAN (NetApp AFF A400)",
        },
        owner_team="Platform",
        support_team="Platform",
        criticality=1,
        **prod,
    )
    nas = t.add(
        "storage",
        f"{main}-nas-01",
        {
            "serial_number": t.serial("CKM"),
            "capacity_gb": 128000,
            "storage_type": "NAS (NetApp FAS2820)",
        },
        owner_team="Platform",
        support_team="Platform",
        **prod,
    )
    vault = t.add(
        "storage",
        "backup-vault-prod",
        {
            "resource_id": azure_id("Microsoft.RecoveryServices/vaults", f"rsv-{org.slug}-prod"),
            "storage_type": "Azure Recovery Services vault",
        },
        owner_team="Platform",
        support_team="Platform",
        environment="production",
        country=main_country,
        location=region,
    )
    t.rel(san, "depends_on", core[main][0])
    t.rel(nas, "depends_on", core[main][-1])

    # --- hypervisors and servers ------------------------------------------------------------------
    hosts = []
    for n in range(1, 5):
        h = t.add(
            "server",
            f"{main}-esx-0{n}",
            {
                "serial_number": t.serial("CZ"),
                "fqdn": f"{main}-esx-0{n}.{domain}",
                "os": "VMware ESXi",
                "os_version": "8.0 U2",
                "cpu_cores": 64,
                "memory_gb": 1024,
                "virtual": False,
                "vendor": "HPE",
                "model": "ProLiant DL380 Gen11",
            },
            owner_team="Platform",
            support_team="Platform",
            criticality=2,
            tags=["hypervisor"],
            **prod,
        )
        t.rel(h, "hosted_on", san)
        t.rel(h, "depends_on", core[main][n % len(core[main])])
        hosts.append(h)

    def vm(
        name: str,
        os: str,
        os_version: str,
        cores: int,
        memory: int,
        owner: str,
        *,
        criticality: int | None = None,
        tags: list[str] | None = None,
    ) -> str:
        host = hosts[len(t.names) % len(hosts)]
        v = t.add(
            "server",
            name,
            {
                "fqdn": f"{name}.{domain}",
                "ip_address": f"10.20.{len(t.names) % 250}.{10 + len(t.names) % 200}",
                "os": os,
                "os_version": os_version,
                "cpu_cores": cores,
                "memory_gb": memory,
                "virtual": True,
                "vendor": "VMware",
                "model": "VMware Virtual Platform",
            },
            owner_team=owner,
            support_team="Platform",
            criticality=criticality,
            tags=tags or [],
            **prod,
        )
        t.rel(v, "runs_on", host)
        return v

    def azure_vm(
        name: str,
        size: str,
        cores: int,
        memory: int,
        owner: str,
        *,
        os: str = "Ubuntu",
        os_version: str = "22.04 LTS",
        tags: list[str] | None = None,
    ) -> str:
        v = t.add(
            "server",
            name,
            {
                "fqdn": f"{name}.{region}.cloudapp.azure.com",
                "resource_id": azure_id("Microsoft.Compute/virtualMachines", name),
                "os": os,
                "os_version": os_version,
                "cpu_cores": cores,
                "memory_gb": memory,
                "virtual": True,
                "vendor": "Microsoft Azure",
                "model": size,
            },
            owner_team=owner,
            support_team="Platform",
            tags=["azure", *(tags or [])],
            environment="production",
            country=main_country,
            location=f"Azure {region}",
        )
        return v

    # Database servers: physical, on the SAN, backed up to the vault.
    db_servers: dict[int, str] = {}
    for number in sorted({d[3] for d in DATABASES}):
        name = t.add(
            "server",
            f"{main}-dbs-{number:02d}",
            {
                "serial_number": t.serial("CZJ"),
                "fqdn": f"{main}-dbs-{number:02d}.{domain}",
                "os": "Oracle Linux" if number == 7 else "Red Hat Enterprise Linux",
                "os_version": "8.9",
                "cpu_cores": 48,
                "memory_gb": 768,
                "virtual": False,
                "vendor": "Dell",
                "model": "PowerEdge R760",
            },
            owner_team="Database",
            support_team="Database",
            criticality=1 if number in (7, 8) else 2,
            tags=["database"],
            **prod,
        )
        t.rel(name, "hosted_on", san)
        t.rel(name, "depends_on", core[main][number % len(core[main])])
        t.rel(vault, "backs_up", name)
        db_servers[number] = name
    for db, engine, version, number, size in DATABASES:
        personal = db in {
            "corebank-db",
            "payments-db",
            "portal-db",
            "identity-db",
            "hr-db",
            "dwh-db",
        }
        t.add(
            "database",
            db,
            {
                "engine": engine,
                "version": version,
                "fqdn": f"{db}.{domain}",
                "size_gb": size,
                "port": {
                    "oracle": 1521,
                    "postgresql": 5432,
                    "sqlserver": 1433,
                    "mysql": 3306,
                    "hana": 30015,
                }[engine],
            },
            owner_team="Database",
            support_team="Database",
            criticality=1 if db in {"corebank-db", "payments-db"} else 2,
            data_classification="restricted" if personal else "confidential",
            holds_personal_data=personal,
            allowed_residency=[main_country] if personal else [],
            **prod,
        )
        t.rel(db, "runs_on", db_servers[number])

    # --- Kubernetes: two clusters on Azure VMs -------------------------------------------------------
    services_by_workload: dict[str, str] = {}
    for cluster_name, env, workload_filter in (
        ("aks-prod", "production", None),
        (
            "aks-nonprod",
            "staging",
            {"banking-web", "banking-api", "portal-frontend", "portal-backend"},
        ),
    ):
        cluster = t.add(
            "k8s_cluster",
            f"{cluster_name}-{main}",
            {
                "version": "1.29.4",
                "provider": "AKS",
                "resource_id": azure_id(
                    "Microsoft.ContainerService/managedClusters", f"{cluster_name}-{main}"
                ),
                "cluster_uid": t.uid(cluster_name),
            },
            owner_team="Platform",
            support_team="Platform",
            criticality=1 if env == "production" else 3,
            environment=env,
            country=main_country,
            location=f"Azure {region}",
        )
        t.rel(cluster, "depends_on", firewalls[0])
        nodes = []
        for n in range(1, 4 if env == "production" else 3):
            host = azure_vm(
                f"{cluster_name}-vmss-{main}-0{n}",
                "Standard_D8s_v5",
                8,
                32,
                "Platform",
                tags=["kubernetes"],
            )
            node = t.add(
                "k8s_node",
                f"{cluster_name}-node-0{n}",
                {
                    "k8s_uid": t.uid(f"{cluster_name}-node-{n}"),
                    "provider_id": f"azure://{azure_id('Microsoft.Compute/virtualMachineScaleSets', cluster_name)}/virtualMachines/{n}",
                    "kubelet_version": "v1.29.4",
                    "os_image": "Ubuntu 22.04.4 LTS",
                    "cpu_cores": 8,
                    "cluster": cluster,
                },
                owner_team="Platform",
                support_team="Platform",
                environment=env,
                country=main_country,
                location=f"Azure {region}",
            )
            t.rel(node, "runs_on", host)
            t.rel(node, "member_of", cluster)
            nodes.append(node)
        pod_count = 0
        for ns, workloads in NAMESPACES.items():
            chosen = [w for w in workloads if workload_filter is None or w in workload_filter]
            if not chosen:
                continue
            ns_name = t.add(
                "k8s_namespace",
                f"{cluster_name}/{ns}",
                {"k8s_uid": t.uid(f"{cluster_name}/ns/{ns}"), "cluster": cluster},
                owner_team="Platform",
                environment=env,
                country=main_country,
            )
            t.rel(ns_name, "member_of", cluster)
            for w in chosen:
                replicas = (
                    3
                    if env == "production"
                    and w in {"banking-api", "banking-web", "portal-frontend", "keycloak"}
                    else 2
                )
                workload = t.add(
                    "k8s_workload",
                    f"{cluster_name}/{ns}/{w}",
                    {
                        "k8s_uid": t.uid(f"{cluster_name}/deploy/{w}"),
                        "kind": "Deployment",
                        "namespace": ns,
                        "replicas": replicas,
                        "cluster": cluster,
                    },
                    owner_team="Application Support",
                    support_team="Platform",
                    environment=env,
                    country=main_country,
                )
                t.rel(workload, "member_of", ns_name)
                svc = t.add(
                    "k8s_service",
                    f"{cluster_name}/{ns}/{w}-svc",
                    {
                        "k8s_uid": t.uid(f"{cluster_name}/svc/{w}"),
                        "namespace": ns,
                        "cluster_ip": f"10.0.{len(t.names) % 250}.{pod_count % 250 + 1}",
                        "service_type": "ClusterIP",
                        "cluster": cluster,
                    },
                    owner_team="Application Support",
                    support_team="Platform",
                    environment=env,
                    country=main_country,
                )
                t.rel(svc, "member_of", ns_name)
                suffix = t.uid(w)[:10].replace("-", "")
                for r in range(replicas):
                    node = nodes[pod_count % len(nodes)]
                    pod_name = (
                        f"{cluster_name}/{ns}/{w}-{suffix}-{t.uid(f'{cluster_name}/{w}/{r}')[:5]}"
                    )
                    pod = t.add(
                        "k8s_pod",
                        pod_name,
                        {
                            "k8s_uid": t.uid(pod_name),
                            "namespace": ns,
                            "node": node,
                            "phase": "Running",
                            "cluster": cluster,
                        },
                        owner_team="Application Support",
                        environment=env,
                        country=main_country,
                    )
                    t.rel(pod, "runs_on", node)
                    t.rel(pod, "member_of", workload)
                    t.rel(svc, "selects", pod)
                    pod_count += 1
                if env == "production":
                    services_by_workload[w] = svc

    # --- services, offerings, applications ----------------------------------------------------------
    for name, tier, owner, personal, offerings in SERVICES:
        t.add(
            "business_service",
            name,
            {
                "service_owner": f"Head of {name}",
                "sla_hours": "24x7" if tier <= 2 else "business hours",
            },
            owner_team=owner,
            support_team="Service Desk",
            criticality=tier,
            holds_personal_data=personal,
            data_classification="confidential" if personal else "internal",
            **prod,
        )
        for offering in offerings:
            t.add(
                "service_offering",
                offering,
                {"offering_tier": "gold" if tier == 1 else "silver" if tier == 2 else "bronze"},
                owner_team=owner,
                support_team="Service Desk",
                criticality=tier,
                **prod,
            )
            t.rel(name, "depends_on", offering)
    vm_count = 0
    for app, vendor, offerings, dbs, runs in APPLICATIONS:
        t.add(
            "application",
            app,
            {
                "app_id": f"APP-{abs(hash_name(app)) % 9000 + 1000}",
                "vendor": vendor,
                "version": f"{t.rng.randint(1, 12)}.{t.rng.randint(0, 9)}.{t.rng.randint(0, 20)}",
                "url": f"https://{app}.{domain}",
            },
            owner_team="Application Support",
            support_team="Application Support",
            criticality=1
            if any(
                o in {"Retail online banking", "Card payments", "Self-service portal"}
                for o in offerings
            )
            else 2,
            **prod,
        )
        for offering in offerings:
            t.rel(offering, "depends_on", app)
        for db in dbs:
            t.rel(app, "depends_on", db)
        kind, _, arg = runs.partition(":")
        if kind == "k8s":
            t.rel(app, "depends_on", services_by_workload[arg])
        elif kind == "vm":
            for n in range(1, int(arg) + 1):
                vm_count += 1
                os = (
                    ("Windows Server", "2022")
                    if app in {"exchange-hybrid", "reporting-portal"}
                    else ("Red Hat Enterprise Linux", "9.3")
                )
                v = vm(
                    f"{main}-{app.split('-')[0][:6]}-app-{n:02d}",
                    os[0],
                    os[1],
                    8,
                    32,
                    "Application Support",
                )
                t.rel(app, "runs_on", v)
        else:
            for n in range(1, int(arg) + 1):
                v = azure_vm(
                    f"az-{app.split('-')[0][:8]}-{n:02d}",
                    "Standard_D4s_v5",
                    4,
                    16,
                    "Application Support",
                )
                t.rel(app, "runs_on", v)
        if app in {"banking-web", "portal-frontend", "business-banking-ui"}:
            t.rel(app, "depends_on", lbs[0])
    for saas, vendor, offerings in SAAS:
        t.add(
            "saas_application",
            saas,
            {
                "vendor": vendor,
                "tenant_id": t.uid(f"tenant/{saas}"),
                "url": f"https://{saas.lower().replace(' ', '')}.com",
            },
            owner_team="Application Support",
            support_team="Service Desk",
            criticality=2,
            environment="production",
            country=main_country,
        )
        for offering in offerings:
            t.rel(offering, "depends_on", saas)

    # Infrastructure servers every office needs.
    for _country, code, _city in sites:
        for role, os in (
            ("dc", "Windows Server"),
            ("file", "Windows Server"),
            ("print", "Windows Server"),
        ):
            name = vm(f"{code}-{role}-01", os, "2022", 4, 16, "Platform", tags=[role])
            t.rel(name, "depends_on", core[code][0])

    # Cloud resources of the Azure estate.
    for kind, rtype, name in (
        ("Microsoft.KeyVault/vaults", "Key vault", f"kv-{org.slug}-prod"),
        ("Microsoft.Network/applicationGateways", "Application gateway", f"agw-{org.slug}-prod"),
        ("Microsoft.Storage/storageAccounts", "Storage account", f"st{org.slug}prod01"),
        ("Microsoft.Network/virtualNetworks", "Virtual network", f"vnet-{org.slug}-prod"),
        (
            "Microsoft.OperationalInsights/workspaces",
            "Log Analytics workspace",
            f"log-{org.slug}-prod",
        ),
    ):
        t.add(
            "cloud_resource",
            name,
            {
                "provider": "azure",
                "account": subscription,
                "region": region,
                "resource_id": azure_id(kind, name),
                "resource_type": rtype,
            },
            owner_team="Platform",
            support_team="Platform",
            environment="production",
            country=main_country,
            location=f"Azure {region}",
        )
    t.rel(f"aks-prod-{main}", "depends_on", f"vnet-{org.slug}-prod")
    t.rel("identity-provider", "depends_on", f"kv-{org.slug}-prod")
    t.rel("portal-frontend", "depends_on", f"agw-{org.slug}-prod")

    # --- end-user devices, phones, printers ---------------------------------------------------------
    for i in range(60):
        country, code, city = sites[i % len(sites)]
        person = PEOPLE[(i * 7) % len(PEOPLE)]
        laptop = i % 5 != 4
        model = (
            t.rng.choice(
                ["Dell Latitude 7440", "Lenovo ThinkPad T14 Gen 4", "HP EliteBook 840 G10"]
            )
            if laptop
            else "Dell OptiPlex 7010"
        )
        name = f"{code.upper()}-{'LT' if laptop else 'DT'}-{i + 1:04d}"
        t.add(
            "end_user_device",
            name,
            {
                "serial_number": t.serial("5CG"),
                "device_type": "laptop" if laptop else "desktop",
                "os": "Windows 11 Enterprise 23H2",
                "model": model,
                "assigned_to": f"{person.lower()}.{code}@{domain}",
            },
            owner_team="Service Desk",
            support_team="Service Desk",
            environment="production",
            country=country,
            location=f"{city} office",
            holds_personal_data=True,
        )
    for i in range(10):
        country, code, city = sites[i % len(sites)]
        t.add(
            "telephony",
            f"{code.upper()}-PH-{i + 1:03d}",
            {
                "serial_number": t.serial("FCH"),
                "extension": str(2000 + i),
                "number": f"+{i:02d} 10 555 {1000 + i}",
            },
            owner_team="Network",
            support_team="Service Desk",
            environment="production",
            country=country,
            location=f"{city} office",
        )
    for country, code, city in sites:
        printer = t.add(
            "peripheral",
            f"{code.upper()}-PRN-01",
            {"serial_number": t.serial("VNB"), "peripheral_type": "multifunction printer"},
            owner_team="Service Desk",
            support_team="Service Desk",
            environment="production",
            country=country,
            location=f"{city} office",
        )
        t.rel(printer, "depends_on", f"{code}-print-01")
    return t


def hash_name(name: str) -> int:
    """A stable small number from a name (Python's hash() differs per process)."""
    return int(uuid.uuid5(uuid.NAMESPACE_DNS, name).hex[:8], 16)


def load_cmdb_demo(*, organization: Organization, acting_user: Any) -> dict[str, int]:
    """Create or refresh the demo CMDB of `organization`; returns the reconcile counts."""
    topology = build(organization)
    # Owner and support teams are the demo teams; an organisation without them gets none.
    teams = {
        n.lower()
        for n in Team.objects.filter(organization=organization).values_list("name", flat=True)
    }
    for item in topology.items:
        for key in ("owner_team", "support_team"):
            if key in item.fields and str(item.fields[key]).lower() not in teams:
                del item.fields[key]
    result = reconcile(
        organization=organization,
        source=SOURCE,
        items=topology.items,
        relationships=topology.rels,
        acting_user=acting_user,
    )
    if result.report:
        problems = "; ".join(
            f"row {r['row']} {r['field']}: {r['message']}" for r in result.report[:5]
        )
        raise RuntimeError(f"The demo CMDB does not load: {problems}")
    try:
        from opsdesk.cmdb.demo_assets import load_assets_demo
    except ImportError:  # the assets demo is optional
        load_assets_demo = None
    if load_assets_demo is not None:
        cis = ConfigurationItem.objects.filter(organization=organization).select_related("ci_class")
        load_assets_demo(
            organization=organization,
            acting_user=acting_user,
            servers=list(cis.filter(ci_class__key="server").order_by("name")),
            end_user_devices=list(cis.filter(ci_class__key="end_user_device").order_by("name")),
        )
    return {
        "created": result.created,
        "updated": result.updated,
        "unchanged": result.unchanged,
        "relationships_created": result.relationships_created,
    }
