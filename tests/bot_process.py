"""``examples/webhook_bot.py`` run as a real process on 127.0.0.1, and the tokens it checks.

``serving(folder)`` serves a folder over HTTP (Python's ``http.server``, a real
process on 127.0.0.1) as a stand-in for Graph's published OpenID configuration and keys.

``running_bot(...)`` starts the bot with ``--port 0``, reads the port from its
first stdout line (bounded), and stops it on exit (SIGTERM, then SIGKILL).
``graph_standin(record, mode)`` runs ``tests/graph_standin.py`` (a stand-in
for the sign-in service and Graph's ``/transfer``, a real process on 127.0.0.1)
and stops it on exit.
``Signer`` is a test's own RSA key pair and key set file: it signs callback
tokens the way Graph does (RS256, ``kid`` in the header), and forges the ones
the bot must refuse.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import os
import selectors
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import jwt
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

HOST = "127.0.0.1"
BOT = Path(__file__).resolve().parent.parent / "examples" / "webhook_bot.py"
STANDIN = Path(__file__).resolve().parent / "graph_standin.py"
APP_ID = "0b5f3a9c-6d1e-4c2b-9f7a-2e8d4c6b1a30"
ISSUER = "https://api.botframework.com"
TENANT = "72f988bf-86f1-41af-91ab-2d7cd011db47"
START_TIMEOUT = 15.0  # seconds for the bot to print where it listens
STOP_TIMEOUT = 5.0  # seconds for it to exit on SIGTERM before it is killed


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def _segment(data: dict[str, Any]) -> str:
    return _b64(json.dumps(data, separators=(",", ":")).encode())


def new_key() -> rsa.RSAPrivateKey:
    """A fresh 2048-bit RSA key."""
    return rsa.generate_private_key(public_exponent=65537, key_size=2048)


@dataclass
class Signer:
    """An RSA key pair whose public half is published, as a key set, under ``kid``."""

    kid: str = "test-key-1"
    key: rsa.RSAPrivateKey = field(default_factory=new_key)

    def jwks(self) -> dict[str, Any]:
        """The JSON Web Key Set publishing the public key."""
        public: dict[str, Any] = json.loads(
            jwt.algorithms.RSAAlgorithm.to_jwk(self.key.public_key())
        )
        public.update(kid=self.kid, use="sig", alg="RS256")
        return {"keys": [public]}

    def write_jwks(self, path: Path) -> Path:
        """Write :meth:`jwks` to ``path``; return it."""
        path.write_text(json.dumps(self.jwks()), encoding="utf-8")
        return path

    def claims(self, **changes: Any) -> dict[str, Any]:
        """Graph's claims for this bot, valid for ten minutes; a change of None drops a claim."""
        now = int(time.time())
        claims = {"aud": APP_ID, "iss": ISSUER, "tid": TENANT, "iat": now, "nbf": now}
        claims["exp"] = now + 600
        claims.update(changes)
        return {name: value for name, value in claims.items() if value is not None}

    def token(
        self, key: rsa.RSAPrivateKey | None = None, kid: str | None = "", **changes: Any
    ) -> str:
        """An RS256 token, signed with ``key`` (default ours) and naming ``kid`` (default ours)."""
        headers = {} if kid is None else {"kid": kid or self.kid}
        return jwt.encode(self.claims(**changes), key or self.key, "RS256", headers=headers)

    def unsigned(self) -> str:
        """A token with ``alg: none`` and no signature."""
        header = {"alg": "none", "typ": "JWT", "kid": self.kid}
        return f"{_segment(header)}.{_segment(self.claims())}."

    def hs256_with_public_key(self) -> str:
        """A token HMAC-signed with the public key's PEM as the secret (key confusion)."""
        pem = self.key.public_key().public_bytes(
            serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
        )
        header = {"alg": "HS256", "typ": "JWT", "kid": self.kid}
        signed = f"{_segment(header)}.{_segment(self.claims())}"
        signature = hmac.new(pem, signed.encode(), hashlib.sha256).digest()
        return f"{signed}.{_b64(signature)}"

    def tampered(self) -> str:
        """Our valid token with its claims changed after signing (exp a day later)."""
        header, _, signature = self.token().split(".")
        claims = self.claims(exp=int(time.time()) + 86_400)
        return f"{header}.{_segment(claims)}.{signature}"


@dataclass
class RunningBot:
    """A bot process and where it listens."""

    process: subprocess.Popen[bytes]
    port: int
    log: Path

    @property
    def url(self) -> str:
        """Its base URL."""
        return f"http://{HOST}:{self.port}"

    def log_lines(self) -> list[dict[str, Any]]:
        """Every complete JSON line it has logged so far."""
        text = self.log.read_text(encoding="utf-8") if self.log.exists() else ""
        return [json.loads(line) for line in text.splitlines(keepends=True) if line.endswith("\n")]

    def kill(self) -> None:
        """SIGKILL: no cleanup, no last log line."""
        self.process.send_signal(signal.SIGKILL)
        self.process.wait(STOP_TIMEOUT)


def first_line(process: subprocess.Popen[bytes], timeout: float = START_TIMEOUT) -> bytes:
    """The first line the process writes to stdout, waiting at most ``timeout`` seconds."""
    assert process.stdout is not None
    deadline = time.monotonic() + timeout
    with selectors.DefaultSelector() as selector:
        selector.register(process.stdout, selectors.EVENT_READ)
        while time.monotonic() < deadline:
            if selector.select(timeout=deadline - time.monotonic()):
                line = process.stdout.readline()
                if line:
                    return line
                break  # it exited
    raise RuntimeError(f"no first line from {process.args!r} (exit status {process.poll()})")


def _listening_port(process: subprocess.Popen[bytes]) -> int:
    """The port from the bot's first stdout line."""
    return int(json.loads(first_line(process))["port"])


def stop(process: subprocess.Popen[bytes]) -> None:
    """SIGTERM, then SIGKILL if it has not exited in STOP_TIMEOUT."""
    if process.poll() is None:
        process.terminate()
        try:
            process.wait(STOP_TIMEOUT)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(STOP_TIMEOUT)
    if process.stdout is not None:
        process.stdout.close()


@contextmanager
def running_bot(db: Path, log: Path, *options: str) -> Iterator[RunningBot]:
    """Run the bot on a free 127.0.0.1 port with ``--db db --log log``; stop it on exit.

    ``options`` are more of its arguments (``--jwks FILE`` or ``--openid URL``).
    """
    command = [sys.executable, str(BOT), "--host", HOST, "--port", "0", "--db", str(db)]
    command += ["--app-id", APP_ID, "--log", str(log), *options]
    environment = {**os.environ, "no_proxy": HOST, "NO_PROXY": HOST}
    process = subprocess.Popen(
        command, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, env=environment
    )
    try:
        yield RunningBot(process, _listening_port(process), log)
    finally:
        stop(process)


@contextmanager
def serving(folder: Path) -> Iterator[str]:
    """Serve ``folder`` with ``python -m http.server`` on a free 127.0.0.1 port; its base URL."""
    command = [sys.executable, "-u", "-m", "http.server", "0", "--bind", HOST]
    process = subprocess.Popen(
        [*command, "--directory", str(folder)],
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
    )
    try:
        line = first_line(process).decode()  # "Serving HTTP on 127.0.0.1 port N (...) ..."
        yield f"http://{HOST}:{int(line.split(' port ')[1].split()[0])}"
    finally:
        stop(process)


@contextmanager
def graph_standin(record: Path, mode: str, *options: str) -> Iterator[str]:
    """Run the Graph stand-in in ``mode``, recording to ``record``; its URL; stop it on exit."""
    command = [sys.executable, str(STANDIN), "--mode", mode, "--record", str(record), *options]
    process = subprocess.Popen(command, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE)
    try:
        yield f"http://{HOST}:{_listening_port(process)}"
    finally:
        stop(process)
