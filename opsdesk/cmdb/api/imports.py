"""API routes of discovery imports and the stale-CI report."""

from datetime import datetime
from typing import Annotated, Any

from django.http import HttpRequest
from ninja import Field, File, Form, Router, Schema, Status, UploadedFile
from ninja.pagination import paginate

from opsdesk.cmdb import imports
from opsdesk.cmdb.choices import ImportFormat, ImportStatus
from opsdesk.cmdb.reconcile import stale_cis
from opsdesk.cmdb.selectors import cis_for_user
from opsdesk.core.api import ERROR_RESPONSES, ObjectId, Paginated
from opsdesk.core.errors import FieldError
from opsdesk.core.selectors import access_organization

router = Router(tags=["cmdb imports"])


class ReportRowOut(Schema):
    row: int | str | None
    field: str
    message: str


class PreviewRowOut(Schema):
    row: int | str | None
    name: str
    ci_class: str = Field(alias="class")
    action: str
    changed: list[str]


class ImportOut(Schema):
    id: int
    number: str
    organization_id: int
    format: str
    source: str
    filename: str
    partial: bool
    dry_run: bool
    status: ImportStatus
    total: int
    processed: int
    percent: int
    created: int
    updated: int
    unchanged: int
    failed: int
    relationships_created: int
    created_by_id: int | None
    created_at: datetime
    started_at: datetime | None
    finished_at: datetime | None


class ImportDetailOut(ImportOut):
    report: list[ReportRowOut]
    preview: list[PreviewRowOut]


class StaleCIOut(Schema):
    id: int
    name: str
    organization_id: int
    ci_class: str = Field(alias="ci_class.key")
    status: str
    last_seen: datetime | None


#: The multipart form refuses fields it does not know, as JSON bodies do.
UPLOAD_FIELDS = frozenset({"file", "organization_id", "format", "source", "partial", "dry_run"})


@router.post(
    "/imports",
    response={202: ImportOut, **ERROR_RESPONSES},
    summary="Upload a discovery file (CSV, XLSX, Azure, AWS, GCP, Kubernetes); runs in the background",
)
def create_import(  # type: ignore[no-untyped-def]
    request: HttpRequest,
    file: File[UploadedFile],
    organization_id: Form[ObjectId],
    format: Form[ImportFormat],
    source: Annotated[str, Form(max_length=100)] = "",
    partial: Form[bool] = False,
    dry_run: Form[bool] = False,
):
    unknown = sorted((set(request.POST) | set(request.FILES)) - UPLOAD_FIELDS)
    if unknown:
        raise FieldError({name: "Unknown field." for name in unknown})
    org = access_organization(request.auth, organization_id)
    if file.size is not None and file.size > imports.MAX_IMPORT_BYTES:
        raise FieldError({"file": "The file is larger than 20 MB."})
    job = imports.start_import(
        acting_user=request.auth,
        organization=org,
        format=format,
        source=source,
        filename=(file.name or "")[:255],
        payload=file.read(),
        partial=partial,
        dry_run=dry_run,
    )
    return Status(202, job)


@router.get(
    "/imports",
    response={200: list[ImportOut], **ERROR_RESPONSES},
    summary="Discovery imports, newest first",
)
@paginate(Paginated)
def list_imports(  # type: ignore[no-untyped-def]
    request: HttpRequest, organization: ObjectId | None = None, status: ImportStatus | None = None
):
    qs = imports.imports_for_user(request.auth)
    if organization is not None:
        qs = qs.filter(organization_id=organization)
    if status is not None:
        qs = qs.filter(status=status)
    return qs.order_by("-created_at", "-pk")


@router.get(
    "/imports/{import_id}",
    response={200: ImportDetailOut, **ERROR_RESPONSES},
    summary="An import's progress, counts, per-row report and preview",
)
def get_import(request: HttpRequest, import_id: ObjectId):  # type: ignore[no-untyped-def]
    return imports.access_import(request.auth, import_id)


@router.get(
    "/stale-cis",
    response={200: list[StaleCIOut], **ERROR_RESPONSES},
    summary="CIs no discovery source has seen for `days` days (or not seen by `source`)",
)
@paginate(Paginated)
def list_stale_cis(  # type: ignore[no-untyped-def]
    request: HttpRequest,
    organization: ObjectId | None = None,
    days: Annotated[int, Field(ge=0, le=36500)] = 30,
    source: Annotated[str | None, Field(max_length=100)] = None,
):
    visible: Any = cis_for_user(request.auth).values("pk")
    return stale_cis(organization, days, source).filter(pk__in=visible)
