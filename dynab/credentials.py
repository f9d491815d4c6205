"""Demo credentials for the embedded console: an operator and an analyst (``dynab run``).

The passwords are generated once per data folder and kept beside the secrets file that holds
their bcrypt hashes, under the data folder (``.dynab/`` is never committed), so that restarting
``dynab run`` keeps them. Both files are readable by their owner only (0600). ``dynab run``
prints where the passwords are, never the passwords: its output ends up in logs.
"""

from __future__ import annotations

import json
import os
import secrets
from pathlib import Path

from console.auth import Role, hash_password

DEMO_USERS = {"operator": Role.OPERATOR, "analyst": Role.ANALYST}


def ensure_demo_credentials(folder: Path) -> tuple[Path, dict[str, str]]:
    """Write (or reuse) ``folder/secrets.toml`` with the demo users.

    Returns the secrets file and the plain demo passwords by user name.
    """
    folder.mkdir(parents=True, exist_ok=True)
    plain = passwords_file(folder)
    secrets_file = folder / "secrets.toml"
    passwords: dict[str, str] = {}
    if plain.exists():
        passwords = json.loads(plain.read_text())
    if set(passwords) != set(DEMO_USERS) or not secrets_file.exists():
        passwords = {name: secrets.token_urlsafe(9) for name in DEMO_USERS}
        lines = ["# dynab demo users, written by `dynab run`; never commit this file.", ""]
        for name, role in DEMO_USERS.items():
            lines += [
                f"[auth.users.{name}]",
                f'password_hash = "{hash_password(passwords[name])}"',
                f'role = "{role.value}"',
                "",
            ]
        _write_private(secrets_file, "\n".join(lines))
        _write_private(plain, json.dumps(passwords, indent=2))
    return secrets_file, passwords


def _write_private(path: Path, text: str) -> None:
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as handle:
        handle.write(text)


def passwords_file(folder: Path) -> Path:
    """Where the demo users' plain passwords are kept (mode 0600)."""
    return folder / "demo-passwords.json"


def demo_users_note(folder: Path) -> str:
    """The line ``dynab run`` prints about the demo users: where to read the passwords."""
    names = " and ".join(DEMO_USERS)
    return (
        f"demo users {names}: their passwords are in {passwords_file(folder)} "
        "(readable only by you)"
    )
