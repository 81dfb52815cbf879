"""Webhook targets (services.notify.targets): public addresses only, unless allow-listed."""

from __future__ import annotations

import pytest

from services.notify.targets import TargetRefused, allow_list, check_target, public


@pytest.mark.parametrize(
    "url",
    [
        "http://127.0.0.1:15432/",
        "http://169.254.169.254/latest/meta-data/",
        "http://10.0.0.5/hook",
        "http://[::1]:8080/",
        "http://[::ffff:127.0.0.1]/",
        "http://localhost/hook",
        "http://0.0.0.0/",
        "ftp://example.com/",
        "http:///nohost",
    ],
)
async def test_private_loopback_and_metadata_targets_are_refused(url: str) -> None:
    with pytest.raises(TargetRefused):
        await check_target(url, frozenset())


async def test_an_admin_may_allow_list_a_host() -> None:
    await check_target("http://127.0.0.1:9000/hook", allow_list(" 127.0.0.1 , intranet.local"))
    with pytest.raises(TargetRefused):
        await check_target("http://127.0.0.2:9000/hook", allow_list("127.0.0.1"))


def test_public_means_globally_routable() -> None:
    assert public("93.184.216.34") and public("2606:2800:220:1:248:1893:25c8:1946")
    for address in (
        "127.0.0.1",
        "10.1.2.3",
        "172.16.0.1",
        "192.168.1.1",
        "169.254.169.254",
        "::1",
        "fe80::1%eth0",
        "::ffff:10.0.0.1",
        "100.64.0.1",
        "224.0.0.1",
    ):
        assert not public(address), address
