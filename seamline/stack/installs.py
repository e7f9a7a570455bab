"""Idempotent installs: build a directory once, again only when its recipe changes."""

import hashlib
import shutil
from collections.abc import Callable
from pathlib import Path

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
