"""Mail in, through a real SMTP listener on loopback (smtplib -> aiosmtpd -> database)."""

from __future__ import annotations

import io
import smtplib
from email.message import EmailMessage

import pytest
from django.core.management import call_command
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from opsdesk.notify import actions as notify_actions
from opsdesk.notify.choices import InboundStatus
from opsdesk.notify.inbound import receive, strip_quoted
from opsdesk.notify.listener import start_listener
from opsdesk.notify.models import InboundMail, Notification
from opsdesk.notify.tests.servers import free_port
from opsdesk.servicedesk import actions as sd
from opsdesk.servicedesk.models import Activity, Attachment, Incident, ServiceDeskSettings

DESK = "help@acme.test"


@pytest.fixture
def desk(cast):
    settings_a = ServiceDeskSettings.for_org(cast.org_a.pk)
    settings_a.email_address = "Help@Acme.test"
    settings_a.save()
    return settings_a


@pytest.fixture
def listener():
    port = free_port()
    controller = start_listener("127.0.0.1", port)
    try:
        yield port
    finally:
        controller.stop()


def mail(
    subject: str = "VPN does not connect",
    body: str = "Since this morning the VPN says 'timeout'.",
    sender: str = "Someone Else <someone@else.test>",
    to: str = DESK,
    **headers: str,
) -> EmailMessage:
    message = EmailMessage()
    message["From"] = sender
    message["To"] = to
    message["Subject"] = subject
    for name, value in headers.items():
        message[name.replace("_", "-")] = value
    message.set_content(body)
    return message


def send(
    port: int,
    message: EmailMessage | bytes,
    *,
    mail_from: str = "someone@else.test",
    to: list[str] | None = None,
) -> None:
    with smtplib.SMTP("127.0.0.1", port, timeout=10) as client:
        if isinstance(message, bytes):
            client.sendmail(mail_from, to or [DESK], message)
        else:
            client.send_message(message, from_addr=mail_from, to_addrs=to or [DESK])


def latest() -> InboundMail:
    return InboundMail.objects.latest("pk")


# --- through the listener ------------------------------------------------------------------

listener_test = pytest.mark.django_db(transaction=True)


@listener_test
def test_a_new_mail_with_an_attachment_becomes_an_incident(cast, desk, listener):
    message = mail()
    message.add_attachment(
        b"2026-11-22 08:01 vpn: timeout\n", maintype="text", subtype="plain", filename="vpn.log"
    )
    send(listener, message)
    stored = latest()
    assert stored.status == InboundStatus.PROCESSED, stored.reason
    assert bytes(stored.raw).startswith(b"From: Someone Else") or b"VPN" in bytes(stored.raw)
    assert stored.mail_from == "someone@else.test"
    assert stored.rcpt_to == [DESK]
    incident = stored.incident
    assert stored.created_incident
    assert incident.organization == cast.org_a
    assert incident.title == "VPN does not connect"
    assert incident.channel == "email"
    assert incident.requester is None and incident.requester_email == "someone@else.test"
    assert "timeout" in incident.description
    attachment = Attachment.objects.get(subject_type="incident", subject_id=incident.pk)
    assert attachment.filename == "vpn.log" and not attachment.quarantined
    assert attachment.file.read() == b"2026-11-22 08:01 vpn: timeout\n"
    # The sender is acknowledged at their address (the outbox row exists).
    assert Notification.objects.filter(
        subject_id=incident.pk, event="created", recipient_address="someone@else.test"
    ).exists()


@listener_test
def test_a_member_mailing_in_is_the_requester(cast, desk, listener):
    send(listener, mail(sender="Rita <REQUESTER@a.test>"), mail_from="requester@a.test")
    incident = latest().incident
    assert incident.requester == cast.requester
    assert incident.requester_email == ""


@listener_test
def test_a_reply_with_the_number_becomes_a_comment_without_the_quote(cast, desk, listener):
    incident = sd.create_incident(
        acting_user=cast.requester, organization=cast.org_a, title="Laptop is slow"
    )
    reply = (
        "It is still slow after the reboot.\n\n"
        "On Mon, 23 Nov 2026 at 09:00, OpsDesk <opsdesk@localhost> wrote:\n"
        "> Please reboot and tell us.\n"
    )
    send(
        listener,
        mail(
            subject=f"Re: [{incident.number}] New comment: Laptop is slow",
            body=reply,
            sender="requester@a.test",
        ),
        mail_from="requester@a.test",
    )
    stored = latest()
    assert stored.status == InboundStatus.PROCESSED, stored.reason
    assert stored.incident == incident and not stored.created_incident
    comment = Activity.objects.get(subject_id=incident.pk, kind="comment")
    assert comment.body == "It is still slow after the reboot."
    assert comment.actor == cast.requester and comment.public
    # Someone without an account replying: the comment carries their address.
    send(listener, mail(subject=f"RE: [{incident.number}]", body="Same here.\n> quoted"))
    other = Activity.objects.filter(subject_id=incident.pk, kind="comment").latest("pk")
    assert other.actor is None and other.actor_name == "someone@else.test"
    assert other.body == "Same here."
    assert Incident.objects.filter(organization=cast.org_a).count() == 1


@listener_test
def test_auto_replies_are_ignored(cast, desk, listener):
    send(listener, mail(subject="Out of office", Auto_Submitted="auto-replied"))
    assert latest().status == InboundStatus.IGNORED
    assert "Auto-Submitted" in latest().reason
    send(listener, mail(subject="Newsletter", Precedence="bulk"))
    assert "Precedence" in latest().reason
    send(listener, mail(subject="Undeliverable", sender="MAILER-DAEMON@else.test"))
    assert latest().status == InboundStatus.IGNORED
    send(listener, mail(subject="Bounce"), mail_from="")
    assert "envelope" in latest().reason
    assert not Incident.objects.exists()
    assert InboundMail.objects.count() == 4


@listener_test
def test_our_own_mail_coming_back_is_ignored(cast, desk, listener):
    send(listener, mail(subject="[INC0000001] Assigned", X_OpsDesk_Loop="acme-africa"))
    assert latest().status == InboundStatus.IGNORED and "Loop" in latest().reason
    Notification.objects.create(
        organization=cast.org_a, event="created", channel="email", message_id="<n1@desk.example>"
    )
    send(listener, mail(subject="Bounced copy", Message_ID="<n1@desk.example>"))
    assert latest().status == InboundStatus.IGNORED and "we sent" in latest().reason
    assert not Incident.objects.exists()


@listener_test
def test_malformed_mail_is_kept_for_review(cast, desk, listener):
    no_from = b"To: help@acme.test\r\nSubject: who am I\r\n\r\nNo sender at all.\r\n"
    send(listener, no_from)
    assert latest().status == InboundStatus.REVIEW and "From" in latest().reason
    assert bytes(latest().raw).replace(b"\r\n", b"\n").startswith(b"To: help@acme.test")
    send(listener, mail(to="nobody@acme.test"), to=["nobody@acme.test"])
    assert latest().status == InboundStatus.REVIEW
    assert "nobody@acme.test" in latest().reason
    garbage = b"\xff\xfe\x00\x01 not a message \x80\x81\r\n\r\n\xc3\x28"
    send(listener, garbage)
    assert latest().status == InboundStatus.REVIEW
    assert InboundMail.objects.count() == 3
    assert not Incident.objects.exists()


@listener_test
def test_a_disallowed_attachment_is_quarantined_not_dropped(cast, desk, listener):
    message = mail(subject="Please install this")
    message.add_attachment(
        b"MZ\x90\x00fake", maintype="application", subtype="x-msdownload", filename="setup.exe"
    )
    send(listener, message)
    incident = latest().incident
    attachment = Attachment.objects.get(subject_type="incident", subject_id=incident.pk)
    assert attachment.quarantined
    assert "not allowed" in attachment.quarantine_reason
    assert attachment.file.read() == b"MZ\x90\x00fake"


# --- without the listener ------------------------------------------------------------------


@pytest.mark.django_db
def test_a_duplicate_message_id_is_ignored(cast, desk):
    first = receive(mail(Message_ID="<once@else.test>").as_bytes(), rcpt_to=[DESK])
    again = receive(mail(Message_ID="<once@else.test>").as_bytes(), rcpt_to=[DESK])
    assert first.status == InboundStatus.PROCESSED
    assert again.status == InboundStatus.IGNORED and "Duplicate" in again.reason
    assert Incident.objects.count() == 1


@pytest.mark.django_db
def test_a_message_for_review_is_reprocessed_or_dismissed(cast, desk):
    lost = receive(mail(to="support@acme.test").as_bytes())
    assert lost.status == InboundStatus.REVIEW and lost.organization is None
    with pytest.raises(Exception, match="platform administrators"):
        notify_actions.reprocess_mail(acting_user=cast.admin, mail=lost)
    desk.email_address = "support@acme.test"
    desk.save()
    from opsdesk.accounts.models import User

    root = User.objects.create_superuser("root@platform.test", "pw-123456789", full_name="Root")
    done = notify_actions.reprocess_mail(acting_user=root, mail=lost)
    assert done.status == InboundStatus.PROCESSED and done.incident is not None
    review = receive(b"Subject: nothing else\r\n\r\nhello")
    assert review.status == InboundStatus.REVIEW
    dismissed = notify_actions.dismiss_mail(acting_user=root, mail=review, reason="spam")
    assert dismissed.status == InboundStatus.DISMISSED and "spam" in dismissed.reason


@pytest.mark.django_db
def test_ingest_reads_a_file_or_stdin(cast, desk, tmp_path, monkeypatch):
    path = tmp_path / "one.eml"
    path.write_bytes(mail(subject="From a file").as_bytes())
    out = io.StringIO()
    call_command("mail", "ingest", str(path), stdout=out)
    assert "processed (created INC" in out.getvalue()
    stdin = io.TextIOWrapper(io.BytesIO(mail(subject="From stdin").as_bytes()))
    monkeypatch.setattr("sys.stdin", stdin)
    out = io.StringIO()
    call_command("mail", "ingest", "-", stdout=out)
    assert "processed" in out.getvalue()
    assert set(Incident.objects.values_list("title", flat=True)) == {"From a file", "From stdin"}


def test_quoted_text_is_stripped():
    assert strip_quoted("Thanks!\n\n> old\n> older") == "Thanks!"
    assert strip_quoted("Yes.\n-----Original Message-----\nFrom: x@y.z\nhi") == "Yes."
    assert strip_quoted("Ok\n\nOn Tue, 1 Dec 2026, Desk <d@x.y> wrote:\nold") == "Ok"
    assert strip_quoted("line one\nline two") == "line one\nline two"


@pytest.mark.django_db
@settings(
    max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    raw=st.binary(max_size=2000)
    | st.text(max_size=500).map(lambda t: t.encode("utf-8", "surrogatepass"))
)
def test_any_bytes_are_stored_and_never_crash(cast, desk, raw):
    stored = receive(b"To: help@acme.test\r\n" + raw, rcpt_to=["help@acme.test"])
    assert InboundMail.objects.filter(pk=stored.pk).exists()
    assert stored.status in (InboundStatus.PROCESSED, InboundStatus.REVIEW, InboundStatus.IGNORED)
