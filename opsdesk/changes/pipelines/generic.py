"""OpsDesk's own documented deployment shape, for any pipeline (Jenkins, Argo CD, Octopus,
scripts): POST it to ``/api/v1/deployments``.

``external_id`` is the pipeline's id of the deployment (a redelivery with the same id
updates the same record); ``service`` and ``ci`` name the target by id or exact name.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import Annotated, Any, Literal

from ninja import Field
from pydantic import ValidationError, field_validator

from opsdesk.changes.pipelines import IN_PROGRESS, PayloadError, normalised, sha
from opsdesk.core.api import MAX_ID, ApiAwareDateTime, InSchema

Reference = (
    Annotated[int, Field(ge=1, le=MAX_ID)] | Annotated[str, Field(min_length=1, max_length=200)]
)


class DeploymentIn(InSchema):
    """A deployment reported by a pipeline."""

    external_id: str = Field(
        ..., min_length=1, max_length=200, description="The pipeline's id of this deployment."
    )
    service: Reference | None = Field(None, description="Business service: id or exact name.")
    ci: Reference | None = Field(None, description="Configuration item: id or exact name.")
    environment: str = Field("", max_length=100, examples=["production"])
    version: str = Field("", max_length=200, examples=["2.14.0"])
    outcome: Literal["in_progress", "success", "failure", "cancelled"] = IN_PROGRESS
    started_at: ApiAwareDateTime | None = None
    finished_at: ApiAwareDateTime | None = None
    repository: str = Field("", max_length=300)
    commit: str = Field("", max_length=64, description="The commit id deployed (hex).")
    url: str = Field("", max_length=500, description="Link to the pipeline run.")
    triggered_by: str = Field("", max_length=200)

    @field_validator("url")
    @classmethod
    def _http(cls, value: str) -> str:
        if value and not value.startswith(("http://", "https://")):
            raise ValueError("Give an http(s) link to the pipeline run.")
        return value

    @field_validator("commit")
    @classmethod
    def _hex(cls, value: str) -> str:
        if value and not sha(value):
            raise ValueError("A commit id is 7 to 64 hexadecimal characters.")
        return value


def parse(payload: Mapping[str, Any], headers: Mapping[str, str]) -> dict[str, Any]:
    try:
        data = DeploymentIn.model_validate(dict(payload))
    except ValidationError as exc:
        first = exc.errors()[0]
        field = ".".join(str(p) for p in first["loc"] if not isinstance(p, int)) or "body"
        raise PayloadError(field, first["msg"]) from None
    return from_schema(data)


def from_schema(data: DeploymentIn) -> dict[str, Any]:
    started: datetime | None = data.started_at
    finished: datetime | None = data.finished_at
    if started and finished and finished < started:
        raise PayloadError("finished_at", "The deployment cannot finish before it started.")
    return normalised(
        external_id=data.external_id.strip(),
        service=data.service.strip() if isinstance(data.service, str) else data.service,
        ci=data.ci.strip() if isinstance(data.ci, str) else data.ci,
        environment=data.environment.strip(),
        version=data.version.strip(),
        outcome=data.outcome,
        started_at=started,
        finished_at=finished if data.outcome != IN_PROGRESS else None,
        repository=data.repository.strip(),
        commit_sha=data.commit.strip(),
        pipeline_url=data.url.strip(),
        triggered_by=data.triggered_by.strip(),
        event=f"generic {data.outcome}",
    )
