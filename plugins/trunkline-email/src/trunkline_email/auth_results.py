"""Authenticity: SPF, DKIM and DMARC results, from a trusted Authentication-Results header
(RFC 8601) or from DKIM verified here with dkimpy.

Anyone can write an ``Authentication-Results`` header, so only those whose authserv-id is one
the settings trust (the receiving MTA's, e.g. ``mx.cc.example.com``) are read; others are
ignored. :func:`verdict` turns the results into the contact attributes routing reads:
``email_spf``, ``email_dkim``, ``email_dmarc`` (``pass``, ``fail``, ``none``, …) and
``email_suspected_spoof`` (true when DMARC failed, or SPF failed with no passing DKIM).
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Mapping
from typing import Any

from .parse import ParsedMail

__all__ = ["authentication_results", "dkim_verify", "verdict"]

METHODS = ("spf", "dkim", "dmarc")
_RESULT = re.compile(r"(?:^|;)\s*(spf|dkim|dmarc)\s*=\s*([A-Za-z]+)", re.IGNORECASE)
_COMMENT = re.compile(r"\([^()]*\)")
_RANK = {"pass": 0, "fail": 5, "softfail": 4, "permerror": 3, "temperror": 2, "neutral": 1}


def _authserv_id(value: str) -> str:
    head = _COMMENT.sub("", value).split(";", 1)[0].strip()
    return head.split()[0].lower() if head.split() else ""


def authentication_results(mail: ParsedMail, trusted: Iterable[str]) -> dict[str, str]:
    """``{"spf": "pass", "dkim": "fail", …}`` from headers whose authserv-id is trusted.

    With several DKIM signatures one pass is enough (``pass`` wins); otherwise the worst
    result counts. Methods no trusted header mentions are absent.
    """
    trusted_ids = {t.lower() for t in trusted}
    found: dict[str, str] = {}
    if not trusted_ids:
        return found
    for value in mail.all("authentication-results"):
        if _authserv_id(value) not in trusted_ids:
            continue
        for method, result in _RESULT.findall(_COMMENT.sub("", value)):
            method, result = method.lower(), result.lower()
            old = found.get(method)
            if old is None or (
                old != "pass" and (result == "pass" or _RANK.get(result, 0) > _RANK.get(old, 0))
            ):
                found[method] = result
    return found


DnsFunc = Callable[..., Any]


def dkim_verify(raw: bytes, dnsfunc: DnsFunc | None = None) -> str:
    """Verify the message's DKIM signatures with dkimpy: ``pass``, ``fail`` or ``none``.

    ``dnsfunc`` answers the key look-up (tests hand in the public key); the default asks DNS.
    """
    import dkim  # type: ignore[import-untyped]  # dkimpy: only when verify_dkim is set

    if b"dkim-signature:" not in raw[:65536].lower():
        return "none"
    try:
        kwargs: dict[str, Any] = {} if dnsfunc is None else {"dnsfunc": dnsfunc}
        return "pass" if dkim.verify(raw, **kwargs) else "fail"
    except Exception:
        return "fail"


def verdict(results: Mapping[str, str]) -> dict[str, Any]:
    """Contact attributes from the results: one per method, and the spoof suspicion."""
    attributes: dict[str, Any] = {f"email_{m}": results.get(m, "none") for m in METHODS}
    dmarc, spf, dkim = (results.get(m, "none") for m in ("dmarc", "spf", "dkim"))
    attributes["email_suspected_spoof"] = dmarc == "fail" or (
        spf in ("fail", "softfail") and dkim != "pass"
    )
    return attributes
