"""The group page's topology JSON stays readable for a big group: every alerting CI, and only
a budget of neighbours, business services first."""

from __future__ import annotations

from opsdesk.cmdb.tests.factories import ci, relate
from opsdesk.events.tests.runbook_helpers import alert_group
from opsdesk.events.tests.test_views import login
from opsdesk.events.views_groups import NEIGHBOURS_MIN, NEIGHBOURS_UP_TO


def test_a_small_group_shows_its_neighbours_and_a_big_one_only_a_few(client, cast):  # type: ignore[no-untyped-def]
    org = cast.org_a
    login(client, cast.agent)
    service = ci(org, "Online Banking", "business_service", criticality=1)
    small = [ci(org, f"web-{i:02}") for i in range(3)]
    for i, web in enumerate(small):
        relate(web, "depends_on", ci(org, f"web-disk-{i:02}", "storage"))
    relate(service, "depends_on", small[0])
    group = alert_group(org, small, incident=False)
    graph = client.get(f"/events/groups/{group.pk}/graph.json").json()
    assert len(graph["nodes"]) == 7 and graph["hidden_neighbours"] == 0
    assert not graph["truncated"]

    big = [ci(org, f"pod-{i:02}") for i in range(45)]
    for i, pod in enumerate(big):
        relate(pod, "runs_on", ci(org, f"node-{i:02}"))
    relate(service, "depends_on", big[44])
    group = alert_group(org, big, incident=False)
    graph = client.get(f"/events/groups/{group.pk}/graph.json").json()
    names = {n["name"] for n in graph["nodes"]}
    assert {p.name for p in big} <= names  # every alerting CI is drawn
    neighbours = [n for n in graph["nodes"] if n["role"] == "neighbour"]
    assert len(neighbours) == max(NEIGHBOURS_MIN, NEIGHBOURS_UP_TO - 45)
    assert "Online Banking" in {n["name"] for n in neighbours}  # services come first
    assert graph["hidden_neighbours"] == 46 - len(neighbours)
    drawn = {n["id"] for n in graph["nodes"]}
    assert all(e["source"] in drawn and e["target"] in drawn for e in graph["edges"])
