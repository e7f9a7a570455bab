"""Idempotent installs: build a directory once, again only when its recipe changes."""

import hashlib
import os
import shutil
import subprocess
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


def apt_install(package: str, missing: str, fix: str) -> None:
    """Install a Debian package; only root with apt-get can, others get `missing: fix` as the error."""
    if os.geteuid() != 0 or shutil.which("apt-get") is None:
        raise StackError(f"{missing}: {fix}")
    for argv in (
        ["apt-get", "update", "-qq"],
        ["apt-get", "install", "-y", "-qq", "--no-install-recommends", package],
    ):
        result = subprocess.run(
            argv, check=False, capture_output=True, text=True, env={**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
        )
        if result.returncode != 0:
            cause = (result.stderr.strip().splitlines() or [f"exit {result.returncode}"])[-1]
            raise StackError(f"`{' '.join(argv)}` failed ({cause}): {fix}")
