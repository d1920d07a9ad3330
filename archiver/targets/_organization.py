"""``backup --organization``: the member accounts of AWS Organizations as targets.

Teams that deploy the member role with a StackSet (deploy/) should not have to keep a list of
accounts in step with the organization: ``ListAccounts`` (from the management account or a
delegated administrator) is the list. Accounts that are not ACTIVE (SUSPENDED, PENDING_CLOSURE)
are left out, each named in one log line, since their roles cannot be assumed. The management
account is left out unless asked for: service-managed StackSets do not deploy to it, and it
rarely runs workflows.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from typing import Any

from botocore.config import Config

from .._aws import AwsSettings, call_aws, new_session
from ._model import Target, role_arn_for

__all__ = ["organization_targets"]

log = logging.getLogger("archiver.targets")


async def organization_targets(
    settings: AwsSettings,
    *,
    endpoint_url: str | None,
    role_name: str,
    regions: Sequence[str],
    external_id: str | None = None,
    include_management: bool = False,
) -> tuple[Target, ...]:
    """One target per ACTIVE member account and region, with ``role_name`` in that account."""
    session = new_session(settings.profile, settings.credentials)
    region = settings.region or session.get_config_variable("region") or "us-east-1"
    accounts: list[dict[str, Any]] = []
    async with session.create_client(
        "organizations",
        region_name=region,
        endpoint_url=endpoint_url,
        config=Config(
            retries={"mode": "standard", "total_max_attempts": 1},
            connect_timeout=settings.connect_timeout,
            read_timeout=settings.read_timeout,
            user_agent_extra="omics-archiver",
        ),
    ) as org:
        endpoint = str(org.meta.endpoint_url)
        token: str | None = None
        while True:
            params = {"NextToken": token} if token else {}

            async def send(params: dict[str, str] = params) -> dict[str, Any]:
                answer: dict[str, Any] = await org.list_accounts(**params)
                return answer

            page = await call_aws("ListAccounts", send, endpoint=endpoint)
            accounts += page.get("Accounts", [])
            token = page.get("NextToken")
            if not token:
                break
    management = _management_account(accounts)
    out: list[Target] = []
    for account in sorted(accounts, key=lambda a: str(a.get("Id"))):
        account_id, status, name = str(account.get("Id")), account.get("Status"), str(account.get("Name", ""))
        if status != "ACTIVE":
            log.info(
                "account %s (%s) is %s: left out",
                account_id,
                name,
                status,
                extra={"event": "account-skipped", "account": account_id, "status": status},
            )
            continue
        if account_id == management and not include_management:
            log.info(
                "account %s (%s) is the management account: left out (--include-management-account "
                "backs it up too)",
                account_id,
                name,
                extra={"event": "account-skipped", "account": account_id, "status": "management"},
            )
            continue
        out += [
            Target(
                account=account_id,
                region=r,
                role_arn=role_arn_for(account_id, role_name, r),
                external_id=external_id,
                name=name,
            )
            for r in regions
        ]
    return tuple(out)


def _management_account(accounts: list[dict[str, Any]]) -> str | None:
    """The management account: the one in every account ARN (``arn:aws:organizations::<mgmt>:...``)."""
    for account in accounts:
        parts = str(account.get("Arn", "")).split(":")
        if len(parts) > 4 and parts[4].isdigit():
            return parts[4]
    return None
