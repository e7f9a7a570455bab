"""Idempotent installs: build a directory once, again only when its recipe changes."""

import hashlib
import os
import shutil
import subprocess
import threading
import time
from collections.abc import Callable
from pathlib import Path

from seamline.stack.errors import StackError

STAMP = ".recipe-sha256"


def install_once(target: Path, recipe: Path, build: Callable[[Path], None]) -> Path:
    """Fill target with build(staging_dir) unless it was built from this exact recipe.

    The build runs in a sibling staging dir that replaces target only when complete,
    so an interrupted download never leaves a half-installed service behind.
    """
    digest = hashlib.sha256(recipe.read_bytes()).hexdigest()
    stamp = target / STAMP
    if stamp.is_file() and stamp.read_text() == digest:
        return target
    staging = target.with_name(target.name + ".partial")
    shutil.rmtree(staging, ignore_errors=True)
    staging.mkdir(parents=True)
    build(staging)
    (staging / STAMP).write_text(digest)
    shutil.rmtree(target, ignore_errors=True)
    staging.rename(target)
    return target


_APT = threading.Lock()  # services install in parallel; apt takes one command at a time
_APT_LOCK_WAIT_S = 600.0
_APT_RETRY_S = 2.0
_LOCK_ERRORS = ("could not get lock", "unable to lock", "unable to acquire the dpkg frontend lock")


def apt_install(package: str, missing: str, fix: str) -> None:
    """Install a Debian package; only root with apt-get can, others get `missing: fix` as the error."""
    if os.geteuid() != 0 or shutil.which("apt-get") is None:
        raise StackError(f"{missing}: {fix}")
    with _APT:
        for argv in (
            ["apt-get", "update", "-qq"],
            ["apt-get", "install", "-y", "-qq", "--no-install-recommends", package],
        ):
            _apt(argv, fix)


def _apt(argv: list[str], fix: str) -> None:
    """Run one apt-get command, waiting while another process (an unattended upgrade) holds apt's locks."""
    deadline = time.monotonic() + _APT_LOCK_WAIT_S
    while True:
        result = subprocess.run(
            argv, check=False, capture_output=True, text=True, env={**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
        )
        if result.returncode == 0:
            return
        cause = (result.stderr.strip().splitlines() or [f"exit {result.returncode}"])[-1]
        if not any(error in cause.lower() for error in _LOCK_ERRORS) or time.monotonic() > deadline:
            raise StackError(f"`{' '.join(argv)}` failed ({cause}): {fix}")
        time.sleep(_APT_RETRY_S)
