"""How a runbook's action is checked and carried out: the safe template language of its URL,
body and arguments, and the three executors (an HTTP call, an allow-listed command, a
standard change from a template).

Templates use ``{name}`` placeholders only: no attribute or index access, no conversions, no
format specs (``{x.__class__}``, ``{x[0]}``, ``{x:>99999}`` are refused when the runbook is
saved), and the names are a fixed set (`PLACEHOLDERS`) plus ``label_<name>`` and
``resource_<name>`` (dots and dashes as underscores) from the alert the run targets.

Executors never raise for the remote side's failures: they return an `Outcome` whose
``ok`` says whether the run goes on to verification.
"""

from __future__ import annotations

import http.client
import ipaddress
import json
import re
import socket
import string
import subprocess
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from django.conf import settings

#: Placeholders every template may use (see `context_for` in `opsdesk.events.runbooks`).
PLACEHOLDERS = frozenset(
    {
        "group",
        "group_id",
        "group_title",
        "severity",
        "ci",
        "ci_id",
        "ci_class",
        "service",
        "incident",
        "incident_id",
        "runbook",
        "run_id",
        "alert_title",
        "alert_count",
    }
)
_DYNAMIC = ("label_", "resource_")
HTTP_METHODS = ("POST", "PUT", "PATCH", "GET")
#: Kept of a response body or a command's output.
EXCERPT_CHARS = 4000
MAX_TIMEOUT = 120
_HEADER_NAME = re.compile(r"^[A-Za-z0-9!#$%&'*+.^_`|~-]{1,100}$")


def http_timeout() -> int:
    return int(getattr(settings, "EVENTS_RUNBOOK_HTTP_TIMEOUT", 10))


def command_timeout() -> int:
    return int(getattr(settings, "EVENTS_RUNBOOK_COMMAND_TIMEOUT", 60))


#: Networks a runbook's HTTP call may never reach, whatever its host resolves to: the cloud
#: instance-metadata services (169.254.169.254, fd00:ec2::254, Alibaba's 100.100.100.200),
#: link-local and "this network". Loopback and private networks stay allowed: AWX, Resolve or
#: Azure Automation's hybrid workers usually sit on them.
DEFAULT_HTTP_DENY = (
    "169.254.0.0/16",
    "fe80::/10",
    "fd00:ec2::254/128",
    "100.100.100.200/32",
    "0.0.0.0/8",
    "::/128",
)


def denied_networks() -> list[ipaddress.IPv4Network | ipaddress.IPv6Network]:
    """``EVENTS_RUNBOOK_HTTP_DENY`` (CIDRs), by default `DEFAULT_HTTP_DENY`."""
    cidrs = getattr(settings, "EVENTS_RUNBOOK_HTTP_DENY", None) or DEFAULT_HTTP_DENY
    return [ipaddress.ip_network(c, strict=False) for c in cidrs]


def denied_address(ip: str) -> bool:
    addr = ipaddress.ip_address(ip.split("%", 1)[0])
    if isinstance(addr, ipaddress.IPv6Address) and addr.ipv4_mapped is not None:
        addr = addr.ipv4_mapped
    return any(addr in net for net in denied_networks() if net.version == addr.version)


def allowed_commands() -> list[str]:
    """The programs a runbook may run (absolute paths); empty (the default) = commands off."""
    return [str(c) for c in getattr(settings, "EVENTS_RUNBOOK_COMMANDS", []) or []]


def placeholder_key(name: str) -> str:
    """``host.name`` -> ``host_name``: label and resource names as placeholder suffixes."""
    return re.sub(r"[^A-Za-z0-9_]", "_", name)


# --- Templates ---------------------------------------------------------------------------------


def template_problem(text: str) -> str | None:
    """Why `text` is not a safe template, or None."""
    try:
        parts = list(string.Formatter().parse(text))
    except ValueError as exc:
        return f"Not a valid template ({exc}); write a literal brace as {{{{ or }}}}."
    for _literal, name, spec, conversion in parts:
        if name is None:
            continue
        if not name.isidentifier():
            return f"Placeholder {{{name}}} is not allowed: use plain names like {{ci}}."
        if spec or conversion:
            return f"Placeholder {{{name}}} may not carry a conversion or format."
        if name not in PLACEHOLDERS and not name.startswith(_DYNAMIC):
            known = ", ".join(sorted(PLACEHOLDERS))
            return f"Unknown placeholder {{{name}}}; use {known}, label_<name> or resource_<name>."
    return None


class _SafeFormatter(string.Formatter):
    def __init__(self, context: Mapping[str, Any], quote: bool = False) -> None:
        self.context = context
        self.quote = quote

    def get_field(self, field_name: str, args: Any, kwargs: Any) -> tuple[Any, str]:
        if not field_name.isidentifier():  # checked on save; kept as a second lock
            raise ValueError(f"Placeholder {{{field_name}}} is not allowed.")
        value = self.context.get(field_name, "")
        text = "" if value is None else str(value)
        return (urllib.parse.quote(text, safe="") if self.quote else text), field_name

    def format_field(self, value: Any, format_spec: str) -> str:
        return str(value)

    def convert_field(self, value: Any, conversion: str | None) -> Any:
        return value


def render(text: str, context: Mapping[str, Any], *, quote: bool = False) -> str:
    return _SafeFormatter(context, quote=quote).vformat(text, (), {})


def render_body(body: Any, context: Mapping[str, Any]) -> Any:
    """Every string of a JSON body rendered (keys too); other values kept."""
    if isinstance(body, str):
        return render(body, context)
    if isinstance(body, dict):
        return {render(str(k), context): render_body(v, context) for k, v in body.items()}
    if isinstance(body, list):
        return [render_body(v, context) for v in body]
    return body


def body_problems(body: Any, where: str = "action.body") -> dict[str, str]:
    if isinstance(body, str):
        problem = template_problem(body)
        return {where: problem} if problem else {}
    if isinstance(body, dict):
        for key, value in body.items():
            found = body_problems(str(key), where) or body_problems(value, where)
            if found:
                return found
    if isinstance(body, list):
        for value in body:
            found = body_problems(value, where)
            if found:
                return found
    return {}


# --- Validation of an action -------------------------------------------------------------------


def _timeout_problem(action: dict[str, Any]) -> dict[str, str]:
    if "timeout" not in action:
        return {}
    value = action["timeout"]
    if isinstance(value, bool) or not isinstance(value, int) or not 1 <= value <= MAX_TIMEOUT:
        return {"action.timeout": f"Seconds, a whole number from 1 to {MAX_TIMEOUT}."}
    return {}


def _unknown(action: dict[str, Any], known: tuple[str, ...]) -> dict[str, str]:
    return {
        f"action.{key}": f"Unknown key; an action of this kind takes {', '.join(known)}."
        for key in action
        if key not in known
    }


def http_problems(action: dict[str, Any]) -> dict[str, str]:
    errors = _unknown(action, ("url", "method", "headers", "body", "timeout"))
    url = action.get("url")
    if not isinstance(url, str) or not url.strip():
        errors["action.url"] = "An http:// or https:// URL is required."
    else:
        parsed = urllib.parse.urlsplit(url.strip())
        if parsed.scheme not in ("http", "https") or not parsed.netloc:
            errors["action.url"] = "Must be an http:// or https:// URL with a host."
        elif len(url) > 2000:
            errors["action.url"] = "At most 2,000 characters."
        elif problem := template_problem(url):
            errors["action.url"] = problem
        elif "{" in parsed.netloc or "{" in parsed.scheme:
            errors["action.url"] = "The scheme and host cannot contain placeholders."
        elif _literal_denied(parsed.hostname or ""):
            errors["action.url"] = (
                f"{parsed.hostname} is in a network runbooks may not call "
                "(instance metadata, link-local; EVENTS_RUNBOOK_HTTP_DENY)."
            )
    method = action.get("method", "POST")
    if not isinstance(method, str) or method.upper() not in HTTP_METHODS:
        errors["action.method"] = f"One of: {', '.join(HTTP_METHODS)}."
    headers = action.get("headers", {})
    if not isinstance(headers, dict):
        errors["action.headers"] = "An object of header names to string values."
    else:
        for name, value in headers.items():
            if not _HEADER_NAME.match(str(name)):
                errors["action.headers"] = f"{name!r} is not a valid header name."
                break
            if not isinstance(value, str) or "\r" in value or "\n" in value:
                errors["action.headers"] = f"The value of {name} must be one line of text."
                break
            if problem := template_problem(value):
                errors["action.headers"] = problem
                break
    if "body" in action and action["body"] is not None:
        if not isinstance(action["body"], (str, dict, list)):
            errors["action.body"] = "Text or a JSON object or list."
        else:
            errors.update(body_problems(action["body"]))
    errors.update(_timeout_problem(action))
    return errors


def command_problems(action: dict[str, Any]) -> dict[str, str]:
    errors = _unknown(action, ("command", "timeout"))
    command = action.get("command")
    allowed = allowed_commands()
    if (
        not isinstance(command, list)
        or not command
        or not all(isinstance(a, str) and a for a in command)
    ):
        errors["action.command"] = (
            'A list of non-empty strings: the program and its arguments, e.g. ["/usr/local/bin/'
            'restart-web", "{ci}"].'
        )
    elif not allowed:
        errors["action.command"] = (
            "Commands are off: the allow-list (setting EVENTS_RUNBOOK_COMMANDS) is empty."
        )
    elif command[0] not in allowed:
        errors["action.command"] = (
            f"{command[0]} is not on the allow-list (EVENTS_RUNBOOK_COMMANDS): "
            f"{', '.join(allowed)}."
        )
    else:
        for arg in command[1:]:
            if problem := template_problem(arg):
                errors["action.command"] = problem
                break
    errors.update(_timeout_problem(action))
    return errors


# --- Execution ---------------------------------------------------------------------------------


@dataclass
class Outcome:
    ok: bool
    reason: str = ""
    request: dict[str, Any] = field(default_factory=dict)
    response: dict[str, Any] = field(default_factory=dict)
    output: str = ""


def http_request(action: dict[str, Any], context: Mapping[str, Any]) -> dict[str, Any]:
    """What the call sends, rendered: stored on the run (and all a dry run does)."""
    headers = {str(k): render(str(v), context) for k, v in (action.get("headers") or {}).items()}
    body = action.get("body")
    rendered = render_body(body, context) if body is not None else None
    return {
        "method": str(action.get("method") or "POST").upper(),
        "url": render(action["url"], context, quote=True),
        "headers": headers,
        "body": rendered,
        "timeout": int(action.get("timeout") or http_timeout()),
    }


#: What a header holding a credential is named like; such values are kept apart from the
#: runbook's action (in `Runbook.secret_headers`, redacted in the audit) and never shown.
SECRET_HEADER_WORDS = ("authorization", "token", "key", "secret", "password", "cookie")
#: What is shown (and may be sent back unchanged) in place of a credential.
MASK = "********"


def is_secret_header(name: str) -> bool:
    low = name.lower()
    return any(word in low for word in SECRET_HEADER_WORDS)


def redacted(request: dict[str, Any]) -> dict[str, Any]:
    """The request as stored on the run: credentials in headers are not kept."""
    headers = {
        k: (MASK if is_secret_header(k) else v) for k, v in (request.get("headers") or {}).items()
    }
    return {**request, "headers": headers}


def split_secrets(
    action: dict[str, Any], kept: dict[str, str]
) -> tuple[dict[str, Any], dict[str, str], dict[str, str]]:
    """Move the credentials out of an http action's headers: returns the action with each
    credential masked, the credentials by header name, and problems by field. A masked value
    sent back (a form or an API client returning what it read) keeps the credential in
    ``kept``; a header left out is dropped with its credential."""
    headers = action.get("headers")
    if not isinstance(headers, dict):
        return action, {}, {}
    shown: dict[str, Any] = {}
    secrets: dict[str, str] = {}
    for name, value in headers.items():
        if not isinstance(name, str) or not is_secret_header(name):
            shown[name] = value
            continue
        if value == MASK:
            if name not in kept:
                return action, {}, {"action.headers": f"Give the value of {name}."}
            secrets[name] = kept[name]
        else:
            secrets[name] = value
        shown[name] = MASK
    return {**action, "headers": shown}, secrets, {}


def with_secrets(action: dict[str, Any], secrets: dict[str, str]) -> dict[str, Any]:
    """The http action as it is sent: masked headers carry their credentials again."""
    headers = action.get("headers")
    if not headers or not secrets:
        return action
    return {**action, "headers": {k: secrets.get(k, v) for k, v in headers.items()}}


class _HttpOnlyRedirects(urllib.request.HTTPRedirectHandler):
    """Follow redirects to http(s) only (urllib would also follow one to ftp://)."""

    def redirect_request(
        self, req: Any, fp: Any, code: int, msg: str, headers: Any, newurl: str
    ) -> Any:
        if urllib.parse.urlsplit(newurl).scheme not in ("http", "https"):
            raise urllib.error.HTTPError(newurl, code, f"redirect to {newurl} refused", headers, fp)
        return super().redirect_request(req, fp, code, msg, headers, newurl)


def _literal_denied(host: str) -> bool:
    try:
        return denied_address(host)
    except ValueError:
        return False  # a name: checked against what it resolves to when the call is made


def _guarded_connection(
    address: tuple[str, int], timeout: Any = socket._GLOBAL_DEFAULT_TIMEOUT, source: Any = None
) -> socket.socket:
    """`socket.create_connection` that refuses denied addresses, checking the very address it
    connects to (so neither a name resolving there, a redirect nor DNS rebinding gets in)."""
    host, port = address
    error: OSError | None = None
    for family, kind, proto, _, sockaddr in socket.getaddrinfo(host, port, 0, socket.SOCK_STREAM):
        if denied_address(str(sockaddr[0])):
            error = OSError(
                f"{host} is {sockaddr[0]}, in a network runbooks may not call "
                "(EVENTS_RUNBOOK_HTTP_DENY)"
            )
            continue
        sock = socket.socket(family, kind, proto)
        try:
            if timeout is not socket._GLOBAL_DEFAULT_TIMEOUT:
                sock.settimeout(timeout)
            if source:
                sock.bind(source)
            sock.connect(sockaddr)
            return sock
        except OSError as exc:
            error = exc
            sock.close()
    raise error or OSError(f"{host} has no address")


class _GuardedHTTPConnection(http.client.HTTPConnection):
    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._create_connection = _guarded_connection


class _GuardedHTTPSConnection(http.client.HTTPSConnection):
    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._create_connection = _guarded_connection


class _GuardedHTTPHandler(urllib.request.HTTPHandler):
    def http_open(self, req: Any) -> Any:
        return self.do_open(_GuardedHTTPConnection, req)


class _GuardedHTTPSHandler(urllib.request.HTTPSHandler):
    def https_open(self, req: Any) -> Any:
        return self.do_open(_GuardedHTTPSConnection, req, context=self._context)


_OPENER = urllib.request.build_opener(_HttpOnlyRedirects, _GuardedHTTPHandler, _GuardedHTTPSHandler)


def run_http(request: dict[str, Any]) -> Outcome:
    body = request.get("body")
    headers = dict(request.get("headers") or {})
    data: bytes | None = None
    if body is not None and request["method"] != "GET":
        if isinstance(body, str):
            data = body.encode()
            headers.setdefault("Content-Type", "text/plain; charset=utf-8")
        else:
            data = json.dumps(body).encode()
            headers.setdefault("Content-Type", "application/json")
    headers.setdefault("User-Agent", "OpsDesk-Runbook/1")
    req = urllib.request.Request(  # noqa: S310 - the scheme is checked when the runbook is saved
        request["url"], data=data, method=request["method"], headers=headers
    )
    shown = redacted(request)
    try:
        with _OPENER.open(req, timeout=request["timeout"]) as resp:
            text = resp.read(EXCERPT_CHARS * 4).decode("utf-8", "replace")[:EXCERPT_CHARS]
            status = resp.status
    except urllib.error.HTTPError as exc:
        text = exc.read(EXCERPT_CHARS * 4).decode("utf-8", "replace")[:EXCERPT_CHARS]
        return Outcome(
            ok=False,
            reason=f"{request['method']} {request['url']} answered {exc.code}.",
            request=shown,
            response={"status": exc.code, "body": text},
        )
    except (urllib.error.URLError, TimeoutError, OSError) as exc:
        why = getattr(exc, "reason", exc)
        return Outcome(
            ok=False,
            reason=f"{request['method']} {request['url']} failed: {why}.",
            request=shown,
            response={"status": None, "error": str(why)},
        )
    return Outcome(
        ok=200 <= status < 300,
        reason="" if 200 <= status < 300 else f"{request['url']} answered {status}.",
        request=shown,
        response={"status": status, "body": text},
    )


def command_request(action: dict[str, Any], context: Mapping[str, Any]) -> dict[str, Any]:
    command = list(action["command"])
    return {
        "command": [command[0], *(render(a, context) for a in command[1:])],
        "timeout": int(action.get("timeout") or command_timeout()),
    }


def run_command(request: dict[str, Any], context: Mapping[str, Any]) -> Outcome:
    """The program from the allow-list (checked again now: the setting may have changed),
    without a shell, with a timeout; stdout and stderr kept."""
    args = request["command"]
    if args[0] not in allowed_commands():
        return Outcome(
            ok=False,
            reason=f"{args[0]} is no longer on the allow-list (EVENTS_RUNBOOK_COMMANDS).",
            request=request,
        )
    env = {
        "PATH": "/usr/local/bin:/usr/bin:/bin",
        "LANG": "C.UTF-8",
        **{
            f"OPSDESK_{k.upper()}": str(v)
            for k, v in context.items()
            if k in PLACEHOLDERS and v is not None
        },
    }
    try:
        done = subprocess.run(  # noqa: S603 - an allow-listed program, an argument list, no shell
            args,
            shell=False,
            capture_output=True,
            timeout=request["timeout"],
            env=env,
            stdin=subprocess.DEVNULL,
            check=False,
        )
    except subprocess.TimeoutExpired as exc:
        out = (exc.stdout or b"").decode("utf-8", "replace")
        return Outcome(
            ok=False,
            reason=f"{args[0]} did not finish within {request['timeout']} s and was stopped.",
            request=request,
            response={"exit_code": None},
            output=out[:EXCERPT_CHARS],
        )
    except OSError as exc:
        return Outcome(
            ok=False,
            reason=f"{args[0]} could not be started: {exc.strerror or exc}.",
            request=request,
            response={"exit_code": None},
        )
    output = done.stdout.decode("utf-8", "replace")
    if done.stderr:
        output += "\n[stderr]\n" + done.stderr.decode("utf-8", "replace")
    return Outcome(
        ok=done.returncode == 0,
        reason="" if done.returncode == 0 else f"{args[0]} exited with {done.returncode}.",
        request=request,
        response={"exit_code": done.returncode},
        output=output[:EXCERPT_CHARS],
    )
