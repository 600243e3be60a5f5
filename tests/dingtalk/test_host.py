"""Tests for bridge.dingtalk.host: the ``ua`` and ``localIp`` of a Stream ticket request."""

from __future__ import annotations

import ipaddress
import re
import socket

from bridge.dingtalk import host


def test_user_agent_names_bridge_in_the_sdks_format() -> None:
    """The ua is `dingtalk-stream-bridge/v<version>`, shaped like the SDK's, naming bridge."""
    ua = host.user_agent()
    assert re.fullmatch(r"dingtalk-stream-bridge/v\d+\.\d+\.\d+\S*", ua), ua
    assert "sdk" not in ua


def test_local_ip_is_this_machines_outward_address() -> None:
    """local_ip is an IPv4 address of this machine, the one a UDP socket would send from."""
    address = host.local_ip()
    assert ipaddress.IPv4Address(address)
    # It is bindable here, so it belongs to one of this machine's interfaces.
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as udp:
        udp.bind((address, 0))


def test_local_ip_falls_back_to_loopback_without_a_route() -> None:
    """A probe the kernel refuses to route (broadcast, no SO_BROADCAST) gives 127.0.0.1."""
    assert host.local_ip(("255.255.255.255", 9)) == host.FALLBACK_IP


def test_describe_pairs_the_two() -> None:
    """describe() is what a ticket request sends: the ua and the local address."""
    assert host.describe() == host.Host(ua=host.user_agent(), local_ip=host.local_ip())
