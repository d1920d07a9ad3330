"""STS AssumeRole and Organizations ListAccounts of the emulator: the many-account world.

An org-wide backup starts from one set of base credentials, lists the member accounts with AWS
Organizations and assumes a role in each. Without these two APIs the emulator could only be told
which account a caller is by its access key id, and nothing could test role assumption, external
ids, refused roles, expiring sessions or suspended accounts. This module owns:

- :class:`Directory`: the organization (from the seed's ``organization.json``), the roles the seed
  or ``--deny-assume-role`` refuses or guards with an external id, and the sessions AssumeRole
  issued (access key id -> :class:`Session`, with secret, token, account, role and expiry);
- :func:`sts_response` / :func:`organizations_response`: the two wire protocols (query/XML for STS,
  JSON 1.1 for Organizations), answering the way the services answer, errors included.

Issued keys are 20 characters, ``ASIA`` followed by the role's 12-digit account and 4 random
characters, so a key names its account; the directory hands them to ``_auth`` with their session
token and expiry (``session_credentials``), which checks signature, token and expiry on every call.
"""

from __future__ import annotations

import datetime as dt
import json
import re
import secrets
import string
import uuid
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from xml.sax.saxutils import escape

from aiohttp import web

from ._auth import Credential
from ._state import Caller

__all__ = [
    "ORGANIZATIONS_TARGET",
    "Directory",
    "OrganizationError",
    "Session",
    "organizations_error",
    "organizations_response",
    "sts_error",
    "sts_response",
]

ORGANIZATIONS_TARGET = "AWSOrganizationsV20161128."
_STS_NS = "https://sts.amazonaws.com/doc/2011-06-15/"
_ACCOUNT = re.compile(r"[0-9]{12}")
_ROLE_ARN = re.compile(r"arn:aws[a-z-]*:iam::([0-9]{12}):role/([\w+=,.@/-]{1,512})")
_SESSION_NAME = re.compile(r"[\w+=,.@-]{2,64}")
_EXTERNAL_ID = re.compile(r"[\w+=,.@:/-]{2,1224}")
_STATUSES = ("ACTIVE", "SUSPENDED", "PENDING_CLOSURE")
_KEY_CHARS = string.ascii_uppercase + string.digits
DEFAULT_DURATION = 3600
MIN_DURATION, MAX_DURATION = 900, 43200


class OrganizationError(ValueError):
    """A seed ``organization.json`` that does not follow the documented format."""


@dataclass(frozen=True, kw_only=True)
class Session:
    """Temporary credentials issued by AssumeRole."""

    access_key: str
    secret_access_key: str
    session_token: str
    account: str
    role_arn: str
    session_name: str
    expires_at: float

    def __repr__(self) -> str:  # never show a secret in a test failure or a log
        return f"Session(access_key={self.access_key!r}, role_arn={self.role_arn!r})"

    @property
    def assumed_role_arn(self) -> str:
        role_name = self.role_arn.rsplit("/", 1)[-1]
        partition = self.role_arn.split(":")[1]
        return f"arn:{partition}:sts::{self.account}:assumed-role/{role_name}/{self.session_name}"


@dataclass(frozen=True, kw_only=True)
class Account:
    id: str
    name: str
    email: str
    status: str


@dataclass(kw_only=True)
class Directory:
    """The organization, guarded roles and issued sessions of one emulator (used on its loop)."""

    management_account: str | None = None
    organization_id: str = "o-emulator01"
    accounts: list[Account] = field(default_factory=list)
    denied_roles: set[str] = field(default_factory=set)
    external_ids: dict[str, str] = field(default_factory=dict)
    sessions: dict[str, Session] = field(default_factory=dict)

    session_credentials: dict[str, Credential] = field(default_factory=dict)
    """The issued sessions as ``_auth`` credentials: secret, account, token and expiry."""

    def issue(self, *, role_arn: str, account: str, session_name: str, expires_at: float) -> Session:
        while True:
            key = "ASIA" + account + "".join(secrets.choice(_KEY_CHARS) for _ in range(4))
            if key not in self.sessions:
                break
        session = Session(
            access_key=key,
            secret_access_key=secrets.token_urlsafe(30),
            session_token="FwoGZXIvYXdzE" + secrets.token_urlsafe(96),
            account=account,
            role_arn=role_arn,
            session_name=session_name,
            expires_at=expires_at,
        )
        self.sessions[key] = session
        self.session_credentials[key] = Credential(
            secret_access_key=session.secret_access_key,
            account_id=account,
            session_token=session.session_token,
            expires_at=expires_at,
        )
        return session

    def load(self, path: Path) -> None:
        """Read a seed's ``organization.json`` (format in docs/emulator.md)."""
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
        except (OSError, ValueError) as exc:
            raise OrganizationError(f"{path}: cannot read it as JSON: {exc}") from None
        if not isinstance(data, dict):
            raise OrganizationError(f"{path}: must hold a JSON object")
        unknown = set(data) - {"management_account", "id", "accounts", "roles"}
        if unknown:
            raise OrganizationError(f"{path}: unknown key(s) {sorted(unknown)}")
        management = data.get("management_account")
        if not isinstance(management, str) or not _ACCOUNT.fullmatch(management):
            raise OrganizationError(f"{path}: management_account must be a 12-digit account id")
        org_id = data.get("id", self.organization_id)
        if not isinstance(org_id, str) or not re.fullmatch(r"o-[a-z0-9]{10,32}", org_id):
            raise OrganizationError(f"{path}: id must look like o-abcdef0123")
        accounts: list[Account] = []
        for index, entry in enumerate(data.get("accounts", [])):
            where = f"{path}: accounts[{index}]"
            if not isinstance(entry, dict) or set(entry) - {"id", "name", "email", "status"}:
                raise OrganizationError(f"{where}: must be an object of id, name, email, status")
            account_id, status = entry.get("id"), entry.get("status", "ACTIVE")
            if not isinstance(account_id, str) or not _ACCOUNT.fullmatch(account_id):
                raise OrganizationError(f"{where}: id must be a 12-digit account id string")
            if status not in _STATUSES:
                raise OrganizationError(f"{where}: status must be one of {', '.join(_STATUSES)}")
            name = str(entry.get("name", account_id))
            email = str(entry.get("email", f"aws+{account_id}@example.com"))
            accounts.append(Account(id=account_id, name=name, email=email, status=status))
        ids = [a.id for a in accounts]
        if len(set(ids)) != len(ids):
            raise OrganizationError(f"{path}: an account id is listed twice")
        if management not in ids:
            email = f"aws+{management}@example.com"
            accounts.insert(0, Account(id=management, name="management", email=email, status="ACTIVE"))
        for index, entry in enumerate(data.get("roles", [])):
            where = f"{path}: roles[{index}]"
            if not isinstance(entry, dict) or set(entry) - {"arn", "external_id", "deny"}:
                raise OrganizationError(f"{where}: must be an object of arn, external_id, deny")
            arn = entry.get("arn")
            if not isinstance(arn, str) or not _ROLE_ARN.fullmatch(arn):
                raise OrganizationError(f"{where}: arn must be an IAM role ARN")
            external_id = entry.get("external_id")
            if external_id is not None:
                if not isinstance(external_id, str) or not _EXTERNAL_ID.fullmatch(external_id):
                    raise OrganizationError(
                        f"{where}: external_id must be 2 to 1224 characters [\\w+=,.@:/-]"
                    )
                self.external_ids[arn] = external_id
            if entry.get("deny", False) is True:
                self.denied_roles.add(arn)
        self.management_account, self.organization_id, self.accounts = management, org_id, accounts


# --- STS (query protocol, XML answers) -------------------------------------------------------------


def sts_error(code: str, message: str, status: int = 400) -> web.Response:
    body = (
        f'<ErrorResponse xmlns="{_STS_NS}">'
        f"<Error><Type>Sender</Type><Code>{code}</Code><Message>{escape(message)}</Message></Error>"
        f"<RequestId>{uuid.uuid4()}</RequestId></ErrorResponse>"
    )
    return web.Response(status=status, body=body.encode(), content_type="text/xml")


def _xml(action: str, result: str) -> web.Response:
    body = (
        f'<{action}Response xmlns="{_STS_NS}"><{action}Result>{result}</{action}Result>'
        f"<ResponseMetadata><RequestId>{uuid.uuid4()}</RequestId></ResponseMetadata></{action}Response>"
    )
    return web.Response(body=body.encode(), content_type="text/xml")


def _caller_arn(directory: Directory, caller: Caller) -> tuple[str, str]:
    session = directory.sessions.get(caller.access_key)
    if session is not None:
        return session.assumed_role_arn, f"AROA{session.account}:{session.session_name}"
    return f"arn:aws:iam::{caller.account}:user/omics-emulator", caller.access_key


def _validation(field_name: str, value: str, constraint: str) -> web.Response:
    return sts_error(
        "ValidationError",
        f"1 validation error detected: Value '{value[:64]}' at '{field_name}' failed to satisfy "
        f"constraint: {constraint}",
    )


def _assume_role(
    directory: Directory,
    caller: Caller,
    form: Mapping[str, str],
    *,
    denied: frozenset[str],
    now: float,
    session_ttl: float | None,
) -> web.Response:
    role_arn = form.get("RoleArn")
    session_name = form.get("RoleSessionName")
    if not role_arn or not session_name:
        missing = "roleArn" if not role_arn else "roleSessionName"
        return _validation(missing, "null", "Member must not be null")
    if not _SESSION_NAME.fullmatch(session_name):
        return _validation(
            "roleSessionName", session_name, "Member must satisfy regular expression pattern: [\\w+=,.@-]*"
        )
    duration_text = form.get("DurationSeconds", str(DEFAULT_DURATION))
    try:
        duration = int(duration_text)
    except ValueError:
        return sts_error("MalformedInput", f"DurationSeconds {duration_text[:20]!r} is not an integer")
    if not MIN_DURATION <= duration <= MAX_DURATION:
        return _validation(
            "durationSeconds",
            str(duration),
            f"Member must have value {'greater' if duration < MIN_DURATION else 'less'} than or equal to "
            f"{MIN_DURATION if duration < MIN_DURATION else MAX_DURATION}",
        )
    external_id = form.get("ExternalId")
    if external_id is not None and not _EXTERNAL_ID.fullmatch(external_id):
        return _validation(
            "externalId", external_id, "Member must satisfy regular expression pattern: [\\w+=,.@:/-]*"
        )
    match = _ROLE_ARN.fullmatch(role_arn)
    who, _ = _caller_arn(directory, caller)
    refused = sts_error(
        "AccessDenied",
        f"User: {who} is not authorized to perform: sts:AssumeRole on resource: {role_arn[:2048]}",
        403,
    )
    if match is None:
        return _validation("roleArn", role_arn, "Member must be an IAM role ARN")
    if role_arn in denied or role_arn in directory.denied_roles:
        return refused
    required = directory.external_ids.get(role_arn)
    if required is not None and external_id != required:
        return refused
    account = match.group(1)
    if directory.management_account is not None and account not in {a.id for a in directory.accounts}:
        return refused  # an organization is seeded: roles exist only in its accounts
    lifetime = float(duration) if session_ttl is None else session_ttl
    session = directory.issue(
        role_arn=role_arn, account=account, session_name=session_name, expires_at=now + lifetime
    )
    expiration = dt.datetime.fromtimestamp(session.expires_at, dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    result = (
        "<Credentials>"
        f"<AccessKeyId>{session.access_key}</AccessKeyId>"
        f"<SecretAccessKey>{session.secret_access_key}</SecretAccessKey>"
        f"<SessionToken>{session.session_token}</SessionToken>"
        f"<Expiration>{expiration}</Expiration>"
        "</Credentials>"
        "<AssumedRoleUser>"
        f"<AssumedRoleId>AROA{account}:{escape(session_name)}</AssumedRoleId>"
        f"<Arn>{escape(session.assumed_role_arn)}</Arn>"
        "</AssumedRoleUser>"
        "<PackedPolicySize>0</PackedPolicySize>"
    )
    return _xml("AssumeRole", result)


def sts_response(
    directory: Directory,
    caller: Caller,
    form: Mapping[str, str],
    *,
    denied: frozenset[str],
    now: float,
    session_ttl: float | None,
) -> web.Response:
    """Answer one authenticated STS request (its decoded form parameters)."""
    action = form.get("Action")
    if action == "GetCallerIdentity":
        arn, user_id = _caller_arn(directory, caller)
        return _xml(
            "GetCallerIdentity",
            f"<Arn>{escape(arn)}</Arn><UserId>{escape(user_id)}</UserId><Account>{caller.account}</Account>",
        )
    if action == "AssumeRole":
        return _assume_role(directory, caller, form, denied=denied, now=now, session_ttl=session_ttl)
    return sts_error("InvalidAction", f"The emulator does not implement STS action {str(action)[:64]}")


# --- Organizations (JSON 1.1 protocol) ---------------------------------------------------------------


def organizations_error(code: str, message: str, status: int = 400) -> web.Response:
    return web.Response(
        status=status,
        body=json.dumps({"__type": code, "Message": message}).encode(),
        content_type="application/x-amz-json-1.1",
        headers={"x-amzn-RequestId": str(uuid.uuid4())},
    )


def _list_accounts(directory: Directory, caller: Caller, body: Any) -> web.Response:
    if directory.management_account is None:
        return organizations_error(
            "AWSOrganizationsNotInUseException", "Your account is not a member of an organization."
        )
    if caller.account != directory.management_account:
        return organizations_error(
            "AccessDeniedException", "You don't have permissions to access this resource."
        )
    if not isinstance(body, dict) or set(body) - {"NextToken", "MaxResults"}:
        return organizations_error(
            "InvalidInputException", "ListAccounts takes NextToken and MaxResults only."
        )
    limit = body.get("MaxResults", 20)
    if not isinstance(limit, int) or isinstance(limit, bool) or not 1 <= limit <= 20:
        return organizations_error("InvalidInputException", "MaxResults must be an integer from 1 to 20.")
    start = 0
    token = body.get("NextToken")
    if token is not None:
        prefix = f"{directory.organization_id}:"
        if not isinstance(token, str) or not token.startswith(prefix) or not token[len(prefix) :].isdigit():
            return organizations_error("InvalidInputException", "The NextToken is not valid.")
        start = int(token[len(prefix) :])
    page = directory.accounts[start : start + limit]
    joined = dt.datetime(2024, 1, 1, tzinfo=dt.UTC).timestamp()
    out: dict[str, Any] = {
        "Accounts": [
            {
                "Id": a.id,
                "Arn": f"arn:aws:organizations::{directory.management_account}:account/"
                f"{directory.organization_id}/{a.id}",
                "Email": a.email,
                "Name": a.name,
                "Status": a.status,
                "JoinedMethod": "CREATED" if a.id != directory.management_account else "INVITED",
                "JoinedTimestamp": joined,
            }
            for a in page
        ]
    }
    if start + limit < len(directory.accounts):
        out["NextToken"] = f"{directory.organization_id}:{start + limit}"
    return web.Response(
        body=json.dumps(out).encode(),
        content_type="application/x-amz-json-1.1",
        headers={"x-amzn-RequestId": str(uuid.uuid4())},
    )


def organizations_response(directory: Directory, caller: Caller, target: str, body: bytes) -> web.Response:
    """Answer one authenticated Organizations request (``target`` is the X-Amz-Target operation)."""
    try:
        decoded = json.loads(body or b"{}")
    except ValueError:
        return organizations_error("SerializationException", "The request body is not valid JSON.")
    if target == "ListAccounts":
        return _list_accounts(directory, caller, decoded)
    return organizations_error(
        "UnknownOperationException", f"The emulator does not implement Organizations {target[:64]}"
    )
