"""Issue 3, parts 3 and 4 on a real server (``passport serve`` in a subprocess, SQLite file and
PostgreSQL): when an issuer adds a record over HTTP, the server's own lifecycle loop re-issues the
affected credential and revokes the superseded one, automatically (nobody calls ``lifecycle``); the
status list it serves shows the revocation within seconds; and the notifications outbox is drained by
the mail sender over SMTP (``PASSPORT_SMTP_URL``) to the holder's address, without health data.

The existing lifecycle tests call ``lifecycle_step`` and ``send_notifications`` themselves
(tests/credentials/test_lifecycle.py); no test runs the loop inside ``passport serve``, and no test sends a
notification by SMTP (only the demo-mode log line is tested).
"""

import asyncio
import contextlib
import datetime as dt
import email
import email.policy
import os
import socketserver
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

import httpx
import pytest
from cryptography.hazmat.primitives.asymmetric import ec

from service import auth, jws
from service.db import Database, make_engine
from service.keys import KeyStore
from service.passport import sdjwt
from service.passport.encryption import DataKeyStore
from service.passport.status_list import CredentialStatus, verify_token
from tests.credentials import factories as cf
from tests.factories import TEST_PASSPHRASE
from tests.live import free_port, serving
from tests.passport import factories as pf

pytestmark = pytest.mark.slow
T = TypeVar("T")


# ---------------------------------------------------------------- a mail server that keeps what it gets


@dataclass
class Mailbox:
    messages: list[tuple[list[str], bytes]] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def received(self) -> list[tuple[list[str], email.message.EmailMessage]]:
        with self.lock:
            got = list(self.messages)
        return [(to, email.message_from_bytes(data, policy=email.policy.default)) for to, data in got]


class _Smtp(socketserver.StreamRequestHandler):
    """Just enough SMTP (RFC 5321) for ``smtplib``: EHLO, MAIL, RCPT, DATA, QUIT."""

    mailbox: Mailbox

    def reply(self, line: str) -> None:
        self.wfile.write(line.encode("ascii") + b"\r\n")

    def handle(self) -> None:
        self.reply("220 test-mail ready")
        recipients: list[str] = []
        while line := self.rfile.readline():
            verb = line[:4].decode("ascii", "replace").upper()
            if verb == "DATA":
                self.reply("354 end with <CRLF>.<CRLF>")
                data = b""
                while (chunk := self.rfile.readline()) not in (b".\r\n", b""):
                    data += chunk[1:] if chunk.startswith(b"..") else chunk
                with self.mailbox.lock:
                    self.mailbox.messages.append((recipients, data))
                recipients = []
                self.reply("250 kept")
            elif verb == "RCPT":
                recipients.append(line.decode().split(":", 1)[1].strip().strip("<>"))
                self.reply("250 ok")
            elif verb == "QUIT":
                self.reply("221 bye")
                return
            else:  # EHLO, HELO, MAIL, RSET, NOOP
                self.reply("250 ok")


@contextlib.contextmanager
def mail_server() -> Iterator[tuple[int, Mailbox]]:
    mailbox = Mailbox()
    handler = type("Handler", (_Smtp,), {"mailbox": mailbox})
    server = socketserver.ThreadingTCPServer(("127.0.0.1", 0), handler)
    server.daemon_threads = True
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield server.server_address[1], mailbox
    finally:
        server.shutdown()
        server.server_close()


# ---------------------------------------------------------------- the registry, served


@dataclass(frozen=True)
class Seeded:
    doctor: Any
    tree: Any
    issuer: auth.ClientCreated
    user: auth.User


async def _seed(url: str) -> Seeded:
    database = Database(make_engine(url, pool_size=1))
    now = dt.datetime.now(dt.UTC)
    try:
        async with database.session() as session:
            world = await pf.create_world(session)
            issuer = await auth.create_client(
                session, name="trust HR", role=auth.Role.ISSUER, organisation_code=world.tree.trust, now=now
            )
            user = await cf.holder_user(session, world.doctor, now)
            await session.commit()
            return Seeded(doctor=world.doctor, tree=world.tree, issuer=issuer, user=user)
    finally:
        await database.dispose()


def eventually(probe: Callable[[], T | None], seconds: float = 60) -> T:
    """Poll ``probe`` until it gives something (a functional deadline, not a measurement)."""
    deadline = time.monotonic() + seconds
    while True:
        found = probe()
        if found is not None:
            return found
        assert time.monotonic() < deadline, f"nothing after {seconds} s"
        time.sleep(0.25)


def test_a_record_added_over_http_reissues_revokes_republishes_and_mails_the_holder(
    own_database_url: str, tmp_path: Path
) -> None:
    keys = tmp_path / "keys"
    now = dt.datetime.now(dt.UTC)
    KeyStore(keys, TEST_PASSPHRASE).init(now)
    DataKeyStore(keys, TEST_PASSPHRASE).init(now)
    seeded = asyncio.run(_seed(own_database_url))
    port = free_port()
    with mail_server() as (smtp_port, mailbox):
        env = {
            **{k: v for k, v in os.environ.items() if not k.startswith("PASSPORT_")},
            "PASSPORT_DATABASE_URL": own_database_url,
            "PASSPORT_KEYS_DIR": str(keys),
            "PASSPORT_KEY_PASSPHRASE": TEST_PASSPHRASE,
            "PASSPORT_PUBLIC_BASE_URL": f"http://127.0.0.1:{port}",
            "PASSPORT_VAR_DIR": str(tmp_path / "var"),
            "PASSPORT_LOG_LEVEL": "WARNING",
            "PASSPORT_LIFECYCLE_INTERVAL": "1",
            "PASSPORT_SMTP_URL": f"smtp://127.0.0.1:{smtp_port}",
        }
        with serving(env, port) as base, httpx.Client(base_url=base, timeout=20) as http:
            got = http.post(
                "/oauth/token",
                data={"grant_type": "client_credentials"},
                auth=(seeded.issuer.client_id, seeded.issuer.client_secret),
            )
            assert got.status_code == 200, got.text
            issuer = {"Authorization": f"Bearer {got.json()['access_token']}"}
            posted = http.post(
                "/api/v1/records", json=cf.records_of(seeded.doctor, seeded.tree), headers=issuer
            )
            assert posted.status_code == 201, posted.text

            keyring = KeyStore(keys, TEST_PASSPHRASE).load(now)
            tokens = auth.TokenService(
                keyring,
                issuer=base,
                lifetime=600,
                session_lifetime=600,
                clock=lambda: dt.datetime.now(dt.UTC),
            )
            holder = {
                "Authorization": f"Bearer {tokens.issue_access_token(cf.holder_principal(seeded.user))}"
            }
            key = ec.generate_private_key(ec.SECP256R1())
            nonce = http.post("/api/v1/holder/nonce", headers=holder).json()["nonce"]
            registered = http.post(
                "/api/v1/holder/keys", headers=holder, json={"proof": cf.proof(key, nonce, aud=base)}
            )
            assert registered.status_code == 201, registered.text

            def core_skills() -> sdjwt.HeldCredential:
                items = http.get("/api/v1/holder/credentials", headers=holder).json()["items"]
                return sdjwt.HeldCredential.parse(
                    next(i["credential"] for i in items if i["kind"] == "core_skills")
                )

            before = core_skills()
            assert "information_governance" not in {r["subject"] for r in before.claims["core_skills"]}
            mails_before = len(mailbox.received())

            added = http.post(
                "/api/v1/records",
                json=pf.core_skill(seeded.doctor, subject="information_governance"),
                headers=issuer,
            )
            assert added.status_code == 201, added.text

            def reissued() -> sdjwt.HeldCredential | None:
                current = core_skills()
                return current if current.jwt != before.jwt else None

            after = eventually(reissued)  # nobody but the server's own loop re-issues it
            assert "information_governance" in {r["subject"] for r in after.claims["core_skills"]}

            published = {
                k["kid"]: jws.key_from_jwk({n: v for n, v in k.items() if n != "use"})
                for k in http.get("/.well-known/jwt-vc-issuer").json()["jwks"]["keys"]
            }
            for held, expected in ((before, CredentialStatus.INVALID), (after, CredentialStatus.VALID)):
                ref = held.payload["status"]["status_list"]
                served = http.get(ref["uri"].removeprefix(base))
                assert served.status_code == 200
                token = verify_token(
                    served.text,
                    lambda header: published.get(header.get("kid")),
                    uri=ref["uri"],
                    now=int(time.time()),
                    iss=base,
                    leeway=5,
                )
                assert token.status_list.status_of(ref["idx"]) is expected

            def mailed() -> list[tuple[list[str], email.message.EmailMessage]] | None:
                got = mailbox.received()[mails_before:]
                return got or None

            [(recipients, message)] = eventually(mailed)[:1]
            assert recipients == [seeded.user.email]
            assert message["To"] == seeded.user.email
            assert message["Subject"] == "Your staff passport credentials have changed"
            body = message.get_content()
            for health_data in ("immune", "hepatitis", "cleared"):
                assert health_data not in body.lower()
