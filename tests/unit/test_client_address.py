"""handlers.proxies.client_address: X-Forwarded-For counts only from trusted proxies."""

import ipaddress

from handlers.proxies import client_address

PROXIES = (ipaddress.ip_network("10.0.0.0/8"), ipaddress.ip_network("127.0.0.1/32"))


def test_without_trusted_proxies_the_peer_is_the_client():
    assert client_address("10.1.2.3", "203.0.113.9", ()) == "10.1.2.3"


def test_an_untrusted_peer_cannot_claim_another_address():
    assert client_address("198.51.100.4", "203.0.113.9", PROXIES) == "198.51.100.4"


def test_the_right_most_untrusted_hop_is_the_client():
    # The client made up "1.1.1.1"; nginx (10.0.0.5) appended what it saw, 203.0.113.9.
    assert client_address("10.0.0.5", "1.1.1.1, 203.0.113.9, 10.0.0.7", PROXIES) == "203.0.113.9"


def test_a_garbled_header_is_ignored():
    assert client_address("10.0.0.5", "203.0.113.9, not-an-ip", PROXIES) == "10.0.0.5"
    assert client_address("10.0.0.5", "", PROXIES) == "10.0.0.5"


def test_ipv6_works():
    assert client_address("127.0.0.1", "2001:db8::1", PROXIES) == "2001:db8::1"
