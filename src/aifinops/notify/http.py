"""POST JSON with the standard library, and sort the ways it fails into retry / do not retry."""

from __future__ import annotations

import hashlib
import hmac
import json
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from aifinops import __version__

#: HTTP statuses worth another try besides 5xx: request timeout and rate limiting.
RETRY_STATUSES = frozenset({408, 429})
_BODY_LIMIT = 65536
_AGENT = f"aifinops/{__version__}"


class SendError(Exception):
    """A try that failed. ``retryable`` says whether another try could succeed."""

    def __init__(
        self, reason: str, *, retryable: bool, status: int | None = None, output: str = ""
    ) -> None:
        super().__init__(reason)
        self.reason = reason
        self.retryable = retryable
        self.status = status  # HTTP status or exit code
        self.output = output  # what the server or program said


@dataclass(frozen=True)
class Response:
    status: int
    body: str


class _NoRedirect(urllib.request.HTTPRedirectHandler):
    """A webhook that redirects is misconfigured: urllib would resend a POST as a GET."""

    def redirect_request(self, *args: Any, **kwargs: Any) -> None:
        return None


_OPENER = urllib.request.build_opener(_NoRedirect)


def body_of(data: Any) -> bytes:
    """The canonical JSON bytes sent (and signed)."""
    return json.dumps(data, ensure_ascii=False, sort_keys=True, separators=(",", ":")).encode()


def signature_headers(secret: str, body: bytes, now: float | None = None) -> dict[str, str]:
    """``X-Aifinops-Timestamp`` and ``X-Aifinops-Signature: sha256=HMAC(secret, "ts." + body)``."""
    timestamp = str(int(time.time() if now is None else now))
    mac = hmac.new(secret.encode(), timestamp.encode() + b"." + body, hashlib.sha256)
    return {"X-Aifinops-Timestamp": timestamp, "X-Aifinops-Signature": f"sha256={mac.hexdigest()}"}


def post_json(url: str, body: bytes, headers: Mapping[str, str], timeout: float) -> Response:
    """POST ``body``; a 2xx answer is returned, anything else raises :class:`SendError`."""
    request = urllib.request.Request(url, data=body, method="POST")
    for name, value in {
        "Content-Type": "application/json",
        "User-Agent": _AGENT,
        **headers,
    }.items():
        request.add_header(name, value)
    try:
        with _OPENER.open(request, timeout=timeout) as answer:
            return Response(answer.status, _text(answer.read(_BODY_LIMIT)))
    except urllib.error.HTTPError as exc:
        raise _status_error(exc) from None
    except TimeoutError:
        raise SendError(f"no answer within {timeout:g} s", retryable=True) from None
    except urllib.error.URLError as exc:
        raise SendError(f"cannot reach {_host(url)}: {exc.reason}", retryable=True) from None
    except (ConnectionError, OSError) as exc:
        raise SendError(f"connection to {_host(url)} failed: {exc}", retryable=True) from None


def _status_error(exc: urllib.error.HTTPError) -> SendError:
    status = exc.code
    detail = _text(exc.read(2000)).strip() if exc.fp is not None else ""
    reason = f"HTTP {status} {exc.reason}" + (f": {detail[:300]}" if detail else "")
    if 300 <= status < 400:
        reason += f" (redirected to {exc.headers.get('Location')}; configure that URL)"
    retryable = status >= 500 or status in RETRY_STATUSES
    return SendError(reason, retryable=retryable, status=status, output=detail)


def _text(data: bytes) -> str:
    return data.decode("utf-8", errors="replace")


def _host(url: str) -> str:
    """The scheme and host of a URL, never its path (which may hold a secret token)."""
    parts = urllib.parse.urlsplit(url)
    return f"{parts.scheme}://{parts.netloc}"
