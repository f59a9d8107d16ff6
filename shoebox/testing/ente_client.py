"""An Ente client in Python, for tests: what Ente's apps do to sign up and sign in, with the same
primitives (libsodium through PyNaCl) and its own SRP arithmetic. It shares no code with the server, so
a mistake on one side is not silently repeated on the other.

- KEK = Argon2id(password, kekSalt, opsLimit, memLimit), 32 bytes;
- loginKey = the first 16 bytes of crypto_kdf_derive_from_key(32, 1, "loginctx", KEK);
- the master key is sealed with the KEK (secretbox), the X25519 secret key with the master key, and the
  master key and a recovery key with each other;
- SRP-6a on the 4096-bit group of RFC 5054 with SHA-256, as Ente's clients compute it:
  x = H(salt | H(srpUserID | ":" | loginKey)), u = H(PAD(A) | PAD(B)), M1 = H(PAD(A) | PAD(B) | PAD(S)),
  M2 = H(PAD(A) | M1 | H(PAD(S)));
- the token of a sign-in arrives sealed to the public key; the client sends base64url of it.
"""

from __future__ import annotations

import base64
import hashlib
import logging
import re
import secrets
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

import httpx
import nacl.pwhash
import nacl.utils
from nacl.public import PrivateKey, SealedBox
from nacl.secret import SecretBox

# RFC 5054, appendix A, the 4096-bit group (the same prime as RFC 3526's group 16); generator 5.
N = int(
    "FFFFFFFFFFFFFFFFC90FDAA22168C234C4C6628B80DC1CD129024E088A67CC74020BBEA63B139B22514A08798E3404DD"
    "EF9519B3CD3A431B302B0A6DF25F14374FE1356D6D51C245E485B576625E7EC6F44C42E9A637ED6B0BFF5CB6F406B7ED"
    "EE386BFB5A899FA5AE9F24117C4B1FE649286651ECE45B3DC2007CB8A163BF0598DA48361C55D39A69163FA8FD24CF5F"
    "83655D23DCA3AD961C62F356208552BB9ED529077096966D670C354E4ABC9804F1746C08CA18217C32905E462E36CE3B"
    "E39E772C180E86039B2783A2EC07A28FB5C55DF06F4C52C9DE2BCBF6955817183995497CEA956AE515D2261898FA0510"
    "15728E5A8AAAC42DAD33170D04507A33A85521ABDF1CBA64ECFB850458DBEF0A8AEA71575D060C7DB3970F85A6E1E4C7"
    "ABF5AE8CDB0933D71E8C94E04A25619DCEE3D2261AD2EE6BF12FFA06D98A0864D87602733EC86A64521F2B18177B200C"
    "BBE117577A615D6C770988C0BAD946E208E24FA074E5AB3143DB5BFCE0FD108E4B82D120A92108011A723C12A787E6D7"
    "88719A10BDBA5B2699C327186AF4E23C1A946834B6150BDA2583E9CA2AD44CE8DBBBC2DB04DE8EF92E8EFC141FBECAA6"
    "287C59474E6BC05D99B2964FA090C3A2233BA186515BE7ED1F612970CEE2D7AFB81BDD762170481CD0069127D5B05AA9"
    "93B4EA988D8FDDC186FFB7DC90A6C08F4DF435C934063199FFFFFFFFFFFFFFFF",
    16,
)
G = 5
PHOTOS_APP = "io.ente.photos"  # the X-Client-Package of Ente's photo apps and CLI
WIDTH = 512

# Small Argon2 limits: they are the client's choice, stored with the key attributes, and tests want speed.
TEST_OPS_LIMIT = 2
TEST_MEM_LIMIT = 8 * 1024 * 1024


def b64(raw: bytes) -> str:
    return base64.b64encode(raw).decode()


def unb64(text: str) -> bytes:
    return base64.b64decode(text)


def padded(value: int) -> bytes:
    return value.to_bytes(WIDTH, "big")


def h(*parts: bytes) -> bytes:
    return hashlib.sha256(b"".join(parts)).digest()


def derive_kek(password: str, salt: bytes, ops_limit: int, mem_limit: int) -> bytes:
    return nacl.pwhash.argon2id.kdf(32, password.encode(), salt, opslimit=ops_limit, memlimit=mem_limit)


def derive_login_key(kek: bytes) -> bytes:
    """libsodium's crypto_kdf_derive_from_key(32, 1, "loginctx", kek): BLAKE2b keyed with the KEK, the
    subkey id little-endian in the salt, the context in the personalisation; Ente keeps 16 bytes."""
    subkey = hashlib.blake2b(b"", digest_size=32, key=kek, salt=(1).to_bytes(8, "little") + bytes(8),
                             person=b"loginctx" + bytes(8)).digest()
    return subkey[:16]


class SrpClient:
    """The client half of one SRP exchange."""

    def __init__(self, identity: str, salt: bytes, login_key: bytes, *, secret: int | None = None) -> None:
        self.identity = identity
        self.salt = salt
        self.login_key = login_key
        self.secret = secret if secret is not None else int.from_bytes(secrets.token_bytes(64), "big")
        self.public = pow(G, self.secret, N)
        self.m1: bytes | None = None
        self.key: bytes | None = None

    @staticmethod
    def x(identity: str, salt: bytes, login_key: bytes) -> int:
        return int.from_bytes(h(salt, h(identity.encode() + b":" + login_key)), "big")

    @classmethod
    def verifier(cls, identity: str, salt: bytes, login_key: bytes) -> int:
        return pow(G, cls.x(identity, salt, login_key), N)

    def proof(self, server_public_b64: str) -> bytes:
        server_public = int.from_bytes(unb64(server_public_b64), "big")
        assert 0 < server_public < N, "the server sent an impossible B"
        k = int.from_bytes(h(padded(N), padded(G)), "big")
        u = int.from_bytes(h(padded(self.public), padded(server_public)), "big")
        assert u != 0
        x = self.x(self.identity, self.salt, self.login_key)
        base = (server_public - k * pow(G, x, N)) % N
        premaster = padded(pow(base, self.secret + u * x, N))
        self.m1 = h(padded(self.public), padded(server_public), premaster)
        self.key = h(premaster)
        return self.m1

    def server_proof_ok(self, m2_b64: str) -> bool:
        assert self.m1 is not None
        assert self.key is not None
        return h(padded(self.public), self.m1, self.key) == unb64(m2_b64)


@dataclass
class Keys:
    kek: bytes
    master_key: bytes
    secret_key: PrivateKey
    recovery_key: bytes
    attributes: dict[str, Any]


def generate_keys(password: str, ops_limit: int = TEST_OPS_LIMIT, mem_limit: int = TEST_MEM_LIMIT) -> Keys:
    """What an Ente app makes at sign-up; the server only ever sees `attributes`."""
    kek_salt = nacl.utils.random(16)
    kek = derive_kek(password, kek_salt, ops_limit, mem_limit)
    master_key = nacl.utils.random(32)
    recovery_key = nacl.utils.random(32)
    key_pair = PrivateKey.generate()

    def seal(key: bytes, plaintext: bytes) -> tuple[str, str]:
        nonce = nacl.utils.random(SecretBox.NONCE_SIZE)
        return b64(SecretBox(key).encrypt(plaintext, nonce).ciphertext), b64(nonce)

    encrypted_key, key_nonce = seal(kek, master_key)
    encrypted_secret, secret_nonce = seal(master_key, bytes(key_pair))
    master_by_recovery, master_by_recovery_nonce = seal(recovery_key, master_key)
    recovery_by_master, recovery_by_master_nonce = seal(master_key, recovery_key)
    attributes = {
        "kekSalt": b64(kek_salt), "encryptedKey": encrypted_key, "keyDecryptionNonce": key_nonce,
        "publicKey": b64(bytes(key_pair.public_key)), "encryptedSecretKey": encrypted_secret,
        "secretKeyDecryptionNonce": secret_nonce, "memLimit": mem_limit, "opsLimit": ops_limit,
        "masterKeyEncryptedWithRecoveryKey": master_by_recovery, "masterKeyDecryptionNonce": master_by_recovery_nonce,
        "recoveryKeyEncryptedWithMasterKey": recovery_by_master, "recoveryKeyDecryptionNonce": recovery_by_master_nonce,
    }
    return Keys(kek=kek, master_key=master_key, secret_key=key_pair, recovery_key=recovery_key, attributes=attributes)


@dataclass
class SignedIn:
    user_id: int
    raw_token: bytes
    master_key: bytes
    secret_key: bytes
    response: dict[str, Any]

    @property
    def header(self) -> dict[str, str]:
        """What every Ente app sends: base64url of the raw token, and which app it is (the CLI says
        `io.ente.photos`)."""
        return {"X-Auth-Token": base64.urlsafe_b64encode(self.raw_token).decode(), "X-Client-Package": PHOTOS_APP}


def open_secrets(response: dict[str, Any], kek: bytes) -> SignedIn:
    """Decrypt what a sign-in returns: master key with the KEK, secret key with the master key, token
    with the key pair."""
    attributes = response["keyAttributes"]
    master_key = SecretBox(kek).decrypt(unb64(attributes["encryptedKey"]), unb64(attributes["keyDecryptionNonce"]))
    secret_key = SecretBox(master_key).decrypt(unb64(attributes["encryptedSecretKey"]),
                                               unb64(attributes["secretKeyDecryptionNonce"]))
    raw_token = SealedBox(PrivateKey(secret_key)).decrypt(unb64(response["encryptedToken"]))
    return SignedIn(user_id=response["id"], raw_token=raw_token, master_key=master_key, secret_key=secret_key,
                    response=response)


class EnteClient:
    def __init__(self, http: httpx.AsyncClient, email: str, password: str) -> None:
        self.http = http
        self.email = email
        self.password = password
        self.headers = {"X-Client-Package": PHOTOS_APP, "X-Client-Version": "0.9.99"}

    async def call(self, method: str, path: str, *, token: str | None = None, **kwargs: Any) -> Any:
        headers = dict(self.headers)
        if token:
            headers["X-Auth-Token"] = token
        response = await self.http.request(method, path, headers=headers, **kwargs)
        assert response.status_code == 200, f"{method} {path}: {response.status_code} {response.text}"
        return response.json()

    async def sign_up(self, read_code: Callable[[str], Awaitable[str]]) -> Keys:
        """ott → verify-email → PUT /users/attributes → srp/setup → srp/complete, as the apps do."""
        assert await self.call("POST", "/users/ott", json={"email": self.email, "purpose": "signup"}) == {}
        verified = await self.call("POST", "/users/verify-email",
                                   json={"email": self.email, "ott": await read_code(self.email)})
        assert "keyAttributes" not in verified
        assert verified["token"]
        token = verified["token"]

        keys = generate_keys(self.password)
        stored = await self.call("PUT", "/users/attributes", token=token, json={"keyAttributes": keys.attributes})
        assert stored["keyAttributes"] == keys.attributes

        srp_user_id = str(uuid.uuid4())
        srp_salt = nacl.utils.random(16)
        login_key = derive_login_key(keys.kek)
        client = SrpClient(srp_user_id, srp_salt, login_key)
        setup = await self.call("POST", "/users/srp/setup", token=token, json={
            "srpUserID": srp_user_id, "srpSalt": b64(srp_salt),
            "srpVerifier": b64(padded(SrpClient.verifier(srp_user_id, srp_salt, login_key))),
            "srpA": b64(padded(client.public)),
        })
        completed = await self.call("POST", "/users/srp/complete", token=token, json={
            "setupID": setup["setupID"], "srpM1": b64(client.proof(setup["srpB"])),
        })
        assert completed["setupID"] == setup["setupID"]
        assert client.server_proof_ok(completed["srpM2"]), "the server does not hold our verifier"
        return keys

    async def srp_attributes(self) -> dict[str, Any]:
        body = await self.call("GET", "/users/srp/attributes", params={"email": self.email})
        attributes: dict[str, Any] = body["attributes"]
        return attributes

    async def start_sign_in(self, password: str | None = None) -> tuple[SrpClient, dict[str, Any], bytes]:
        """srp/attributes and create-session: the exchange, its session and the KEK."""
        attributes = await self.srp_attributes()
        kek = derive_kek(password or self.password, unb64(attributes["kekSalt"]), attributes["opsLimit"],
                         attributes["memLimit"])
        client = SrpClient(attributes["srpUserID"], unb64(attributes["srpSalt"]), derive_login_key(kek))
        session = await self.call("POST", "/users/srp/create-session", json={
            "srpUserID": attributes["srpUserID"], "srpA": b64(padded(client.public)),
        })
        return client, {**session, "srpUserID": attributes["srpUserID"]}, kek

    async def sign_in(self) -> SignedIn:
        """SRP from start to end; checks the server's proof and opens every secret."""
        client, session, kek = await self.start_sign_in()
        response = await self.call("POST", "/users/srp/verify-session", json={
            "srpUserID": session["srpUserID"], "sessionID": session["sessionID"],
            "srpM1": b64(client.proof(session["srpB"])),
        })
        assert client.server_proof_ok(response["srpM2"]), "the server's M2 is wrong"
        return open_secrets(response, kek)


def code_from_log(records: list[logging.LogRecord], email: str) -> str:
    """The newest code mailed to `email` by a server without SMTP, which writes its mail to the log."""
    for record in reversed(records):
        message = record.getMessage()
        if record.name == "shoebox_auth.ente.mailer" and f"mail to {email} " in message:
            found = re.search(r"verification code is (\d{6})", message)
            if found:
                return found.group(1)
    raise AssertionError(f"no code was mailed to {email}")
