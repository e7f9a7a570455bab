"""apt_install on a fresh machine: services install in parallel, apt takes one command at a time."""

from __future__ import annotations

import os
import threading
from pathlib import Path

import pytest

from seamline.stack import StackError, installs

# Fails the first time with apt's lock error, as when an unattended upgrade runs; notes any overlap.
FAKE_APT = """#!/bin/sh
mkdir "{dir}/running" 2>/dev/null || {{ echo overlap >> "{dir}/log"; }}
echo "$*" >> "{dir}/log"
sleep 0.05
rmdir "{dir}/running"
if [ ! -e "{dir}/locked-once" ]; then
  touch "{dir}/locked-once"
  echo "E: Could not get lock /var/lib/apt/lists/lock. It is held by process 1 (apt-get)" >&2
  exit 100
fi
case "$*" in *broken*) echo "E: Unable to locate package broken" >&2; exit 100;; esac
"""


@pytest.fixture
def fake_apt(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    script = tmp_path / "apt-get"
    script.write_text(FAKE_APT.format(dir=tmp_path))
    script.chmod(0o755)
    monkeypatch.setenv("PATH", f"{tmp_path}{os.pathsep}{os.environ['PATH']}")
    monkeypatch.setattr(os, "geteuid", lambda: 0)
    monkeypatch.setattr(installs, "_APT_RETRY_S", 0.05)
    return tmp_path / "log"


def test_parallel_installs_run_one_apt_command_at_a_time_and_wait_out_a_held_lock(fake_apt: Path) -> None:
    packages = ["postgresql", "prometheus", "mariadb-server"]
    threads = [threading.Thread(target=installs.apt_install, args=(name, "missing", "fix")) for name in packages]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    calls = fake_apt.read_text().splitlines()
    assert "overlap" not in calls
    installed = [call.split()[-1] for call in calls if call.startswith("install")]
    assert sorted(installed) == sorted(packages)
    assert calls.count("update -qq") == 4  # one refused by the lock, then one per package


def test_an_apt_failure_other_than_the_lock_is_one_clear_error(fake_apt: Path) -> None:
    installs.apt_install("curl", "missing", "fix")  # takes the one lock refusal
    with pytest.raises(
        StackError,
        match=r"`apt-get install -y -qq --no-install-recommends broken` failed "
        r"\(E: Unable to locate package broken\): install it",
    ):
        installs.apt_install("broken", "broken not found", "install it")
