"""Clients of the process share one TLS context per verify setting (archiver._tls)."""

from __future__ import annotations

import ssl
from pathlib import Path
from typing import Any

from aiobotocore.session import AioSession
from botocore.httpsession import get_cert_path

from archiver._tls import aio_config


async def _context(session: AioSession, verify: Any) -> ssl.SSLContext:
    async with session.create_client(
        "omics", region_name="us-east-1", aws_access_key_id="a", aws_secret_access_key="b",
        endpoint_url="https://127.0.0.1:1", config=aio_config(), verify=verify,
    ) as client:  # fmt: skip
        connector = await client._endpoint.http_session._create_connector(None)
        try:
            context = connector._ssl
        finally:
            await connector.close()
    assert isinstance(context, ssl.SSLContext)
    return context


async def test_clients_with_the_same_verify_setting_share_one_context() -> None:
    session = AioSession()
    first, second = await _context(session, None), await _context(session, None)
    assert first is second
    assert first.verify_mode == ssl.CERT_REQUIRED and first.check_hostname
    unverified = await _context(session, False)
    assert unverified is not first
    assert unverified.verify_mode == ssl.CERT_NONE and not unverified.check_hostname
    bundle = await _context(session, get_cert_path(True))
    assert bundle is not first and bundle is await _context(session, get_cert_path(True))
    assert bundle.verify_mode == ssl.CERT_REQUIRED and bundle.cert_store_stats()["x509_ca"] > 0


def _write_bundle(bundle: Path, extra: bytes = b"") -> None:
    bundle.write_bytes(Path(get_cert_path(True)).read_bytes() + extra)


async def test_a_ca_bundle_rewritten_in_place_makes_a_new_context(tmp_path: Path) -> None:
    session = AioSession()
    bundle = tmp_path / "ca.pem"
    _write_bundle(bundle)
    before = await _context(session, str(bundle))
    assert before is await _context(session, str(bundle))
    _write_bundle(bundle, b"\n")  # rotated: same path, another file
    assert await _context(session, str(bundle)) is not before
