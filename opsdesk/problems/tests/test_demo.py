"""The demo problems and known errors load on the demo CMDB, twice without duplicates."""

from __future__ import annotations

import pytest

from opsdesk.core.testing.browser import demo_cmdb
from opsdesk.problems.demo import seed_demo
from opsdesk.problems.models import KnownError, Problem
from opsdesk.problems.selectors import suggested_known_errors
from opsdesk.problems.tests.factories import incident

pytestmark = pytest.mark.django_db


def test_seed_demo_is_idempotent_and_tells_the_story():
    cast = demo_cmdb()
    from opsdesk.cmdb.models import ConfigurationItem

    db = ConfigurationItem.objects.get(organization=cast.org_a, name="corebank-db")
    waiting = incident(cast, title="Online banking slow", ci=db)
    first = seed_demo(cast.org_a, {"agent": cast.agent})
    assert first == {"problems": 4, "known_errors": 4}
    assert seed_demo(cast.org_a, [cast.agent]) == {"problems": 0, "known_errors": 0}
    stall = Problem.objects.get(organization=cast.org_a, title__startswith="Core banking")
    assert stall.state == "fix_in_progress" and stall.ci == db
    assert list(stall.incidents.all()) == [waiting]
    ke = KnownError.objects.get(problem=stall)
    assert {c.name for c in ke.cis.all()} == {"corebank-db", "jnb-dbs-07"}
    states = dict(KnownError.objects.filter(organization=cast.org_a).values_list("title", "state"))
    assert states["Payments fail with TLS handshake errors: certificate expired"] == "retired"
    fresh = incident(cast, title="Transfers pending, payments timeout", ci=db)
    suggested = suggested_known_errors(cast.agent, fresh)
    assert suggested[0].known_error == ke
    assert suggested[0].reasons[0] == "same CI corebank-db"
