"""``field__any=[...]``: ``field IN (...)`` for long lists of values, as one array parameter on
PostgreSQL (``field = ANY(%s)``).

Django's ``__in`` binds one parameter per value; with client-side binding (Django's default
on psycopg 3) each is quoted in Python, and a thousand of them cost more than the query. The
array is one value, adapted by psycopg in C: the event pipeline looks up the fingerprints,
identifiers and alert ids of a thousand events per batch this way. Elsewhere it is ``__in``.
"""

from __future__ import annotations

from typing import Any

from django.core.exceptions import EmptyResultSet
from django.db.models import Field, ForeignObject
from django.db.models.fields.related_lookups import RelatedIn
from django.db.models.lookups import In


@Field.register_lookup
class AnyOf(In):
    lookup_name = "any"

    def _as_array(self, connection: Any) -> bool:
        return connection.vendor == "postgresql" and self.rhs_is_direct_value()

    def process_rhs(self, compiler: Any, connection: Any) -> tuple[str, list[Any]]:
        if not self._as_array(connection):
            return super().process_rhs(compiler, connection)
        values = list(dict.fromkeys(v for v in self.rhs if v is not None))
        if not values:
            raise EmptyResultSet
        _, params = self.batch_process_rhs(compiler, connection, values)
        return "%s", [list(params)]

    def get_rhs_op(self, connection: Any, rhs: str) -> str:
        if not self._as_array(connection):
            return super().get_rhs_op(connection, rhs)
        return f"= ANY({rhs})"


@ForeignObject.register_lookup
class RelatedAnyOf(RelatedIn, AnyOf):
    """``foreign_key__any=[ids or instances]``."""

    lookup_name = "any"
