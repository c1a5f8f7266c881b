"""The systemd unit: Type=notify with a watchdog, its own user and directories, hardened —
and rated by systemd-analyze itself where it is installed."""

from __future__ import annotations

import re
import shutil
import subprocess

import pytest

from tests.conftest import REPO

UNIT = REPO / "systemd" / "school-inbox.service"
MAX_EXPOSURE = 2.0


def unit_settings() -> dict[str, list[str]]:
    """Key -> every value it is given in [Service] (systemd keys may repeat)."""
    settings: dict[str, list[str]] = {}
    section = ""
    for line in UNIT.read_text().splitlines():
        line = line.strip()
        if not line or line.startswith(("#", ";")):
            continue
        if line.startswith("["):
            section = line
            continue
        if section == "[Service]":
            key, _, value = line.partition("=")
            settings.setdefault(key, []).append(value)
    return settings


def test_the_service_notifies_readiness_and_is_watched():
    service = unit_settings()
    assert service["Type"] == ["notify"]
    assert service["ExecReload"] == ["/bin/kill -HUP $MAINPID"]
    assert service["Restart"] == ["on-failure"]
    assert re.fullmatch(r"\d+s", service["WatchdogSec"][0])
    assert service["ExecStart"][0].endswith(" run")


def test_the_service_runs_as_its_own_user_in_its_own_directories():
    service = unit_settings()
    assert service["User"] == service["Group"] == ["school-inbox"]
    for key in ("StateDirectory", "ConfigurationDirectory", "LogsDirectory"):
        assert service[key] == ["school-inbox"], key
    sysusers = (REPO / "systemd" / "school-inbox.sysusers").read_text()
    assert re.search(r"^u school-inbox ", sysusers, re.MULTILINE)


@pytest.mark.parametrize(("key", "value"), [
    ("NoNewPrivileges", "yes"), ("ProtectSystem", "strict"), ("ProtectHome", "yes"),
    ("PrivateTmp", "yes"), ("PrivateDevices", "yes"), ("CapabilityBoundingSet", ""),
    ("RestrictAddressFamilies", "AF_INET AF_INET6 AF_UNIX"),
    ("SystemCallFilter", "@system-service"), ("RestrictNamespaces", "yes"),
    ("MemoryDenyWriteExecute", "yes"), ("UMask", "0077"),
])
def test_the_service_is_hardened(key, value):
    assert value in unit_settings()[key]


@pytest.mark.skipif(shutil.which("systemd-analyze") is None,
                    reason="systemd-analyze is not installed (apt-get install -y systemd)")
def test_systemd_analyze_rates_the_exposure_at_most_2():
    done = subprocess.run(
        ["systemd-analyze", "security", "--offline=yes", str(UNIT)],
        capture_output=True, text=True, timeout=60)
    found = re.search(r"Overall exposure level for school-inbox\.service: (\d+\.\d+)",
                      done.stdout)
    assert found, done.stdout[-2000:] + done.stderr
    assert float(found.group(1)) <= MAX_EXPOSURE, done.stdout
