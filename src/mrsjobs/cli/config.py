"""What ``mrsjobs login`` keeps for the client commands: the endpoint, project, cluster
and token, in ``$XDG_CONFIG_HOME/mrsjobs/config.json`` (``~/.config/mrsjobs/`` by
default), readable by its owner alone. No password is kept: when the token expires,
the commands say to log in again."""

from __future__ import annotations

import json
import os
from dataclasses import asdict, dataclass, fields
from pathlib import Path


def config_path() -> Path:
    base = os.environ.get("XDG_CONFIG_HOME") or str(Path.home() / ".config")
    return Path(base) / "mrsjobs" / "config.json"


@dataclass(frozen=True, slots=True)
class ClientConfig:
    endpoint: str = ""
    project: str = ""
    cluster: str = ""
    token: str = ""
    #: Who logged in (empty for a token given as is), and until when the token holds.
    user: str = ""
    expires_at: str = ""


def load() -> ClientConfig:
    """The kept configuration; an empty one if there is none (or it cannot be read)."""
    try:
        raw = json.loads(config_path().read_text())
    except (OSError, ValueError):
        return ClientConfig()
    known = {f.name for f in fields(ClientConfig)}
    if not isinstance(raw, dict):
        return ClientConfig()
    return ClientConfig(**{k: str(v) for k, v in raw.items() if k in known and v is not None})


def save(config: ClientConfig) -> Path:
    """Write ``config``: the folder mode 0700, the file 0600 from its first byte on."""
    path = config_path()
    path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
    os.chmod(path.parent, 0o700)
    fresh = path.with_suffix(".tmp")
    fd = os.open(fresh, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as f:
        os.fchmod(f.fileno(), 0o600)  # whatever the umask or an older file said
        json.dump(asdict(config), f, indent=2)
        f.write("\n")
    os.replace(fresh, path)
    return path
