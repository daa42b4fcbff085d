"""Mail in: every message is stored first, then becomes an incident or a comment.

`receive()` writes the raw bytes to `InboundMail` before reading anything else, so nothing
is lost whatever the message looks like. `process()` then decides, in this order:

1. undecodable, no From address, or no service-desk address among the recipients
   -> status ``review`` (a person looks at it; it can be reprocessed or dismissed);
2. our own mail coming back (``X-OpsDesk-Loop``, a Message-ID we sent, or sent from a
   service-desk address) -> ``ignored`` (loop);
3. an automatic message (``Auto-Submitted`` other than ``no``, ``X-Autoreply``,
   ``X-Autorespond``, ``Precedence: bulk|junk|list|auto_reply``, an empty Return-Path or
   envelope sender, MAILER-DAEMON / postmaster senders) -> ``ignored`` (auto-reply);
4. a Message-ID already processed -> ``ignored`` (duplicate);
5. a subject holding a ticket number of that organisation ("Re: [INC0000042] ...") or a
   reference to our thread id -> a public comment on it (quoted text stripped), from the
   sender if they are a member, else with the sender's address as the author;
6. otherwise a new incident (channel email), requested by the member with that address,
   or by the address itself.

Attachments go through `add_attachment(keep_for_review=True)`: a refused type or size is
quarantined, not dropped. Any unexpected error leaves the message in ``review`` with the
error, never a crash of the listener.
"""

from __future__ import annotations

import email
import email.header
import logging
import re
from email import policy
from email.message import EmailMessage, Message
from email.utils import getaddresses, parseaddr
from html.parser import HTMLParser
from typing import Any

from django.db import transaction
from django.utils import timezone

from opsdesk.accounts.models import Membership, User
from opsdesk.core.context import acting_as
from opsdesk.core.errors import PermissionDenied
from opsdesk.core.models import Organization
from opsdesk.core.permissions import Role
from opsdesk.notify.choices import InboundStatus
from opsdesk.notify.models import InboundMail, Notification
from opsdesk.servicedesk.choices import Channel
from opsdesk.servicedesk.models import Incident, ServiceDeskSettings

logger = logging.getLogger(__name__)

NUMBER_RE = re.compile(r"\b(INC\d{7})\b")
THREAD_RE = re.compile(r"<incident-(\d+)\.([a-z0-9-]+)@")
AUTO_PRECEDENCE = frozenset({"bulk", "junk", "list", "auto_reply"})
ROBOT_EMAIL = "mail-robot@opsdesk.invalid"


class Review(Exception):
    """The message needs a person: kept with status review and this reason."""


class Ignore(Exception):
    """The message is deliberately not acted upon: status ignored and this reason."""


# --- receiving -----------------------------------------------------------------------------


def _header(raw: bytes, name: str) -> str:
    """A header read leniently from raw bytes (for the columns stored before parsing)."""
    try:
        msg = email.message_from_bytes(raw[:65536], policy=policy.compat32)
        value = msg.get(name)
        if value is None:
            return ""
        decoded = email.header.make_header(email.header.decode_header(str(value)))
        return " ".join(str(decoded).split())
    except Exception:
        return ""


def receive(raw: bytes, *, mail_from: str = "", rcpt_to: list[str] | None = None) -> InboundMail:
    """Store one message (always), then process it. Returns the stored row."""
    if isinstance(raw, str):
        raw = raw.encode("utf-8", "surrogateescape")
    sender = parseaddr(_header(raw, "From"))[1]
    mail = InboundMail.objects.create(
        raw=raw,
        received_at=timezone.now(),
        mail_from=(mail_from or "")[:320],
        rcpt_to=[str(r)[:320] for r in (rcpt_to or [])][:50],
        sender=_clean(sender)[:320],
        message_id=_clean(_header(raw, "Message-ID"))[:300],
        subject=_clean(_header(raw, "Subject"))[:400],
    )
    return process(mail.pk)


def _clean(text: str) -> str:
    """Without NUL and other control characters a database may refuse."""
    return "".join(ch for ch in text if ch >= " " or ch == "\t").strip()


def process(mail_id: int, *, force: bool = False) -> InboundMail:
    """Process a stored message; the outcome is written on the row, nothing is raised.

    ``force`` skips the automatic-reply, loop and duplicate checks (a person decided)."""
    mail = InboundMail.objects.get(pk=mail_id)
    mail.error = ""
    mail.reason = ""
    try:
        with transaction.atomic():
            _process(mail, force=force)
        mail.status = InboundStatus.PROCESSED
    except Review as why:
        mail.status = InboundStatus.REVIEW
        mail.reason = str(why)[:300]
    except Ignore as why:
        mail.status = InboundStatus.IGNORED
        mail.reason = str(why)[:300]
    except Exception as exc:  # kept for a person, never a crash of the listener
        logger.exception("inbound mail %s could not be processed", mail.pk)
        mail.status = InboundStatus.REVIEW
        mail.reason = "Could not be processed."
        mail.error = f"{type(exc).__name__}: {exc}"[:5000]
        mail.incident = None
        mail.created_incident = False
    mail.processed_at = timezone.now()
    mail.save()
    return mail


def _parse(raw: bytes) -> EmailMessage:
    try:
        msg = email.message_from_bytes(bytes(raw), policy=policy.default)
        # Touch the parts most likely to be broken, so a bad message fails here.
        _ = msg.get("From"), msg.get("Subject"), msg.get("To")
    except Exception as exc:
        raise Review(f"The message could not be decoded ({type(exc).__name__}).") from exc
    if not isinstance(msg, EmailMessage) or (not msg.keys() and not msg.get_payload()):
        raise Review("The message could not be decoded: no headers.")
    return msg


def _addresses(msg: Message, *names: str) -> list[str]:
    values: list[str] = []
    for name in names:
        try:
            values += [str(v) for v in msg.get_all(name, [])]
        except Exception:  # a malformed header: the others still count
            logger.info("unreadable %s header", name)
    return [addr.strip().lower() for _, addr in getaddresses(values) if "@" in addr]


def _organization(mail: InboundMail, msg: Message) -> tuple[Organization, ServiceDeskSettings]:
    candidates = [r.strip().strip("<>").lower() for r in mail.rcpt_to or []]
    candidates += _addresses(msg, "To", "Cc", "Delivered-To", "X-Original-To")
    for address in candidates:
        desk = (
            ServiceDeskSettings.objects.select_related("organization")
            .filter(email_address__iexact=address, organization__is_active=True)
            .first()
        )
        if address and desk is not None:
            return desk.organization, desk
    shown = ", ".join(dict.fromkeys(candidates)) or "none"
    raise Review(f"No organisation has the service-desk address this was sent to ({shown}).")


def _check_loop(msg: Message, sender: str) -> None:
    if msg.get("X-OpsDesk-Loop"):
        raise Ignore(
            f"Loop: our own notification came back (X-OpsDesk-Loop: {msg['X-OpsDesk-Loop']})."
        )
    message_id = str(msg.get("Message-ID") or "").strip()
    if message_id and Notification.objects.filter(message_id=message_id).exists():
        raise Ignore("Loop: a message we sent came back.")
    if ServiceDeskSettings.objects.filter(email_address__iexact=sender).exists():
        raise Ignore(f"Loop: sent from a service-desk address ({sender}).")


def _check_automatic(mail: InboundMail, msg: Message, sender: str) -> None:
    auto = str(msg.get("Auto-Submitted") or "").strip().lower()
    if auto and auto != "no":
        raise Ignore(f"Automatic reply (Auto-Submitted: {auto}).")
    for name in ("X-Autoreply", "X-Autorespond"):
        if msg.get(name) is not None:
            raise Ignore(f"Automatic reply ({name}).")
    precedence = str(msg.get("Precedence") or "").strip().lower()
    if precedence in AUTO_PRECEDENCE:
        raise Ignore(f"Automatic or list mail (Precedence: {precedence}).")
    return_path = msg.get("Return-Path")
    if return_path is not None and str(return_path).strip() in ("<>", ""):
        raise Ignore("Bounce or automatic reply (empty Return-Path).")
    if mail.mail_from.strip() == "<>":
        raise Ignore("Bounce or automatic reply (empty envelope sender).")
    local = sender.split("@", 1)[0]
    if local in ("mailer-daemon", "postmaster"):
        raise Ignore(f"Bounce from {sender}.")


def _check_duplicate(mail: InboundMail) -> None:
    if not mail.message_id:
        return
    earlier = (
        InboundMail.objects.filter(
            message_id=mail.message_id,
            organization_id=mail.organization_id,
            status=InboundStatus.PROCESSED,
        )
        .exclude(pk=mail.pk)
        .first()
    )
    if earlier is not None:
        raise Ignore(f"Duplicate of message #{earlier.pk} (same Message-ID).")


def _process(mail: InboundMail, *, force: bool) -> None:
    msg = _parse(bytes(mail.raw))
    mail.subject = _clean(str(msg.get("Subject") or ""))[:400]
    mail.message_id = _clean(str(msg.get("Message-ID") or ""))[:300]
    senders = _addresses(msg, "From")
    if not senders:
        raise Review("The message has no From address.")
    sender = senders[0]
    mail.sender = sender[:320]
    organization, _ = _organization(mail, msg)
    mail.organization = organization
    if not force:
        _check_loop(msg, sender)
        _check_automatic(mail, msg, sender)
        _check_duplicate(mail)
    text = body_text(msg)
    member = _member(organization, sender)
    incident = _thread(organization, msg)
    if incident is not None:
        _comment(incident, member, sender, strip_quoted(text), msg)
        mail.incident = incident
        mail.created_incident = False
    else:
        mail.incident = _new_incident(organization, member, sender, mail.subject, text, msg)
        mail.created_incident = True


# --- what becomes of it --------------------------------------------------------------------


def _member(organization: Organization, address: str) -> User | None:
    return (
        User.objects.filter(
            email__iexact=address,
            is_active=True,
            memberships__organization=organization,
        )
        .distinct()
        .first()
    )


def _thread(organization: Organization, msg: Message) -> Incident | None:
    """The incident a reply is about: its number in the subject, else our thread id."""
    subject = str(msg.get("Subject") or "")
    for number in NUMBER_RE.findall(subject):
        found = Incident.objects.filter(organization=organization, number=number).first()
        if found is not None:
            return found
    refs = " ".join(str(msg.get(name) or "") for name in ("In-Reply-To", "References"))
    for pk, slug in THREAD_RE.findall(refs):
        if slug == organization.slug:
            found = Incident.objects.filter(organization=organization, pk=int(pk)).first()
            if found is not None:
                return found
    return None


def mail_robot(organization: Organization) -> User:
    """The account that opens incidents for senders without one (an agent without a
    password, so it cannot log in)."""
    robot = User.objects.filter(email=ROBOT_EMAIL).first()
    with acting_as(None):
        if robot is None:
            robot = User.objects.create_user(ROBOT_EMAIL, None, full_name="Service desk mail")
        if not Membership.objects.filter(user=robot, organization=organization).exists():
            Membership.objects.create(user=robot, organization=organization, role=Role.AGENT)
    from opsdesk.core.permissions import forget_roles

    forget_roles(robot)
    return robot


def _new_incident(
    organization: Organization,
    member: User | None,
    sender: str,
    subject: str,
    text: str,
    msg: Message,
) -> Incident:
    from opsdesk.servicedesk.actions import create_incident

    actor = member or mail_robot(organization)
    incident = create_incident(
        acting_user=actor,
        organization=organization,
        title=(subject or "(no subject)")[:255],
        description=text,
        requester=member,
        requester_email="" if member else sender[:254],
        channel=Channel.EMAIL,
    )
    _attachments(incident, actor, msg)
    return incident


def _comment(incident: Incident, member: User | None, sender: str, text: str, msg: Message) -> None:
    from opsdesk.servicedesk.actions import add_comment

    actor: User | None = member
    if text.strip():
        posted = False
        if member is not None:
            try:
                add_comment(
                    acting_user=member,
                    subject=incident,
                    body=text,
                    public=True,
                    data={"via": "email"},
                )
                posted = True
            except PermissionDenied:
                actor = None
        if not posted:
            add_comment(
                acting_user=None,
                subject=incident,
                body=text,
                public=True,
                actor_name=sender,
                data={"via": "email"},
            )
    _attachments(incident, actor, msg)


def _attachments(incident: Incident, actor: User | None, msg: Message) -> None:
    from opsdesk.servicedesk.actions import add_attachment

    for part in msg.iter_attachments():
        try:
            content = part.get_payload(decode=True)
        except Exception:
            content = None
        if content is None:
            payload = part.get_payload()
            content = payload.encode() if isinstance(payload, str) else b""
        filename = part.get_filename() or "attachment"
        kind = part.get_content_type()
        try:
            add_attachment(
                acting_user=actor,
                subject=incident,
                filename=filename,
                content=content,
                content_type=kind,
                keep_for_review=True,
            )
        except PermissionDenied:
            add_attachment(
                acting_user=None,
                subject=incident,
                filename=filename,
                content=content,
                content_type=kind,
                keep_for_review=True,
            )


# --- text ----------------------------------------------------------------------------------


class _HTMLText(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.parts: list[str] = []
        self.skip = 0

    def handle_starttag(self, tag: str, attrs: Any) -> None:
        if tag in ("script", "style"):
            self.skip += 1
        elif tag in ("br", "p", "div", "li", "tr", "blockquote"):
            self.parts.append("\n")

    def handle_endtag(self, tag: str) -> None:
        if tag in ("script", "style") and self.skip:
            self.skip -= 1

    def handle_data(self, data: str) -> None:
        if not self.skip:
            self.parts.append(data)


def html_to_text(html: str) -> str:
    parser = _HTMLText()
    parser.feed(html)
    lines = [" ".join(line.split()) for line in "".join(parser.parts).splitlines()]
    return re.sub(r"\n{3,}", "\n\n", "\n".join(lines)).strip()


def body_text(msg: EmailMessage) -> str:
    """The message's text: the plain part, else the HTML part as text."""
    try:
        part = msg.get_body(preferencelist=("plain", "html"))
    except Exception:
        part = None
    if part is None:
        return ""
    try:
        content = part.get_content()
    except Exception:
        raw = part.get_payload(decode=True) or b""
        content = raw.decode("utf-8", "replace") if isinstance(raw, bytes) else str(raw)
    if part.get_content_type() == "text/html":
        content = html_to_text(content)
    return _clean_text(content)


def _clean_text(text: str) -> str:
    text = text.replace("\r\n", "\n").replace("\x00", "")
    return text.strip()[:100_000]


_REPLY_HEADER = re.compile(
    r"^(On .{3,200}wrote:|Le .{3,200}a écrit\s?:|Am .{3,200}schrieb .{1,200}:"
    r"|-{2,}\s*Original Message\s*-{2,}|_{10,}|From:\s.+@.+)$",
    re.IGNORECASE,
)


def strip_quoted(text: str) -> str:
    """The new part of a reply: stops at "On ... wrote:", an Outlook separator or header
    block, and drops ">"-quoted lines."""
    kept: list[str] = []
    for line in text.splitlines():
        if _REPLY_HEADER.match(line.strip()):
            break
        if line.lstrip().startswith(">"):
            continue
        kept.append(line)
    return "\n".join(kept).strip()
