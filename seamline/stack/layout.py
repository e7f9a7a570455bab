"""Where the local stack keeps its installs, data, pid files and logs."""

import os
from importlib.resources import files
from pathlib import Path

#: The templates and Maven POMs: the repository's deploy/local, installed in the package seamline.deploy
#: (pyproject.toml). pip installs it as files, so it is a directory whose paths Java, Maven and nginx can read.
DEPLOY_DIR = Path(str(files("seamline.deploy"))) / "local"

#: The address every service binds to: the stack is never reachable from outside.
HOST = "127.0.0.1"

DEFAULT_STATE_DIR = Path("/var/tmp/seamline")


def state_root() -> Path:
    """Where the state dir is (`SEAMLINE_STATE_DIR`, default /var/tmp/seamline), whether it exists or not."""
    return Path(os.environ.get("SEAMLINE_STATE_DIR") or DEFAULT_STATE_DIR).resolve()


def state_dir() -> Path:
    """The state dir (`state_root`), created if missing.

    It is world-traversable so that PostgreSQL, running as the `postgres` user, can
    reach its data directory and socket inside it.
    """
    root = state_root()
    if not root.is_dir():
        root.mkdir(parents=True)
        root.chmod(0o755)
    return root
