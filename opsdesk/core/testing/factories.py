"""Factories for tests: a small fixed cast, built the same way everywhere."""

from __future__ import annotations

from functools import cache

import factory
from django.contrib.auth.hashers import make_password
from factory.django import DjangoModelFactory

from opsdesk.accounts.models import ApiToken, Membership, Team, User
from opsdesk.core.models import Organization
from opsdesk.core.permissions import Role

PASSWORD = "correct-horse-battery-staple"


@cache
def password_hash(raw: str) -> str:
    """An argon2 hash of `raw`, computed once per test process: hashing is slow on purpose,
    and every user of the cast would otherwise pay for it."""
    return make_password(raw)


class OrganizationFactory(DjangoModelFactory):
    class Meta:
        model = Organization
        django_get_or_create = ("slug",)

    name = factory.Sequence(lambda n: f"Organisation {n}")
    slug = factory.Sequence(lambda n: f"org-{n}")
    countries = factory.LazyFunction(lambda: ["ZA"])
    time_zone = "Africa/Johannesburg"


class UserFactory(DjangoModelFactory):
    class Meta:
        model = User
        django_get_or_create = ("email",)
        skip_postgeneration_save = True

    email = factory.Sequence(lambda n: f"user{n}@example.test")
    full_name = factory.Sequence(lambda n: f"User {n}")

    @factory.post_generation
    def password(obj, create, extracted, **kwargs):  # type: ignore[no-untyped-def]
        obj.password = password_hash(extracted if extracted is not None else PASSWORD)
        if create:
            obj.save()


class MembershipFactory(DjangoModelFactory):
    class Meta:
        model = Membership

    user = factory.SubFactory(UserFactory)
    organization = factory.SubFactory(OrganizationFactory)
    role = Role.AGENT


class TeamFactory(DjangoModelFactory):
    class Meta:
        model = Team

    organization = factory.SubFactory(OrganizationFactory)
    name = factory.Sequence(lambda n: f"Team {n}")
    slug = factory.Sequence(lambda n: f"team-{n}")


def member(organization: Organization, role: str = Role.AGENT, **user_fields: object) -> User:
    """A user with `role` in `organization`."""
    user = UserFactory(**user_fields)
    MembershipFactory(user=user, organization=organization, role=role)
    return user


def token_for(user: User, name: str = "test") -> str:
    raw, prefix, digest = ApiToken.generate()
    ApiToken.objects.create(user=user, name=name, key_prefix=prefix, key_hash=digest)
    return raw
