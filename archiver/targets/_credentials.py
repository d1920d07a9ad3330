"""Each target's credentials: STS AssumeRole on the base credentials, refreshed before they expire.

A nightly org-wide run can outlast an assumed role's session (one hour by default, as little as
15 minutes), so the credentials handed to a target's clients are refreshable: botocore asks for
new ones when the old ones near their expiry, under a lock, while the run goes on. Its fixed
windows (refresh 15 minutes before expiry, block 10 minutes before) assume hour-long sessions;
for shorter ones they would ask STS on every call, so :class:`AssumedRoleCredentials` scales the
windows to the session's lifetime (refresh in its last half, block in its last quarter).

:class:`RoleAssumer` opens one STS client on the base credentials for the whole run and assumes
each role once (per role and external id, so every region of an account shares one session).
The first AssumeRole happens before the target's backup starts, so a role that cannot be assumed
fails that target at once with AWS's answer, and never the others. Session name:
``omics-archiver`` (CloudTrail in the member account shows it). No key, secret or token is ever
logged: only the role ARN and the expiry.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from datetime import UTC, datetime
from types import TracebackType
from typing import Any

from aiobotocore.credentials import AioDeferredRefreshableCredentials
from aiobotocore.session import AioSession

from .._aws import AwsSettings, call_aws, new_session
from .._errors import ArchiverError
from .._tls import aio_config
from ._model import SESSION_NAME, Target

__all__ = ["AssumedRoleCredentials", "RoleAssumer"]

log = logging.getLogger("archiver.targets")

_ADVISORY, _MANDATORY = 15 * 60.0, 10 * 60.0  # botocore's windows, for sessions of an hour or more


class _RefreshFailures(logging.Filter):
    """aiobotocore logs a failed refresh with its traceback (on stderr, whatever the log format).

    A refused AssumeRole is our own error by then (``call_aws`` translated it): in the mandatory
    period it propagates and the target's result reports it, so the record is dropped; in the
    advisory period the run goes on with the current session, so it is one warning of ours.
    """

    def filter(self, record: logging.LogRecord) -> bool:
        exc = record.exc_info[1] if record.exc_info else None
        if not isinstance(exc, ArchiverError):
            return True
        if "advisory" in record.getMessage():
            log.warning(
                "renewing an assumed role's session failed; the current one is used until it nears its "
                "expiry: %s",
                exc.message,
                extra={"event": "assume-role-renewal-failed"},
            )
        return False


_QUIET = _RefreshFailures()


def _utc_now() -> datetime:
    return datetime.now(UTC)


class AssumedRoleCredentials(AioDeferredRefreshableCredentials):  # type: ignore[misc]
    """Refreshable credentials whose refresh windows follow the session's lifetime."""

    def __init__(self, refresh_using: Any) -> None:
        # UTC, not botocore's default local time: the expiry check runs before every request
        # signed, and the local zone's offset cost 11 microseconds of it each time
        super().__init__(refresh_using=refresh_using, method="assume-role", time_fetcher=_utc_now)
        self.refreshes = 0

    def _publish_refresh(self) -> None:
        super()._publish_refresh()
        self.refreshes += 1
        lifetime = max(1.0, self._seconds_remaining())
        self._advisory_refresh_timeout = min(_ADVISORY, lifetime / 2)
        self._mandatory_refresh_timeout = min(_MANDATORY, lifetime / 4)

    def __repr__(self) -> str:  # never a key in a test failure or a log
        return f"AssumedRoleCredentials(refreshes={self.refreshes})"


class RoleAssumer:
    """Assumes targets' roles with the base credentials; ``async with RoleAssumer(settings)``."""

    def __init__(self, settings: AwsSettings, *, duration_seconds: int = 3600) -> None:
        self._settings = settings
        self._duration = duration_seconds
        self._stack = contextlib.AsyncExitStack()
        self._session: AioSession | None = None
        self._clients: dict[str, Any] = {}
        self._opening = asyncio.Lock()
        self._assumed: dict[tuple[str, str | None], asyncio.Task[AssumedRoleCredentials]] = {}

    async def __aenter__(self) -> RoleAssumer:
        logging.getLogger("aiobotocore.credentials").addFilter(_QUIET)  # once: filters are a set
        self._session = new_session(self._settings.profile, self._settings.credentials)
        return self

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        pending = [t for t in self._assumed.values() if not t.done()]
        for task in pending:
            task.cancel()
        await asyncio.gather(*pending, return_exceptions=True)
        await self._stack.aclose()

    async def credentials(self, target: Target) -> AssumedRoleCredentials:
        """The target role's credentials, assumed once per role and external id (raises if refused)."""
        assert target.role_arn is not None
        key = (target.role_arn, target.external_id)
        task = self._assumed.get(key)
        if task is None or (task.done() and task.exception() is not None):
            # a task of its own: one target's cancellation does not cancel its sibling regions'
            task = self._assumed[key] = asyncio.get_running_loop().create_task(self._assume(target))
        return await asyncio.shield(task)

    async def _sts(self, region: str) -> Any:
        async with self._opening:
            client = self._clients.get(region)
            if client is None:
                assert self._session is not None
                s = self._settings
                client = await self._stack.enter_async_context(
                    self._session.create_client(
                        "sts",
                        region_name=region,
                        endpoint_url=s.sts_endpoint_url,
                        config=aio_config(
                            retries={"mode": "standard", "total_max_attempts": 1},
                            connect_timeout=s.connect_timeout,
                            read_timeout=s.read_timeout,
                            user_agent_extra="omics-archiver",
                        ),
                    )
                )
                self._clients[region] = client
            return client

    async def _assume(self, target: Target) -> AssumedRoleCredentials:
        assert target.role_arn is not None
        role_arn, region = target.role_arn, target.region
        params: dict[str, Any] = {
            "RoleArn": role_arn,
            "RoleSessionName": SESSION_NAME,
            "DurationSeconds": self._duration,
        }
        if target.external_id is not None:
            params["ExternalId"] = target.external_id

        async def refresh() -> dict[str, Any]:
            sts = await self._sts(region)
            answer = await call_aws(
                "AssumeRole",
                lambda: sts.assume_role(**params),
                endpoint=str(sts.meta.endpoint_url),
                resource=role_arn,
            )
            c = answer["Credentials"]
            expiry = c["Expiration"]
            if isinstance(expiry, datetime):
                expiry = expiry.astimezone(UTC).isoformat()
            log.info(
                "assumed %s until %s",
                role_arn,
                expiry,
                extra={"event": "assumed-role", "roleArn": role_arn, "expiresAt": str(expiry)},
            )
            return {
                "access_key": c["AccessKeyId"],
                "secret_key": c["SecretAccessKey"],
                "token": c["SessionToken"],
                "expiry_time": expiry,
            }

        credentials = AssumedRoleCredentials(refresh)
        await credentials.get_frozen_credentials()  # the first AssumeRole: a refused role fails here
        return credentials
