"""Settings shared by every service: environment variables with the prefix `SHOEBOX_`.

Every setting has a default that works for the embedded run (`shoebox dev`) and a description saying what
it means and what the default is; production mode refuses the development secret. `shoebox config` prints
them all, with each service's own.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path
from typing import Literal, Self

from pydantic import Field, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

DEV_SECRET = "shoebox-development-secret-do-not-use-in-production"

Tier = Literal["primary", "secondary", "cold"]
REPLICA_TIERS: tuple[Tier, ...] = ("secondary", "cold")  # the tiers that may live on an endpoint of their own


@dataclass(frozen=True)
class S3Endpoint:
    """Where one tier's S3 buckets live and who it signs as. Two tiers with equal endpoints can copy
    between each other server-side."""

    url: str | None  # None: AWS's endpoint for `region`
    region: str
    access_key_id: str | None  # None (with the secret): the usual AWS credential chain
    secret_access_key: str | None = field(default=None, repr=False)


class Settings(BaseSettings):
    """What every service reads. A service's own settings live in `shoebox_<service>/settings.py`
    (`SETTINGS_CLASS`, prefix `SHOEBOX_<SERVICE>_`); `shoebox config` prints them all."""

    model_config = SettingsConfigDict(env_prefix="SHOEBOX_", extra="ignore")

    environment: Literal["development", "production"] = Field(
        default="development",
        description="`production` refuses the development secret; `development` (the default) runs on it.")
    log_level: str = Field(default="INFO", description="Level of the JSON logs: DEBUG, INFO (default), WARNING, ERROR.")
    data_dir: Path = Field(
        default=Path(".shoebox"),
        description="Where the embedded run keeps PostgreSQL, NATS, stored files and its secret; default `.shoebox`.")

    database_url: str = Field(
        default="postgresql://postgres@127.0.0.1:5432/postgres",
        description="PostgreSQL every service keeps its own schema in; default a local server "
                    "(`shoebox dev` starts an embedded one instead when this is not set).")
    database_pool_size: int = Field(
        default=20, ge=1,
        description="Database connections each service keeps open, sized to the requests it serves at once "
                    "(as many again are opened under a burst, then closed); default 20.")
    nats_url: str = Field(
        default="nats://127.0.0.1:4222",
        description="NATS with JetStream, the event bus: one URL, or several separated by commas (the servers "
                    "of a cluster, so a process can start while any one of them is down); default a local "
                    "server (`shoebox dev` starts an embedded one instead when this is not set).")
    bus_stream_replicas: int = Field(
        default=1, ge=1, le=5,
        description="Copies JetStream keeps of each stream (and of its consumers' state, which follows the "
                    "stream), on as many servers of the NATS cluster; a stream created with another count is "
                    "changed to this one. 1 (the default) for a single server; 3 on a cluster of three or more, "
                    "which then loses no event when one server dies.")
    bus_prefix: str = Field(
        default="shoebox", pattern=r"^[a-z][a-z0-9_]{0,30}$",
        description="Stream and subject names start with this, so two installations (or two tests) can share "
                    "one NATS; default `shoebox`.")
    mqtt_url: str = Field(
        default="mqtt://127.0.0.1:1883",
        description="MQTT (NATS serves it: its `mqtt` block) where the services publish what CL's clients "
                    "and workers watch: workers, job events, store items, entity status; default the port CL "
                    "clients assume on this machine (`shoebox dev` uses its embedded NATS's, 1883 when free).")

    public_url: str = Field(
        default="http://127.0.0.1:8000",
        description="Where clients reach the system (the gateway, or the one port of `shoebox dev`): the base "
                    "of every link and URL handed out; default the one port on this machine.")
    auth_url: str = Field(
        default="http://127.0.0.1:8000",
        description="Where services reach auth directly (its JWKS, its internal routes); default the one "
                    "port, where the all-in-one process answers in-process.")
    metadata_url: str = Field(
        default="http://127.0.0.1:8000",
        description="Where services reach metadata's internal routes directly; default the one port, where "
                    "the all-in-one process answers in-process.")
    internal_timeout_seconds: float = Field(
        default=5.0, description="Timeout of one call from a service to another (retried); default 5 s.")
    keep_alive_seconds: int = Field(
        default=75, ge=1,
        description="How long the HTTP server keeps an idle connection open. Longer than clients keep theirs "
                    "in a pool (httpx and the services: 5 s): a server that closes first races a request "
                    "already sent on that connection, which then fails with no answer. Default 75 s, as nginx.")
    gc_tuning: bool = Field(
        default=True,
        description="Once a server has started, freeze the heap start-up built and collect young objects less "
                    "often (shoebox serve, shoebox dev); off only to measure what it gives. Default on.")

    metrics_token: str | None = Field(
        default=None,
        description="A bearer token that lets a scraper (Prometheus) read every service's /metrics; without "
                    "it, /metrics needs an admin's token. Default: none.")

    secret_key: str = Field(
        default=DEV_SECRET,
        description="The installation secret: signs presigned URLs and the services' internal calls. The "
                    "default is a public development value that production mode refuses (`shoebox dev` "
                    "makes a random one per data directory).")

    jwt_issuer: str = Field(default="shoebox", description="`iss` of the tokens auth issues and services accept.")
    jwt_audience: str = Field(default="shoebox", description="`aud` of the tokens auth issues and services accept.")
    access_token_ttl_seconds: int = Field(
        default=24 * 3600, description="Lifetime of an access token; default one day.")
    jwks_cache_seconds: int = Field(
        default=300, description="How long a service trusts auth's published keys before fetching them "
                                 "again (an unknown key id refetches at once); default 5 minutes.")
    jwks_cache_file: Path | None = Field(
        default=None, description="Where a service keeps the last keys it fetched from auth, to check tokens "
                                  "with after a restart while auth is down; unset, `<data_dir>/jwks.json`.")

    admin_email: str = Field(default="admin@shoebox.local",
                             description="The first admin account, created on auth's first start.")
    admin_password: str | None = Field(
        default=None,
        description="That admin's password; unset (the default), auth makes a random one and logs it once.")

    storage_driver: Literal["filesystem", "s3"] = Field(
        default="filesystem",
        description="`filesystem` (default: files under `storage_root`, served by the data plane at "
                    "`/_storage/`) or `s3` (any S3 endpoint).")
    storage_root: Path | None = Field(
        default=None, description="Where the filesystem driver keeps objects; unset, `<data_dir>/storage`.")
    s3_endpoint_url: str | None = Field(
        default=None, description="The S3 endpoint; unset, AWS's for `s3_region`. Clients reach it too.")
    s3_region: str = Field(default="us-east-1", description="The S3 region; default `us-east-1`.")
    s3_access_key_id: str | None = Field(
        default=None, description="S3 access key id; unset, the usual AWS credential chain.")
    s3_secret_access_key: str | None = Field(
        default=None, description="S3 secret access key; unset, the usual AWS credential chain.")
    secondary_s3_endpoint_url: str | None = Field(
        default=None, description="The S3 endpoint of the SECONDARY tier, when it lives elsewhere (another "
                                  "provider); unset, `s3_endpoint_url`. Clients reach it too.")
    secondary_s3_region: str | None = Field(
        default=None, description="The S3 region of the SECONDARY tier; unset, `s3_region`.")
    secondary_s3_access_key_id: str | None = Field(
        default=None, description="The SECONDARY tier's S3 access key id, set together with its secret; "
                                  "unset, `s3_access_key_id`.")
    secondary_s3_secret_access_key: str | None = Field(
        default=None, description="The SECONDARY tier's S3 secret access key; unset, `s3_secret_access_key`.")
    cold_s3_endpoint_url: str | None = Field(
        default=None, description="The S3 endpoint of the COLD tier, when it lives elsewhere (another "
                                  "provider); unset, `s3_endpoint_url`. Clients reach it too.")
    cold_s3_region: str | None = Field(
        default=None, description="The S3 region of the COLD tier; unset, `s3_region`.")
    cold_s3_access_key_id: str | None = Field(
        default=None, description="The COLD tier's S3 access key id, set together with its secret; "
                                  "unset, `s3_access_key_id`.")
    cold_s3_secret_access_key: str | None = Field(
        default=None, description="The COLD tier's S3 secret access key; unset, `s3_secret_access_key`.")
    bucket_primary: str = Field(default="shoebox-primary",
                                description="Bucket of the PRIMARY tier, where uploads land.")
    bucket_secondary: str = Field(default="shoebox-secondary",
                                  description="Bucket of the SECONDARY tier, where the replicator copies everything.")
    bucket_cold: str | None = Field(
        default=None, description="Bucket of the COLD tier; unset (the default), there is no cold tier.")
    storage_min_free_bytes: int = Field(
        default=256 * 1024**2, ge=0,
        description="A filesystem tier with less free space than this (for its user, `statvfs`) fails its "
                    "health check as full, so a replica tier running out shows as degraded before its copies "
                    "fail; default 256 MiB, room for the writes in flight to finish. 0 turns the check off.")
    secondary_storage_min_free_bytes: int | None = Field(
        default=None, ge=0,
        description="`storage_min_free_bytes` for the SECONDARY tier alone (when it is a disk of its own); "
                    "unset, `storage_min_free_bytes`.")
    cold_storage_min_free_bytes: int | None = Field(
        default=None, ge=0,
        description="`storage_min_free_bytes` for the COLD tier alone; unset, `storage_min_free_bytes`.")
    storage_probe_interval_seconds: float = Field(
        default=15.0, ge=0,
        description="The health check of a tier writes (and deletes) a tiny probe at most this often, reusing "
                    "its last success meanwhile, so a /healthz polled often does not write every time; a failed "
                    "probe is tried again at the next check. Default 15 s.")
    presign_expiry_seconds: int = Field(
        default=900, ge=1, le=7 * 24 * 3600,
        description="Lifetime of a presigned upload or download URL; default 15 minutes, at most 7 days.")

    default_quota_bytes: int = Field(
        default=100 * 1024**3, ge=0,
        description="What a new account may store in PRIMARY (replicas are free); default 100 GiB.")

    bus_max_deliver: int = Field(
        default=8, description="Tries of an event that breaks a rule (a 4xx) before it is parked on the "
                                "dead-letter subject; default 8. Other failures (a dependency down) are tried "
                                "again, with backoff capped at a minute, for as long as they last.")
    bus_ack_wait_seconds: float = Field(
        default=10.0, description="How long an event stays with the consumer that took it without word from it "
                                  "(consumers report progress every third of this while they work), so an event "
                                  "a killed consumer held is redelivered after this; default 10 s.")

    @property
    def is_production(self) -> bool:
        return self.environment == "production"

    @property
    def jwks_cache_path(self) -> Path:
        return (self.jwks_cache_file or self.data_dir / "jwks.json").resolve()

    @property
    def storage_path(self) -> Path:
        return (self.storage_root or self.data_dir / "storage").resolve()

    def tiers(self) -> dict[Tier, str]:
        """The bucket of every configured tier, PRIMARY first."""
        tiers: dict[Tier, str] = {"primary": self.bucket_primary, "secondary": self.bucket_secondary}
        if self.bucket_cold:
            tiers["cold"] = self.bucket_cold
        return tiers

    def min_free_bytes(self, bucket: str) -> int:
        """The free space below which the filesystem tier of `bucket` is full (its own setting, if any)."""
        own = {self.bucket_secondary: self.secondary_storage_min_free_bytes,
               self.bucket_cold: self.cold_storage_min_free_bytes}.get(bucket)
        return self.storage_min_free_bytes if own is None or bucket == self.bucket_primary else own

    def s3_endpoint(self, tier: Tier) -> S3Endpoint:
        """The endpoint `tier` is stored on: PRIMARY's is the shared `s3_*`; a replica tier's own settings
        replace it setting by setting. Credentials are taken as a pair, never one from each."""
        shared = S3Endpoint(self.s3_endpoint_url, self.s3_region, self.s3_access_key_id, self.s3_secret_access_key)
        if tier == "primary":
            return shared
        url, region, key_id, secret = self._tier_s3(tier)
        if key_id is None:
            key_id, secret = shared.access_key_id, shared.secret_access_key
        return S3Endpoint(url or shared.url, region or shared.region, key_id, secret)

    def _tier_s3(self, tier: Tier) -> tuple[str | None, str | None, str | None, str | None]:
        """A replica tier's own S3 settings (url, region, key id, secret), each None where unset."""
        if tier == "secondary":
            return (self.secondary_s3_endpoint_url, self.secondary_s3_region, self.secondary_s3_access_key_id,
                    self.secondary_s3_secret_access_key)
        if tier == "cold":
            return (self.cold_s3_endpoint_url, self.cold_s3_region, self.cold_s3_access_key_id,
                    self.cold_s3_secret_access_key)
        raise ValueError(f"{tier} has no S3 settings of its own")

    @model_validator(mode="after")
    def _tier_credentials_in_pairs(self) -> Self:
        # One half of a pair falling back to the shared other half would sign with a key that is nobody's.
        for tier in REPLICA_TIERS:
            _, _, key_id, secret = self._tier_s3(tier)
            if (key_id is None) != (secret is None):
                raise ValueError(f"{tier}_s3_access_key_id and {tier}_s3_secret_access_key are set together")
        return self

    def check_production(self) -> None:
        """Refuse to run in production on a secret everybody can read in our source."""
        if self.is_production and self.secret_key == DEV_SECRET:
            raise RuntimeError(
                "SHOEBOX_SECRET_KEY is the development default; set a long random secret "
                "before running with SHOEBOX_ENVIRONMENT=production"
            )


@lru_cache
def get_settings() -> Settings:
    return Settings()
