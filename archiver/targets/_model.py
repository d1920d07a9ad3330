"""What one target of an org-wide backup is: an account, a region, and the role to reach it.

A target is the unit of everything per account-region: the credentials (one AssumeRole per
account and role, shared by its regions), the pacers (quotas are per account and region), the
backup lock and the snapshot. The targets file (``_file``), AWS Organizations (``_organization``)
and the shard selection (``_shard``) all produce or filter tuples of :class:`Target`.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

from .._aws import partition_of

__all__ = ["SESSION_NAME", "Filters", "Target", "role_arn_for"]

SESSION_NAME = "omics-archiver"
"""The RoleSessionName of every AssumeRole: CloudTrail in the member accounts shows who it was."""


@dataclass(frozen=True, kw_only=True)
class Filters:
    """Which workflows of a target to back up (none given: all, and the snapshot is complete)."""

    workflow_ids: tuple[str, ...] = ()
    names: tuple[str, ...] = ()
    tags: Mapping[str, str] = field(default_factory=dict)

    def __hash__(self) -> int:
        return hash((self.workflow_ids, self.names, tuple(sorted(self.tags.items()))))


@dataclass(frozen=True, kw_only=True)
class Target:
    """One account and region; ``role_arn`` ``None`` means the base credentials themselves."""

    account: str
    region: str
    role_arn: str | None = None
    external_id: str | None = None
    name: str = ""
    filters: Filters = field(default_factory=Filters)
    tags: Mapping[str, str] = field(default_factory=dict)

    def __hash__(self) -> int:
        return hash((self.account, self.region, self.role_arn))

    @property
    def key(self) -> str:
        """``account/region``: what the shard hash, the summary and log lines name it by."""
        return f"{self.account}/{self.region}"


def role_arn_for(account: str, role: str, region: str) -> str:
    """``role`` as an ARN: an ARN as given, a name as ``arn:<partition>:iam::<account>:role/<name>``."""
    if role.startswith("arn:"):
        return role
    return f"arn:{partition_of(region)}:iam::{account}:role/{role}"
