"""CloudWatch through SNS: signatures (own RSA key and certificate), subscription
confirmation, topics, alarms, every sample payload, HTTP end to end."""

from __future__ import annotations

import base64
import json
from datetime import UTC, datetime, timedelta

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import padding, rsa
from cryptography.x509.oid import NameOID

from opsdesk.core.errors import PermissionDenied
from opsdesk.core.testing.api import assert_error
from opsdesk.events.models import InboxEntry
from opsdesk.events.sources import PayloadError, SourceRequest, sns
from opsdesk.events.sources.cloudwatch import parse
from opsdesk.events.tests.helpers import PAYLOADS, integration, payload, post

CERT_URL = "https://sns.us-west-2.amazonaws.com/SimpleNotificationService-test.pem"
TOPIC = "arn:aws:sns:us-west-2:123456789012:MyTopic"
NO_VERIFY = {"verify_signatures": False}


def make_key_and_cert(days: int = 30) -> tuple[rsa.RSAPrivateKey, bytes]:
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "sns.amazonaws.com")])
    now = datetime.now(UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - timedelta(days=10))
        .not_valid_after(now + timedelta(days=days))
        .sign(key, hashes.SHA256())
    )
    return key, cert.public_bytes(serialization.Encoding.PEM)


KEY, CERT = make_key_and_cert()
OTHER_KEY, _ = make_key_and_cert()


@pytest.fixture(autouse=True)
def fake_sns(monkeypatch):
    """No network: certificates come from our own key, confirmations are recorded."""
    fetched: list[str] = []

    def fetch(url: str) -> bytes:
        fetched.append(url)
        if url.endswith(".pem"):
            return CERT
        return b"<ConfirmSubscriptionResponse/>"

    sns.clear_cache()
    monkeypatch.setattr(sns, "fetch", fetch)
    yield fetched
    sns.clear_cache()


def signed(message: dict, version: str = "1", key=KEY) -> dict:
    """Sign as SNS does (canonical string written out here from AWS's documentation)."""
    message = {**message, "SignatureVersion": version, "SigningCertURL": CERT_URL}
    if message["Type"] == "Notification":
        names = ["Message", "MessageId", "Subject", "Timestamp", "TopicArn", "Type"]
    else:
        names = ["Message", "MessageId", "SubscribeURL", "Timestamp", "Token", "TopicArn", "Type"]
    canonical = "".join(f"{n}\n{message[n]}\n" for n in names if n in message).encode()
    digest = hashes.SHA1() if version == "1" else hashes.SHA256()
    message["Signature"] = base64.b64encode(
        key.sign(canonical, padding.PKCS1v15(), digest)
    ).decode()
    return message


def alarm(state: str = "ALARM", **changes) -> dict:
    data = {
        "AlarmName": "db-07 CPU high",
        "AlarmDescription": "CPU over 90% severity:critical",
        "AWSAccountId": "123456789012",
        "NewStateValue": state,
        "NewStateReason": "Threshold Crossed: 1 datapoint [95.0] was greater than 90.0",
        "StateChangeTime": "2026-12-07T10:00:00.000+0000",
        "Region": "US West (Oregon)",
        "AlarmArn": "arn:aws:cloudwatch:us-west-2:123456789012:alarm:db-07 CPU high",
        "OldStateValue": "OK",
        "Trigger": {
            "MetricName": "CPUUtilization",
            "Namespace": "AWS/EC2",
            "Dimensions": [{"value": "i-0abc", "name": "InstanceId"}],
        },
    }
    data.update(changes)
    return data


def notification(message: dict | str, subject: str | None = "ALARM: db-07") -> dict:
    out = {
        "Type": "Notification",
        "MessageId": "22b80b92-fdea-4c2c-8f9d-bdfb0c7bf324",
        "TopicArn": TOPIC,
        "Message": message if isinstance(message, str) else json.dumps(message),
        "Timestamp": "2026-12-07T10:00:01.000Z",
    }
    if subject is not None:
        out["Subject"] = subject
    return out


def run(body: bytes | dict, options: dict | None = None, kind: str | None = None):
    raw = body if isinstance(body, bytes) else json.dumps(body).encode()
    if kind is None and isinstance(body, dict):
        kind = body.get("Type")
    headers = {"x-amz-sns-message-type": kind} if kind else {}
    return parse(SourceRequest(body=raw, headers=headers, options=options or {}))


# --- signatures --------------------------------------------------------------------------


@pytest.mark.parametrize("version", ["1", "2"])
def test_signed_alarm_is_accepted(version, fake_sns):
    parsed = run(signed(notification(alarm()), version))
    (event,) = parsed.events
    assert (event.status, event.severity, event.title) == ("firing", "critical", "db-07 CPU high")
    assert event.resource == {
        "cloud.provider": "aws",
        "cloud.region": "us-west-2",
        "cloud.account.id": "123456789012",
        "cloud.platform": "aws_ec2",
        "host.id": "i-0abc",
        "cloud.resource_id": "arn:aws:ec2:us-west-2:123456789012:instance/i-0abc",
    }
    assert fake_sns == [CERT_URL]
    run(signed(notification(alarm()), version))
    assert fake_sns == [CERT_URL]  # the certificate is cached


def test_notification_without_subject_is_signed_without_it():
    (event,) = run(signed(notification(alarm(), subject=None))).events
    assert event.title == "db-07 CPU high"


@pytest.mark.parametrize(
    ("tamper", "message"),
    [
        (lambda m: {**m, "Message": m["Message"].replace("ALARM", "OK")}, "Signature: does not"),
        (lambda m: {**m, "Subject": "changed"}, "Signature: does not"),
        (lambda m: {**m, "Signature": "!!!"}, "Signature: not base64"),
        (lambda m: {**m, "SignatureVersion": "3"}, "SignatureVersion: must be 1 or 2"),
        (
            lambda m: {**m, "SigningCertURL": "https://evil.example.com/cert.pem"},
            "SigningCertURL: must be an https URL on sns.",
        ),
        (
            lambda m: {**m, "SigningCertURL": "http://sns.us-west-2.amazonaws.com/c.pem"},
            "SigningCertURL: must be an https URL",
        ),
        (
            lambda m: {**m, "SigningCertURL": "https://sns.us-west-2.amazonaws.com.evil.io/c.pem"},
            "SigningCertURL: must be an https URL",
        ),
    ],
)
def test_wrong_signatures_are_refused(tamper, message):
    with pytest.raises(PermissionDenied) as info:
        run(tamper(signed(notification(alarm()))))
    assert info.value.detail.startswith(message)


def test_a_signature_by_another_key_is_refused():
    with pytest.raises(PermissionDenied, match="Signature: does not match"):
        run(signed(notification(alarm()), key=OTHER_KEY))


def test_an_expired_certificate_is_refused(monkeypatch):
    _, old = make_key_and_cert(days=-2)
    monkeypatch.setattr(sns, "fetch", lambda url: old)
    with pytest.raises(PermissionDenied, match="not valid now"):
        run(signed(notification(alarm())))


def test_an_unreachable_certificate_is_refused(monkeypatch):
    def down(url):
        raise OSError("no route")

    monkeypatch.setattr(sns, "fetch", down)
    with pytest.raises(PermissionDenied, match="could not load the signing certificate"):
        run(signed(notification(alarm())))


# --- protocol messages -------------------------------------------------------------------


def confirmation(kind: str = "SubscriptionConfirmation", url: str | None = None) -> dict:
    data = json.loads(payload("cloudwatch-sns/sns-http-subscription-confirmation.json"))
    data["Type"] = kind
    if url:
        data["SubscribeURL"] = url
    return data


def test_subscription_confirmation_visits_subscribe_url(fake_sns):
    parsed = run(signed(confirmation()))
    assert parsed.events == []
    assert parsed.reply == f"subscription confirmed for {TOPIC}"
    assert fake_sns == [CERT_URL, confirmation()["SubscribeURL"]]


def test_subscription_confirmation_only_to_sns_hosts(fake_sns):
    with pytest.raises(PayloadError, match=r"^SubscribeURL: must be an https URL on sns"):
        run(signed(confirmation(url="https://example.com/?Action=ConfirmSubscription")))
    assert fake_sns == [CERT_URL]  # the certificate, never the foreign URL


def test_confirmation_failure_is_a_400(monkeypatch):
    def fetch(url):
        if url.endswith(".pem"):
            return CERT
        raise OSError("timeout")

    monkeypatch.setattr(sns, "fetch", fetch)
    with pytest.raises(PayloadError, match=r"^SubscribeURL: the confirmation failed"):
        run(signed(confirmation()))


def test_unsubscribe_confirmation_is_acknowledged(fake_sns):
    parsed = run(signed(confirmation("UnsubscribeConfirmation")))
    assert (parsed.events, parsed.reply) == ([], f"unsubscribe confirmation for {TOPIC} noted")
    assert fake_sns == [CERT_URL]


def test_topic_arns_restrict_the_topic():
    message = signed(notification(alarm()))
    assert run(message, {"topic_arns": [TOPIC]}).events
    with pytest.raises(PermissionDenied, match=r"^TopicArn: .* is not accepted"):
        run(message, {"topic_arns": ["arn:aws:sns:us-west-2:123456789012:Other"]})


def test_header_and_type_must_agree():
    with pytest.raises(PayloadError, match=r"^Type: 'Notification' but the x-amz-sns-message-type"):
        run(signed(notification(alarm())), kind="SubscriptionConfirmation")


# --- alarms ------------------------------------------------------------------------------


def test_alarm_states():
    (ok,) = run(notification(alarm("OK")), NO_VERIFY).events
    assert ok.status == "resolved" and ok.ends_at == datetime(2026, 12, 7, 10, tzinfo=UTC)
    (firing,) = run(notification(alarm("ALARM")), NO_VERIFY).events
    assert firing.fingerprint == ok.fingerprint and firing.fingerprint.startswith("cloudwatch:")
    (unknown,) = run(notification(alarm("INSUFFICIENT_DATA")), NO_VERIFY).events
    assert (unknown.status, unknown.severity) == ("firing", "warning")
    options = {**NO_VERIFY, "insufficient_data": "ignore"}
    assert run(notification(alarm("INSUFFICIENT_DATA")), options).events == []


def test_alarm_severity_default_and_option():
    plain = alarm(AlarmDescription="CPU over 90%")
    assert run(notification(plain), NO_VERIFY).events[0].severity == "major"
    options = {**NO_VERIFY, "alarm_severity": "minor"}
    assert run(notification(plain), options).events[0].severity == "minor"
    low = alarm(AlarmDescription="disk, severity=low")
    assert run(notification(low), NO_VERIFY).events[0].severity == "warning"


# --- the sample payloads -----------------------------------------------------------------

SAMPLES = {
    "cloudwatch-alarm-sns-payload-multiple-metrics.json",
    "cloudwatch-alarm-sns-payload-single-metric.json",
    "cloudwatch-logs-event.json",
    "ses-sns-event.json",
    "sns-event.json",
    "sns-http-notification.json",
    "sns-http-subscription-confirmation.json",
    "sns-http-unsubscribe-confirmation.json",
}


def test_every_sample_file_is_covered():
    assert {p.name for p in (PAYLOADS / "cloudwatch-sns").iterdir()} == SAMPLES


@pytest.mark.parametrize(
    "name", sorted(SAMPLES - {"cloudwatch-logs-event.json", "ses-sns-event.json"})
)
def test_real_samples_fail_verification(name):
    # Their signatures are examples ("EXAMPLE..."): with verification on they are refused.
    with pytest.raises(PermissionDenied):
        run(payload(f"cloudwatch-sns/{name}"), kind="")


def test_single_metric_alarm_sample():
    (event,) = run(
        payload("cloudwatch-sns/cloudwatch-alarm-sns-payload-single-metric.json"), NO_VERIFY
    ).events
    assert (event.status, event.severity, event.title) == ("firing", "major", "EXAMPLE")
    assert event.resource == {
        "cloud.provider": "aws",
        "cloud.account.id": "123456789012",
        "cloud.platform": "aws_ec2",
        "host.id": "TestInstance",
    }
    assert event.labels["metric_name"] == "NetworkOut"
    assert event.labels["dimension.InstanceId"] == "TestInstance"
    assert event.starts_at == datetime(2015, 6, 3, 17, 43, 27, 123000, tzinfo=UTC)
    assert event.external_id == "arn:aws:cloudwatch:REGION:ACCOUNT_NUMBER:alarm:EXAMPLE"
    assert "Threshold Crossed" in event.description


def test_multiple_metrics_alarm_sample():
    (event,) = run(
        payload("cloudwatch-sns/cloudwatch-alarm-sns-payload-multiple-metrics.json"), NO_VERIFY
    ).events
    assert (event.status, event.title) == ("firing", "EXAMPLE")
    assert event.resource["host.id"] == "TestInstance"
    assert "cloud.account.id" not in event.resource  # "EXAMPLE" is not an account id
    assert event.labels["expression"] == "m1*1"
    assert event.labels["metric_name"] == "NetworkOut"


def test_plain_notifications_become_info_events():
    (lambda_style,) = run(payload("cloudwatch-sns/sns-event.json"), NO_VERIFY).events
    assert (lambda_style.status, lambda_style.severity) == ("firing", "info")
    assert (lambda_style.title, lambda_style.description) == ("TestInvoke", "Hello from SNS!")
    (http,) = run(payload("cloudwatch-sns/sns-http-notification.json"), NO_VERIFY).events
    assert (http.severity, http.title, http.description) == (
        "info",
        "My First Message",
        "Hello world!",
    )
    assert http.resource == {
        "cloud.provider": "aws",
        "cloud.region": "us-west-2",
        "cloud.account.id": "123456789012",
    }
    assert http.external_id == "22b80b92-fdea-4c2c-8f9d-bdfb0c7bf324"


def test_confirmation_samples_without_verification(fake_sns):
    parsed = run(payload("cloudwatch-sns/sns-http-subscription-confirmation.json"), NO_VERIFY)
    assert (parsed.events, parsed.reply) == ([], f"subscription confirmed for {TOPIC}")
    assert fake_sns[-1].startswith(
        "https://sns.us-west-2.amazonaws.com/?Action=ConfirmSubscription"
    )
    parsed = run(payload("cloudwatch-sns/sns-http-unsubscribe-confirmation.json"), NO_VERIFY)
    assert parsed.events == [] and "unsubscribe" in parsed.reply


def test_non_sns_samples_are_refused_naming_the_field():
    with pytest.raises(PayloadError, match=r"^Type: is required; .*CloudWatch Logs"):
        run(payload("cloudwatch-sns/cloudwatch-logs-event.json"), NO_VERIFY)
    with pytest.raises(PayloadError, match=r"^Records\[0\]\.Sns: is required; .*aws:ses"):
        run(payload("cloudwatch-sns/ses-sns-event.json"), NO_VERIFY)


def test_eventbridge_event_through_sns():
    event_json = json.loads(
        payload("cloudevents/primer-proprietary-formats/aws-cloudwatch-events.json")
    )
    (event,) = run(notification(event_json, subject=None), NO_VERIFY).events
    assert (event.severity, event.title) == ("info", "EC2 Instance State-change Notification")
    assert event.resource["cloud.region"] == "us-west-1"
    assert event.resource["cloud.account.id"] == "111122223333"
    assert event.resource["cloud.resource_id"].endswith("instance/i-1234567890abcdef0")


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"Type": "Nope", "TopicArn": TOPIC}, "Type: one of"),
        ({"Type": "Notification"}, "TopicArn: is required"),
        (notification(alarm(NewStateValue="BROKEN")), "Message.NewStateValue: one of ALARM"),
        (notification(alarm(Trigger=[])), "Message.Trigger: must be an object"),
        (
            notification(alarm(Trigger={"Dimensions": [{"name": {}}]})),
            "Message.Trigger.Dimensions[0].name: must be a string",
        ),
        (notification(alarm(StateChangeTime="now")), "Message.StateChangeTime:"),
        ({"Records": [{"Sns": []}]}, "Records[0].Sns: must be an object"),
    ],
)
def test_errors_name_the_field(body, field):
    with pytest.raises(PayloadError) as info:
        run(body, NO_VERIFY, kind="")
    assert str(info.value).startswith(field)


# --- HTTP --------------------------------------------------------------------------------


@pytest.mark.django_db
def test_http_end_to_end(cast, api_client, fake_sns):
    _, token, _ = integration(cast.org_a, source="cloudwatch")
    body = json.dumps(signed(notification(alarm()))).encode()
    resp = post(api_client, "cloudwatch", body, token, HTTP_X_AMZ_SNS_MESSAGE_TYPE="Notification")
    assert resp.status_code == 202, resp.content
    data = resp.json()
    assert (data["accepted"], data["firing"], data["resolved"]) == (1, 1, 0)
    stored = InboxEntry.objects.get(pk=data["inbox_id"]).events[0]
    assert stored["resource"]["host.id"] == "i-0abc"
    # SNS posts with text/plain and the token in the URL.
    resp = api_client.post(
        f"/api/v1/events/cloudwatch?token={token}",
        data=json.dumps(signed(confirmation())).encode(),
        content_type="text/plain; charset=UTF-8",
        HTTP_X_AMZ_SNS_MESSAGE_TYPE="SubscriptionConfirmation",
    )
    assert resp.status_code == 202, resp.content
    assert resp.json()["accepted"] == 0
    assert "subscription confirmed" in json.dumps(resp.json())
    forged = {**signed(notification(alarm())), "Message": json.dumps(alarm("OK"))}
    assert_error(post(api_client, "cloudwatch", forged, token), 403)
    assert InboxEntry.objects.count() == 1


@pytest.mark.django_db
def test_http_real_sample_with_verification_off(cast, api_client):
    _, token, _ = integration(cast.org_a, source="cloudwatch", options=NO_VERIFY)
    resp = post(
        api_client,
        "cloudwatch",
        payload("cloudwatch-sns/cloudwatch-alarm-sns-payload-single-metric.json"),
        token,
    )
    assert resp.status_code == 202, resp.content
    assert (resp.json()["accepted"], resp.json()["firing"]) == (1, 1)
    assert_error(
        post(api_client, "cloudwatch", payload("cloudwatch-sns/ses-sns-event.json"), token),
        400,
        "Records[0].Sns",
    )
