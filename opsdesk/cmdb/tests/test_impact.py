"""Impact analysis over a small banking topology."""

from opsdesk.cmdb.impact import impact_analysis
from opsdesk.cmdb.tests.factories import ci, relate


def build(org):  # type: ignore[no-untyped-def]
    banking = ci(org, "Online banking", "business_service", criticality=1)
    erp = ci(org, "ERP", "business_service", criticality=2)
    web = ci(org, "banking-web", "application")
    api = ci(org, "banking-api", "application")
    db = ci(org, "db-07", "database")
    srv = ci(org, "srv-db-07", "server")
    backup = ci(org, "backup-01", "server")
    relate(banking, "depends_on", web)
    relate(web, "depends_on", api)
    relate(api, "depends_on", db)
    relate(erp, "depends_on", db)
    relate(db, "runs_on", srv)
    relate(backup, "backs_up", db)
    return locals()


def test_server_failure_reaches_both_services_with_paths(cast):
    t = build(cast.org_a)
    result = impact_analysis(t["srv"], depth=6)
    names = [s["name"] for s in result["services"]]
    assert names == ["Online banking", "ERP"]  # tier 1 first
    banking = result["services"][0]
    assert banking["path_names"] == [
        "srv-db-07",
        "db-07",
        "banking-api",
        "banking-web",
        "Online banking",
    ]
    assert result["blast_radius"]["services"] == 2
    assert result["blast_radius"]["highest_criticality"] == 1
    # backups carry no impact
    assert "backup-01" not in {n["name"] for n in result["upstream"]}


def test_depth_limits_the_walk(cast):
    t = build(cast.org_a)
    result = impact_analysis(t["srv"], depth=2)
    assert [s["name"] for s in result["services"]] == ["ERP"]


def test_downstream_lists_what_the_service_rests_on(cast):
    t = build(cast.org_a)
    result = impact_analysis(t["banking"], depth=6)
    assert [n["name"] for n in result["downstream"]] == [
        "banking-web",
        "banking-api",
        "db-07",
        "srv-db-07",
    ]


def test_cycles_end(cast):
    a = ci(cast.org_a, "a", "application")
    b = ci(cast.org_a, "b", "application")
    c = ci(cast.org_a, "c", "application")
    svc = ci(cast.org_a, "svc", "business_service", criticality=3)
    relate(a, "depends_on", b)
    relate(b, "depends_on", c)
    relate(c, "depends_on", a)
    relate(svc, "depends_on", a)
    result = impact_analysis(c, depth=10)
    assert {n["name"] for n in result["upstream"]} == {"a", "b", "svc"}
    assert result["truncated"] is False


def test_connects_to_carries_impact_both_ways(cast):
    fw = ci(cast.org_a, "fw-01", "network_device")
    sw = ci(cast.org_a, "sw-01", "network_device")
    relate(fw, "connects_to", sw)
    assert {n["name"] for n in impact_analysis(fw)["upstream"]} == {"sw-01"}
    assert {n["name"] for n in impact_analysis(sw)["upstream"]} == {"fw-01"}


def test_other_organisations_relationships_are_never_walked(cast):
    t = build(cast.org_a)
    other = ci(cast.org_b, "B service", "business_service")
    b_app = ci(cast.org_b, "B app", "application")
    relate(other, "depends_on", b_app)
    result = impact_analysis(t["srv"])
    assert "B service" not in {s["name"] for s in result["services"]}
