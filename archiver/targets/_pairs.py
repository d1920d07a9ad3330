"""Which archived account-region goes to which destination: ``restore``/``drill`` ``--targets``.

A platform team migrating an organization (or drilling every account's archive into a sandbox)
writes two files it already knows: a targets file of the *destination* accounts and regions, with
the roles to assume there (``schemas/targets.schema.json``, as for ``backup``), and the restore
mapping (``schemas/restore-mapping.schema.json``), the one place that says which source account and
region become which (its ``accounts`` and ``regions`` maps also move the ECR references). Every
account-region the store holds snapshots of goes to ``(accounts[account], regions[region])``,
each unmapped value staying as it is; a destination is restored from every source that maps to it.

What cannot be right is refused before the first AWS call (:class:`~archiver._errors.UsageError`):
nothing archived maps to any destination, or, when no ``--account``/``--source-region`` filter
narrows the sources, a destination of the file that nothing maps to (a typo in the mapping would
otherwise leave an account behind while the run reports success). Sources whose destination is
not in the file are returned as :attr:`Pairing.unmatched`, for the summary to name.
"""

from __future__ import annotations

import contextlib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from .. import _layout
from .._errors import UsageError
from .._snapshot import list_snapshot_keys
from ..store import Store
from ._model import Target

__all__ = [
    "Destination",
    "Pairing",
    "Source",
    "archived_sources",
    "chosen_sources",
    "into_one",
    "pair_sources",
]


@dataclass(frozen=True, order=True)
class Source:
    """An account and region the store holds snapshots of."""

    partition: str
    account: str
    region: str

    @property
    def key(self) -> str:
        return f"{self.account}/{self.region}"


@dataclass(frozen=True, kw_only=True)
class Destination:
    """A destination target and the sources restored into it, in order."""

    target: Target
    sources: tuple[Source, ...]


@dataclass(frozen=True, kw_only=True)
class Pairing:
    destinations: tuple[Destination, ...]
    # archived sources whose destination (account, region) is not in the targets file
    unmatched: tuple[tuple[Source, str, str], ...] = ()


async def archived_sources(store: Store) -> list[Source]:
    """Every (partition, account, region) the store holds a snapshot of, sorted."""
    found: set[Source] = set()
    for key in await list_snapshot_keys(store):
        with contextlib.suppress(ValueError):  # a stray object is not a source
            p = _layout.parse_snapshot_key(key)
            found.add(Source(p.partition, p.account, p.region))
    return sorted(found)


def chosen_sources(sources: Sequence[Source], account: str | None, region: str | None) -> list[Source]:
    """The sources ``--account`` and ``--source-region`` leave (all of them without either)."""
    return [s for s in sources if account in (None, s.account) and region in (None, s.region)]


def into_one(
    sources: Sequence[Source], target: Target, *, account: str | None = None, source_region: str | None = None
) -> Pairing:
    """Every source the filters leave, into the one ``target``: ``drill`` across a store without
    ``--targets`` (the sandbox the AWS options reach)."""
    return pair_sources(
        sources,
        [target],
        accounts={s.account: target.account for s in sources},
        regions={s.region: target.region for s in sources},
        account=account,
        source_region=source_region,
        where=f"the sandbox {target.key}",
    )


def pair_sources(
    sources: Sequence[Source],
    destinations: Sequence[Target],
    *,
    accounts: Mapping[str, str],
    regions: Mapping[str, str],
    account: str | None = None,
    source_region: str | None = None,
    where: str = "--targets",
) -> Pairing:
    """Each destination with the sources that map to it (see the module docstring)."""
    if not sources:
        raise UsageError("the store holds no snapshot: nothing to restore")
    held = ", ".join(s.key for s in sources)
    chosen = chosen_sources(sources, account, source_region)
    if not chosen:
        raise UsageError(
            f"the store holds no snapshot of {_filter_text(account, source_region)}; it holds {held}"
        )
    by_key = {(t.account, t.region): t for t in destinations}
    into: dict[tuple[str, str], list[Source]] = {}
    unmatched: list[tuple[Source, str, str]] = []
    for s in chosen:
        dest = (accounts.get(s.account, s.account), regions.get(s.region, s.region))
        if dest in by_key:
            into.setdefault(dest, []).append(s)
        else:
            unmatched.append((s, *dest))
    if not into:
        raise UsageError(
            f"{where}: no archived account-region maps to any of its destinations "
            f"({', '.join(t.key for t in destinations)}); the store holds {held}, which the mapping "
            f"sends to {', '.join(f'{a}/{r}' for _, a, r in unmatched)}"
        )
    if account is None and source_region is None:
        empty = [t.key for t in destinations if (t.account, t.region) not in into]
        if empty:
            raise UsageError(
                f"{where}: nothing archived maps to {', '.join(empty)} (the store holds {held}); fix the "
                "mapping's accounts/regions, or narrow the sources with --account/--source-region"
            )
    return Pairing(
        destinations=tuple(
            Destination(target=t, sources=tuple(into[(t.account, t.region)]))
            for t in destinations
            if (t.account, t.region) in into
        ),
        unmatched=tuple(unmatched),
    )


def _filter_text(account: str | None, region: str | None) -> str:
    parts = [f"account {account}" if account else "", f"region {region}" if region else ""]
    return " in ".join(p for p in parts if p)
