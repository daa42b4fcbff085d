"""Amazon CloudWatch alarms through an SNS HTTP(S) subscription.

Point the SNS subscription at ``https://<opsdesk>/api/v1/events/cloudwatch?token=<token>``.
The ``x-amz-sns-message-type`` header (or the body's ``Type``) says what came:

- ``SubscriptionConfirmation``: the signature is verified, then SubscribeURL (only
  ``https://sns.<region>.amazonaws.com/``) is visited; no events, reply "subscription confirmed".
- ``UnsubscribeConfirmation``: verified and acknowledged; nothing else is done.
- ``Notification``: verified; the ``Message`` is a CloudWatch alarm state change:
  ALARM → firing, OK → resolved, INSUFFICIENT_DATA → firing ``warning`` (integration option
  ``"insufficient_data": "ignore"`` drops it). An alarm's severity is ``major`` unless its
  description says ``severity:<word>`` (critical, major, minor, warning, info, high, low ...)
  or the integration option ``"alarm_severity"`` names another default.
  Any other message (an EventBridge event, a plain text notification) becomes one ``info``
  event titled by its Subject (or detail-type, or first line).

Bodies that are not SNS messages (CloudWatch Logs subscription data, SES receipt records) are
refused with 400. Lambda-style ``{"Records": [{"Sns": {...}}]}`` envelopes are accepted too.

Options: ``verify_signatures`` (default true; ``false`` is for tests only), ``topic_arns``
(a list; when set, other topics are refused with 403), ``insufficient_data``,
``alarm_severity``.
"""

from __future__ import annotations

import json
import re
from typing import Any

from opsdesk.core.errors import PermissionDenied
from opsdesk.events.choices import EventStatus, Severity, Source
from opsdesk.events.normal import NormalisedEvent
from opsdesk.events.sources import Parsed, PayloadError, SourceRequest, adapter, sns
from opsdesk.events.sources.common import (
    LABEL_SEVERITY,
    array,
    first_text,
    header,
    load_json,
    obj,
    optional_array,
    optional_obj,
    severity_of,
    source_key,
    text,
    timestamp,
)

KINDS = ("Notification", "SubscriptionConfirmation", "UnsubscribeConfirmation")
STATES = {"ALARM": EventStatus.FIRING, "OK": EventStatus.RESOLVED, "INSUFFICIENT_DATA": ""}
REGION = re.compile(r"^[a-z]{2}(-[a-z]+)+-\d$")
ACCOUNT = re.compile(r"^\d{12}$")
SEVERITY_TOKEN = re.compile(r"\bseverity\s*[:=]\s*([A-Za-z0-9]+)", re.IGNORECASE)
#: CloudWatch alarm messages name the region in words.
REGION_NAMES = {
    "us east (n. virginia)": "us-east-1",
    "us east (ohio)": "us-east-2",
    "us west (n. california)": "us-west-1",
    "us west (oregon)": "us-west-2",
    "canada (central)": "ca-central-1",
    "eu (ireland)": "eu-west-1",
    "europe (ireland)": "eu-west-1",
    "eu (london)": "eu-west-2",
    "europe (london)": "eu-west-2",
    "eu (paris)": "eu-west-3",
    "europe (paris)": "eu-west-3",
    "eu (frankfurt)": "eu-central-1",
    "europe (frankfurt)": "eu-central-1",
    "eu (stockholm)": "eu-north-1",
    "europe (stockholm)": "eu-north-1",
    "europe (milan)": "eu-south-1",
    "asia pacific (tokyo)": "ap-northeast-1",
    "asia pacific (seoul)": "ap-northeast-2",
    "asia pacific (osaka)": "ap-northeast-3",
    "asia pacific (singapore)": "ap-southeast-1",
    "asia pacific (sydney)": "ap-southeast-2",
    "asia pacific (mumbai)": "ap-south-1",
    "asia pacific (hong kong)": "ap-east-1",
    "south america (sao paulo)": "sa-east-1",
    "south america (são paulo)": "sa-east-1",
    "middle east (bahrain)": "me-south-1",
    "africa (cape town)": "af-south-1",
}
PLATFORMS = {
    "AWS/EC2": "aws_ec2",
    "AWS/Lambda": "aws_lambda",
    "AWS/ECS": "aws_ecs",
    "ECS/ContainerInsights": "aws_ecs",
    "ContainerInsights": "aws_eks",
    "AWS/EKS": "aws_eks",
    "AWS/ElasticBeanstalk": "aws_elastic_beanstalk",
    "AWS/AppRunner": "aws_app_runner",
}


def arn_parts(arn: str) -> tuple[str, str]:
    """(region, account) of an ARN when they look real."""
    parts = arn.split(":")
    if len(parts) < 6 or parts[0] != "arn":
        return "", ""
    region = parts[3] if REGION.match(parts[3]) else ""
    account = parts[4] if ACCOUNT.match(parts[4]) else ""
    return region, account


def dimensions_of(value: Any, where: str) -> dict[str, str]:
    out: dict[str, str] = {}
    for i, dim in enumerate(optional_array(value, where)):
        d = obj(dim, f"{where}[{i}]")
        name = text(d.get("name", d.get("Name")), f"{where}[{i}].name")
        val = text(d.get("value", d.get("Value")), f"{where}[{i}].value")
        if name:
            out[name] = val
    return out


def alarm_resource(
    namespace: str, dims: dict[str, str], region: str, account: str
) -> dict[str, str]:
    resource = {"cloud.provider": "aws"}
    if region:
        resource["cloud.region"] = region
    if account:
        resource["cloud.account.id"] = account
    if namespace in PLATFORMS:
        resource["cloud.platform"] = PLATFORMS[namespace]
    located = bool(region and account)
    if dims.get("InstanceId"):
        resource["host.id"] = dims["InstanceId"]
        if located:
            resource["cloud.resource_id"] = (
                f"arn:aws:ec2:{region}:{account}:instance/{dims['InstanceId']}"
            )
    if dims.get("FunctionName"):
        resource["faas.name"] = dims["FunctionName"]
        if located:
            resource["cloud.resource_id"] = (
                f"arn:aws:lambda:{region}:{account}:function:{dims['FunctionName']}"
            )
    if dims.get("DBInstanceIdentifier") and located:
        resource["cloud.resource_id"] = (
            f"arn:aws:rds:{region}:{account}:db:{dims['DBInstanceIdentifier']}"
        )
    if dims.get("ClusterName") and namespace in ("ContainerInsights", "AWS/EKS"):
        resource["k8s.cluster.name"] = dims["ClusterName"]
    if dims.get("Namespace") and namespace == "ContainerInsights":
        resource["k8s.namespace.name"] = dims["Namespace"]
    if dims.get("PodName"):
        resource["k8s.pod.name"] = dims["PodName"]
    if dims.get("ServiceName"):
        resource["service.name"] = dims["ServiceName"]
    return resource


def alarm_event(
    alarm: dict[str, Any], where: str, options: Any, topic: str
) -> NormalisedEvent | None:
    name = text(alarm.get("AlarmName"), f"{where}.AlarmName", required=True)
    state = text(alarm.get("NewStateValue"), f"{where}.NewStateValue", required=True)
    if state not in STATES:
        raise PayloadError(f"{where}.NewStateValue: one of ALARM, OK, INSUFFICIENT_DATA.")
    arn = text(alarm.get("AlarmArn"), f"{where}.AlarmArn")
    region, account = arn_parts(arn)
    named_region = text(alarm.get("Region"), f"{where}.Region").strip()
    if not region:
        region = (
            named_region
            if REGION.match(named_region)
            else REGION_NAMES.get(named_region.lower(), "")
        )
    raw_account = text(alarm.get("AWSAccountId"), f"{where}.AWSAccountId")
    account = raw_account if ACCOUNT.match(raw_account) else account
    description = text(alarm.get("AlarmDescription"), f"{where}.AlarmDescription")
    default = (
        options.get("alarm_severity")
        if options.get("alarm_severity") in Severity.values
        else Severity.MAJOR
    )
    token = SEVERITY_TOKEN.search(description or "")
    severity = severity_of(token.group(1), LABEL_SEVERITY, default) if token else default
    status = STATES[state]
    if not status:  # INSUFFICIENT_DATA
        if options.get("insufficient_data") == "ignore":
            return None
        status, severity = EventStatus.FIRING, Severity.WARNING
    trigger = optional_obj(alarm.get("Trigger"), f"{where}.Trigger")
    namespace = text(trigger.get("Namespace"), f"{where}.Trigger.Namespace")
    metric = text(trigger.get("MetricName"), f"{where}.Trigger.MetricName")
    dims = dimensions_of(trigger.get("Dimensions"), f"{where}.Trigger.Dimensions")
    expressions = []
    for i, m in enumerate(optional_array(trigger.get("Metrics"), f"{where}.Trigger.Metrics")):
        m = obj(m, f"{where}.Trigger.Metrics[{i}]")
        if m.get("Expression") is not None:
            expressions.append(
                text(m.get("Expression"), f"{where}.Trigger.Metrics[{i}].Expression")
            )
        stat = optional_obj(m.get("MetricStat"), f"{where}.Trigger.Metrics[{i}].MetricStat")
        inner = optional_obj(stat.get("Metric"), f"{where}.Trigger.Metrics[{i}].MetricStat.Metric")
        if inner:
            metric = metric or text(
                inner.get("MetricName"),
                f"{where}.Trigger.Metrics[{i}].MetricStat.Metric.MetricName",
            )
            namespace = namespace or text(
                inner.get("Namespace"), f"{where}.Trigger.Metrics[{i}].MetricStat.Metric.Namespace"
            )
            for k, v in dimensions_of(
                inner.get("Dimensions"),
                f"{where}.Trigger.Metrics[{i}].MetricStat.Metric.Dimensions",
            ).items():
                dims.setdefault(k, v)
    when = timestamp(alarm.get("StateChangeTime"), f"{where}.StateChangeTime")
    labels = {
        "alarm_name": name,
        "new_state": state,
        "old_state": text(alarm.get("OldStateValue"), f"{where}.OldStateValue"),
        "namespace": namespace,
        "metric_name": metric,
        "expression": ", ".join(expressions),
        "sns.topic_arn": topic,
        **{f"dimension.{k}": v for k, v in dims.items()},
    }
    reason = text(alarm.get("NewStateReason"), f"{where}.NewStateReason")
    return NormalisedEvent(
        source=Source.CLOUDWATCH,
        status=status,
        severity=severity,
        title=name,
        description="\n".join(p for p in (reason, description) if p),
        external_id=arn or name,
        # The alarm is CloudWatch's own identity from ALARM to OK.
        fingerprint=source_key("cloudwatch", arn or f"{account}:{region}:{name}"),
        resource=alarm_resource(namespace, dims, region, account),
        labels={k: v for k, v in labels.items() if v},
        starts_at=when if status == EventStatus.FIRING else None,
        ends_at=when if status == EventStatus.RESOLVED else None,
    )


def other_event(
    message: str, data: Any, subject: str, topic: str, message_id: str
) -> NormalisedEvent:
    """A notification that is not an alarm: one info event."""
    region, account = arn_parts(topic)
    resource = {"cloud.provider": "aws", "cloud.region": region, "cloud.account.id": account}
    labels = {"sns.topic_arn": topic, "sns.message_id": message_id}
    title = subject
    if isinstance(data, dict) and isinstance(data.get("detail-type"), str):  # EventBridge
        title = first_text(data.get("detail-type"), subject)
        labels["event_source"] = first_text(data.get("source"))
        if isinstance(data.get("region"), str) and REGION.match(data["region"]):
            resource["cloud.region"] = data["region"]
        if isinstance(data.get("account"), str) and ACCOUNT.match(data["account"]):
            resource["cloud.account.id"] = data["account"]
        resources = data.get("resources")
        if isinstance(resources, list) and resources and isinstance(resources[0], str):
            resource["cloud.resource_id"] = resources[0]
    first_line = message.strip().splitlines()[0] if message.strip() else ""
    return NormalisedEvent(
        source=Source.CLOUDWATCH,
        status=EventStatus.FIRING,
        severity=Severity.INFO,
        title=first_text(title, first_line[:200], "SNS notification"),
        description=message,
        external_id=message_id,
        resource=resource,
        labels={k: v for k, v in labels.items() if v},
    )


def topics_allowed(options: Any) -> list[str]:
    value = options.get("topic_arns")
    if not value:
        return []
    if isinstance(value, str):
        return [value]
    return [v for v in value if isinstance(v, str)] if isinstance(value, list) else []


def handle(message: dict[str, Any], where: str, request: SourceRequest) -> Parsed:
    prefix = f"{where}." if where else ""
    kind = text(message.get("Type"), f"{prefix}Type", required=True)
    if kind not in KINDS:
        raise PayloadError(f"{prefix}Type: one of {', '.join(KINDS)} (not {kind!r}).")
    said = header(request.headers, "x-amz-sns-message-type")
    if said and said != kind:
        raise PayloadError(
            f"{prefix}Type: {kind!r} but the x-amz-sns-message-type header says {said!r}."
        )
    topic = text(message.get("TopicArn"), f"{prefix}TopicArn", required=True)
    allowed = topics_allowed(request.options)
    if allowed and topic not in allowed:
        raise PermissionDenied(f"{prefix}TopicArn: {topic} is not accepted by this integration.")
    if request.options.get("verify_signatures", True) is not False:
        sns.verify(message, where)
    if kind == "SubscriptionConfirmation":
        sns.confirm(sns.sns_url(message.get("SubscribeURL"), f"{prefix}SubscribeURL"))
        return Parsed([], reply=f"subscription confirmed for {topic}")
    if kind == "UnsubscribeConfirmation":
        return Parsed([], reply=f"unsubscribe confirmation for {topic} noted")
    body = text(message.get("Message"), f"{prefix}Message", required=True)
    subject = text(message.get("Subject"), f"{prefix}Subject").strip()
    message_id = text(message.get("MessageId"), f"{prefix}MessageId")
    data: Any = None
    if body.lstrip().startswith("{"):
        try:
            data = json.loads(body)
        except ValueError:
            data = None
    if isinstance(data, dict) and "AlarmName" in data and "NewStateValue" in data:
        event = alarm_event(data, f"{prefix}Message", request.options, topic)
        return Parsed([event] if event else [])
    return Parsed([other_event(body, data, subject, topic, message_id)])


@adapter(Source.CLOUDWATCH)
def parse(request: SourceRequest) -> Parsed:
    data = obj(load_json(request.body), "body")
    if "Records" in data:
        events: list[NormalisedEvent] = []
        replies = []
        for i, record in enumerate(array(data["Records"], "Records")):
            rec = obj(record, f"Records[{i}]")
            if "Sns" not in rec:
                source = text(
                    rec.get("eventSource", rec.get("EventSource")), f"Records[{i}].eventSource"
                )
                raise PayloadError(
                    f"Records[{i}].Sns: is required; only SNS records are understood"
                    + (f" (this is a {source} record)." if source else ".")
                )
            parsed = handle(obj(rec["Sns"], f"Records[{i}].Sns"), f"Records[{i}].Sns", request)
            events.extend(parsed.events)
            if parsed.reply:
                replies.append(parsed.reply)
        return Parsed(events, reply="; ".join(replies))
    if "Type" not in data:
        hint = " (this is CloudWatch Logs subscription data)" if "awslogs" in data else ""
        raise PayloadError(f"Type: is required; the body is not an Amazon SNS message{hint}.")
    return handle(data, "", request)
