"""One TLS context for every AWS client of the process with the same verify settings.

aiobotocore builds a new ``ssl.SSLContext`` for each client's connection pool and loads the whole
CA bundle into it: about 45 ms of CPU per client, even for a plain-HTTP endpoint. An org-wide run
opens a HealthOmics client per target, so 50 targets spent over 2 s of CPU on the same context 50
times. A context only holds the verification settings (CA certificates, client certificate,
hostname checking); aiohttp itself shares one default context among all its connections, and an
``SSLContext`` is safe to share. :class:`SharedTlsHttpSession` builds it once per distinct set of
settings (``verify``, client certificate, and the files they name as they are now: a rotated CA
bundle or certificate makes a new one) and hands the same one to every client. A proxy's context,
which aiobotocore adjusts per proxy, is still built per client.

Clients opt in through their config (:func:`aio_config`, ``http_session_cls``).
"""

from __future__ import annotations

import os
import ssl
import threading
from typing import Any

from aiobotocore.config import AioConfig
from aiobotocore.httpsession import AIOHTTPSession

__all__ = ["SharedTlsHttpSession", "aio_config"]

_lock = threading.Lock()  # aiobotocore builds contexts in a worker thread
_contexts: dict[tuple[Any, ...], ssl.SSLContext] = {}


class SharedTlsHttpSession(AIOHTTPSession):  # type: ignore[misc]
    """aiobotocore's HTTP session, with the endpoint's TLS context built once per process."""

    def _build_ssl_contexts(self, proxy_url: str | None) -> tuple[ssl.SSLContext, ssl.SSLContext | None]:
        settings = tuple(getattr(self, name, _MISSING) for name in ("_verify", "_cert_file", "_key_file"))
        if proxy_url or _MISSING in settings:  # a proxy, or an aiobotocore that keeps them elsewhere
            built: tuple[ssl.SSLContext, ssl.SSLContext | None] = super()._build_ssl_contexts(proxy_url)
            return built
        # a CA bundle or client certificate rewritten in place (rotated) makes a new context
        settings += tuple(_identity(value) for value in settings)
        with _lock:
            context = _contexts.get(settings)
            if context is None:
                context = _contexts[settings] = super()._build_ssl_contexts(None)[0]
        return context, None


_MISSING = object()


def _identity(value: Any) -> tuple[int, int, int] | None:
    """A file setting's inode, size and modification time (None: not a file we can see)."""
    if not isinstance(value, str):
        return None
    try:
        st = os.stat(value)
    except OSError:
        return None
    return (st.st_ino, st.st_size, st.st_mtime_ns)


def aio_config(**options: Any) -> AioConfig:
    """A client config (botocore ``Config`` options) whose HTTP session shares the TLS context."""
    return AioConfig(http_session_cls=SharedTlsHttpSession, **options)
