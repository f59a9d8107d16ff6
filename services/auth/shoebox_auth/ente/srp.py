"""The server half of Ente's SRP-6a variant, as the Ente server (ente/go-srp, a fork of kong/go-srp) and
its clients compute it:

- the 4096-bit group of RFC 5054 (g = 5) and SHA-256;
- k = H(PAD(N) | PAD(g)), x = H(salt | H(I | ":" | password)) where I is the srpUserID string and the
  password is the 16-byte login key; v = g^x;
- B = (k·v + g^b) mod N, sent padded to 512 bytes (the Ente server refuses any other length);
- u = H(PAD(A) | PAD(B)); S = (A·v^u)^b mod N, padded to 512 bytes;
- M1 = H(PAD(A) | PAD(B) | S), M2 = H(PAD(A) | M1 | H(S)).

The Go CLI still uses kong/go-srp, which hashes A and B as minimal big-endian bytes in u (and A in M1
and M2). The two agree unless A or B starts with a zero byte (about one exchange in 128); a proof made
the CLI's way is accepted too, so the CLI does not fail at random.

Pure arithmetic on integers, no I/O: callers run it in a thread (a 4096-bit modexp takes milliseconds).
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from dataclasses import dataclass

from shoebox_lib.errors import InvalidInput

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
N_BYTES = 512
SECRET_BYTES = 64  # the size of b that the Ente server draws


def pad(value: int) -> bytes:
    return value.to_bytes(N_BYTES, "big")


def minimal(value: int) -> bytes:
    return value.to_bytes(max(1, (value.bit_length() + 7) // 8), "big")


def sha256(*parts: bytes) -> bytes:
    digest = hashlib.sha256()
    for part in parts:
        digest.update(part)
    return digest.digest()


K = int.from_bytes(sha256(pad(N), pad(G)), "big")


def group_element(raw: bytes, name: str) -> int:
    """A public value or verifier from the wire: an integer in 1..N-1 (so never ≡ 0 mod N).

    Any leading zero bytes are accepted: some clients send minimal bytes, others pad to 512.
    """
    if len(raw.lstrip(b"\0")) > N_BYTES:
        raise InvalidInput(f"Invalid {name}")
    value = int.from_bytes(raw, "big")
    if not 0 < value < N:
        raise InvalidInput(f"Invalid {name}")
    return value


def new_secret() -> int:
    return int.from_bytes(secrets.token_bytes(SECRET_BYTES), "big")


def server_public(verifier: int, b: int) -> int:
    """B = (k·v + g^b) mod N. Never 0 for b drawn at random, but checked all the same."""
    public = (K * verifier + pow(G, b, N)) % N
    if public == 0:
        raise ValueError("B is 0: draw another b")
    return public


def verifier_for(salt: bytes, identity: str, login_key: bytes) -> int:
    """v = g^x: only for decoy verifiers of unknown srpUserIDs; a client computes the real ones."""
    x = int.from_bytes(sha256(salt, sha256(identity.encode(), b":", login_key)), "big")
    return pow(G, x, N)


@dataclass(frozen=True)
class Proof:
    m1: bytes
    m2: bytes


def _proof(a_bytes: bytes, b_bytes: bytes, u_input: bytes, client_public: int, verifier: int, b: int) -> Proof | None:
    u = int.from_bytes(sha256(u_input), "big")
    if u == 0:  # SRP-6a: abort, or S would not depend on the verifier
        return None
    premaster = pad(pow(client_public * pow(verifier, u, N) % N, b, N))
    m1 = sha256(a_bytes, b_bytes, premaster)
    return Proof(m1=m1, m2=sha256(a_bytes, m1, sha256(premaster)))


def expected_proofs(client_public: int, verifier: int, b: int) -> list[Proof]:
    """The proofs a client knowing the password can send: Ente's padded form, then kong/go-srp's."""
    server_pub = server_public(verifier, b)
    a_pad, b_pad = pad(client_public), pad(server_pub)
    proofs = [_proof(a_pad, b_pad, a_pad + b_pad, client_public, verifier, b)]
    a_min = minimal(client_public)
    if a_min != a_pad or minimal(server_pub) != b_pad:
        # kong/go-srp: u over minimal A and B; A minimal in M1 and M2; B as it received it (padded).
        proofs.append(_proof(a_min, b_pad, a_min + minimal(server_pub), client_public, verifier, b))
    return [p for p in proofs if p is not None]


def check_proof(client_proof: bytes, client_public: int, verifier: int, b: int) -> bytes | None:
    """M2 when the client's M1 is right, else None. Compared in constant time, all candidates always."""
    if len(client_proof) > 32:
        client_proof = client_proof.lstrip(b"\0")
    # Some clients encode M1 as a minimal integer (mobile at SRP setup): restore the leading zeros.
    m1 = client_proof.rjust(32, b"\0")
    answer = None
    for proof in expected_proofs(client_public, verifier, b):
        if hmac.compare_digest(proof.m1, m1):
            answer = proof.m2
    return answer
