"""Real servers on loopback for tests: Dovecot (IMAP) and aiosmtpd (SMTP).

Each module offers a plain class usable from any test and pytest fixture functions
that ``tests/conftest.py`` imports.
"""

import shutil
import socket
import subprocess
from pathlib import Path


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on right now."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def self_signed_certificate(directory: Path) -> tuple[Path, Path]:
    """A throw-away certificate for localhost/127.0.0.1 (~80 ms); clients trust it as a CA."""
    openssl = shutil.which("openssl")
    if not openssl:
        raise RuntimeError("openssl not found; install it with: apt-get install -y openssl")
    cert, key = directory / "cert.pem", directory / "key.pem"
    subprocess.run(
        [openssl, "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-subj", "/CN=localhost",
         "-addext", "subjectAltName=DNS:localhost,IP:127.0.0.1", "-days", "2",
         "-keyout", str(key), "-out", str(cert)],
        check=True, capture_output=True,
    )
    key.chmod(0o600)
    return cert, key
