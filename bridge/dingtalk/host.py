"""This machine as the Stream gateway's ticket request describes it (§6.1): ``ua``, ``localIp``.

DingTalk's official SDKs send who they are (``dingtalk-sdk-python/v0.24.3-union``) and
the caller's own address. bridge does the same in the same shape, naming itself
(``USER_AGENT``: ``dingtalk-stream-bridge/v<version>``) rather than posing as an SDK.

``local_ip`` finds the address of the interface that routes outwards the way the
SDKs do, by "connecting" a UDP socket: that only asks the kernel for a route and sends
no packet. The probe address is from TEST-NET-1 (RFC 5737), which belongs to nobody.
It makes blocking calls (a socket, and reading the package version once), so async
code runs ``describe`` in a worker thread.
"""

from __future__ import annotations

import functools
import ipaddress
import socket
from dataclasses import dataclass
from importlib import metadata

__all__ = ["FALLBACK_IP", "Host", "describe", "local_ip", "user_agent"]

FALLBACK_IP = "127.0.0.1"

_PROBE = ("192.0.2.1", 9)


@dataclass(frozen=True, slots=True)
class Host:
    """What the ticket request says about its caller."""

    ua: str
    local_ip: str


@functools.cache
def user_agent() -> str:
    """``dingtalk-stream-bridge/v<version>``, the SDKs' ``ua`` format naming bridge."""
    try:
        version = metadata.version("bridge")
    except metadata.PackageNotFoundError:
        version = "0+unknown"
    return f"dingtalk-stream-bridge/v{version}"


def local_ip(probe: tuple[str, int] = _PROBE) -> str:
    """This machine's outward IPv4 address, or ``FALLBACK_IP`` when there is no route."""
    try:
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as udp:
            udp.connect(probe)  # a route lookup: UDP sends nothing on connect
            address = udp.getsockname()[0]
    except OSError:
        return FALLBACK_IP
    try:
        if ipaddress.IPv4Address(address).is_unspecified:
            return FALLBACK_IP
    except ValueError:
        return FALLBACK_IP
    return str(address)


def describe() -> Host:
    """The ``ua`` and ``localIp`` of a ticket request now (blocking: use a worker thread)."""
    return Host(ua=user_agent(), local_ip=local_ip())
