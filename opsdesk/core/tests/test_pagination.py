"""Paginated lists: items, total, limit and offset; limits are bounded."""

from __future__ import annotations

import pytest
from django.conf import settings

from opsdesk.accounts.models import Team
from opsdesk.core.testing.api import ApiTest, assert_error
from opsdesk.core.testing.factories import TeamFactory

pytestmark = pytest.mark.django_db


class TestPagination(ApiTest):
    @pytest.fixture(autouse=True)
    def _teams(self, cast):
        for n in range(7):
            TeamFactory(organization=cast.org_a, name=f"Team {n:02d}", slug=f"team-{n:02d}")
        self.total = Team.objects.filter(organization=cast.org_a).count()
        assert self.total == 8

    def test_default_page(self):
        page = self.as_user(self.cast.admin).get("/teams").json()
        assert set(page) == {"items", "total", "limit", "offset"}
        assert page["total"] == self.total
        assert page["limit"] == settings.API_PAGE_SIZE
        assert page["offset"] == 0
        assert len(page["items"]) == self.total

    def test_limit_and_offset_walk_the_list_without_gaps_or_repeats(self):
        api = self.as_user(self.cast.admin)
        seen: list[int] = []
        for offset in range(0, self.total, 3):
            page = api.get("/teams", {"limit": 3, "offset": offset}).json()
            assert page["total"] == self.total
            assert page["limit"] == 3
            assert page["offset"] == offset
            assert len(page["items"]) == min(3, self.total - offset)
            seen += [t["id"] for t in page["items"]]
        everything = [t["id"] for t in api.get("/teams").json()["items"]]
        assert seen == everything
        assert len(set(seen)) == self.total

    def test_offset_past_the_end_is_an_empty_page_with_the_total(self):
        page = self.as_user(self.cast.admin).get("/teams", {"offset": 100}).json()
        assert page["items"] == []
        assert page["total"] == self.total

    def test_total_counts_what_the_user_may_see_after_filters(self):
        api = self.as_user(self.cast.admin)
        assert api.get("/teams", {"q": "Team 0", "limit": 1}).json()["total"] == 7
        assert self.as_user(self.cast.requester).get("/teams").json()["total"] == 0

    def test_max_limit_is_allowed(self):
        page = self.as_user(self.cast.admin).get("/teams", {"limit": settings.API_MAX_PAGE_SIZE})
        assert page.status_code == 200
        assert page.json()["limit"] == settings.API_MAX_PAGE_SIZE

    @pytest.mark.parametrize("path", ["/teams", "/users", "/audit", "/tokens", "/memberships"])
    def test_limit_above_max_is_422_naming_limit(self, path):
        resp = self.as_user(self.cast.admin).get(path, {"limit": settings.API_MAX_PAGE_SIZE + 1})
        body = assert_error(resp, 422, "limit")
        assert body["detail"] == "Invalid input: limit."

    @pytest.mark.parametrize(
        ("params", "field"),
        [
            ({"limit": 0}, "limit"),
            ({"limit": -1}, "limit"),
            ({"limit": "ten"}, "limit"),
            ({"offset": -1}, "offset"),
            ({"offset": "x"}, "offset"),
        ],
    )
    def test_bad_paging_names_the_parameter(self, params, field):
        assert_error(self.as_user(self.cast.admin).get("/teams", params), 422, field)
