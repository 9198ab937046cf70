"""One typed settings object for the whole service, built by the app factory and the CLI."""

from __future__ import annotations

import enum
import ipaddress
import os
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import Field, SecretStr, field_validator, model_validator
from pydantic_settings import (
    BaseSettings,
    PydanticBaseSettingsSource,
    SettingsConfigDict,
    TomlConfigSettingsSource,
)

# Well-known development values. They make `make serve` work with no setup, and production mode
# refuses every one of them (see `Settings.production_problems`).
DEV_SECRET_KEY = "dev-only-secret-key-do-not-use-in-production"
DEV_WEBHOOK_SECRET = "dev-only-webhook-secret"
DEV_VAULT_MASTER_KEY = "ZGV2LW9ubHktdmF1bHQtbWFzdGVyLWtleS0zMmJ5dGU="  # base64 of 32 dev bytes
DEV_TDB_TOKEN = "dev-only-transparency-database-token"


class Environment(str, enum.Enum):
    development = "development"
    test = "test"
    production = "production"


class Settings(BaseSettings):
    """Everything configurable. Read from `STAYDOWN_*` variables and an optional TOML file
    (`STAYDOWN_CONFIG_FILE`); variables win over the file."""

    model_config = SettingsConfigDict(
        env_prefix="STAYDOWN_", extra="forbid", case_sensitive=False, validate_default=True
    )

    env: Environment = Environment.development
    data_dir: Path = Path("var")
    database_url: str | None = Field(
        default=None,
        description="SQLAlchemy URL; default is SQLite at DATA_DIR/staydown.db. postgresql:// URLs use psycopg 3.",
    )
    host: str = "127.0.0.1"
    port: int = Field(default=8000, ge=1, le=65535)
    # Where people outside reach staydown: every link in a page, e-mail or statement starts with
    # it. Unset, a page's links use the request's own scheme, host and port, and links written
    # with no request (jobs, statements) use `base_url`: the host and port `serve` listens on.
    public_base_url: str | None = None

    secret_key: SecretStr = SecretStr(DEV_SECRET_KEY)
    webhook_secret: SecretStr = SecretStr(DEV_WEBHOOK_SECRET)
    vault_master_key: SecretStr = SecretStr(DEV_VAULT_MASTER_KEY)

    # HTTP limits: every input has a size.
    max_request_bytes: int = Field(default=1_048_576, ge=1024)
    max_upload_bytes: int = Field(default=52_428_800, ge=1024)

    # Outbox worker.
    worker_in_process: bool = True
    # `staydown serve`: write intake batches in a child process ("process"), so that HTTP and the
    # writer use two cores, or in a thread of the server ("thread"). See intake/writer.py.
    intake_writer: Literal["process", "thread"] = "process"
    worker_poll_seconds: float = Field(default=0.5, gt=0)
    worker_batch_size: int = Field(default=10, ge=1, le=1000)
    job_lease_seconds: int = Field(default=300, ge=1)
    job_max_attempts: int = Field(default=20, ge=1)
    job_backoff_base_seconds: float = Field(default=2.0, gt=0)
    job_backoff_cap_seconds: float = Field(default=3600.0, gt=0)

    # Media decoding: every input has a size (issue 3; see media/decode.py for what each bounds).
    media_max_pixels: int = Field(default=50_000_000, ge=1)
    media_max_dimension: int = Field(default=30_000, ge=1)
    media_max_frames: int = Field(default=5_000, ge=1)
    media_keep_frames: int = Field(default=8, ge=1, le=64)
    media_max_seconds: float = Field(default=10.0, gt=0)  # one budget: decode and every variant
    # Bytes one decode may hold (the decoded frame and its RGB conversion); with the cap below it
    # bounds the memory of all decodes at once. 320 MiB takes a 50 MP RGB photo.
    media_max_decode_bytes: int = Field(default=335_544_320, ge=1_048_576)
    # Scans decoding at once per server process (a cap on CPU and memory), and how many more may
    # wait for a turn, for at most scan_decode_wait_seconds; past that a scan gets 503 Retry-After.
    scan_max_concurrent_decodes: int = Field(default=2, ge=1, le=64)
    scan_decode_queue: int = Field(default=16, ge=0, le=10_000)
    scan_decode_wait_seconds: float = Field(default=10.0, gt=0)
    # `staydown serve`: decode and hash scans in scan_max_concurrent_decodes worker processes
    # ("process"), so that hashing and the server's own work use every core, or in the server's
    # threads ("thread"). See media/hashpool.py.
    scan_hashing: Literal["process", "thread"] = "process"

    # Video (issue 14; see media/video.py and docs/decisions.md 2026-12-07). Uploads are bounded by
    # max_upload_bytes like images; raise it for long videos.
    video_max_duration_seconds: float = Field(default=600.0, gt=0, le=6 * 3600)
    video_max_pixels: int = Field(default=8_294_400, ge=4096)  # per frame: 3840 x 2160
    # Wall time of one hash; FFmpeg is killed past it. 1080p H.264 hashed at 4.4-5.2 s of video a second on
    # this 2-core machine (bench/video.py), so 10 minutes of it needs up to ~140 s.
    video_max_seconds: float = Field(default=180.0, gt=0, le=3600)
    video_max_memory_mb: int = Field(default=1024, ge=512)  # FFmpeg's address space (it maps ~250 MiB of libraries)
    video_seconds_per_hash: float = Field(default=0.125, ge=0.04, le=10.0)  # kept in the stored vPDQ
    video_lookup_rate: float = Field(default=30.0, ge=1.0, le=120.0)  # frames a second hashed and looked up
    video_hash_side: int = Field(default=512, ge=64, le=4096)
    video_threads: int = Field(default=2, ge=1, le=16)  # FFmpeg decoder threads per video
    video_max_concurrent: int = Field(default=1, ge=1, le=64)  # videos hashed at once per process
    video_queue_seconds: float = Field(default=10.0, ge=0)  # wait for a slot, then 503 with Retry-After

    # Scanning by URL: only these hosts ("cdn.example.com", or ".example.com" for a domain).
    scan_url_allowlist: list[str] = Field(default_factory=list)
    # Only for tests and local demos: lets a scan fetch from loopback and private addresses.
    scan_url_allow_private: bool = False
    scan_url_timeout_seconds: float = Field(default=10.0, gt=0)

    # Match indexes: where each process keeps its replica, and how it follows the database.
    index_dir: Path | None = None
    index_follow_in_process: bool = True
    index_follow_interval_seconds: float = Field(default=0.2, gt=0)
    index_max_lag_rows: int = Field(default=10_000, ge=0)

    # Hash exchanges (exchanges/): credentials by exchange name, in the library's form or as JSON
    # (`{"ncmec-industry": "user:password"}`); the alternative is sealing them under the vault's
    # master key with `staydown exchanges add --credentials-stdin`. A fetch runs at most this long
    # per job, then continues in the next one from its checkpoint.
    exchange_credentials: dict[str, SecretStr] = Field(default_factory=dict)
    exchange_fetch_budget_seconds: float = Field(default=120.0, gt=0)
    exchange_list_max_bytes: int = Field(default=268_435_456, ge=1024)  # a URL list: 256 MiB at most

    # Legal tracks: the catalogue's `legal_tracks` section gives each kind its hours (and a policy
    # may set its own). One of these, when set, overrides the catalogue for its kind everywhere.
    take_it_down_hours: float | None = Field(default=None, gt=0)
    ncmec_report_hours: float | None = Field(default=None, gt=0)
    dsa_notice_hours: float | None = Field(default=None, gt=0)
    uk_intimate_image_hours: float | None = Field(default=None, gt=0)
    terrorist_order_hours: float | None = Field(default=None, gt=0)
    dsa_art18_hours: float | None = Field(default=None, gt=0)
    # UK-6: whether the platform serves UK users and so reports CSEA content to the National Crime
    # Agency (opens the `uk_nca` track at actual knowledge). Off by default.
    uk_nca_reporting: bool = False
    # Escalate a track when this share of its time is left (0.25: 12 h before a 48 h deadline).
    escalate_at_remaining_fraction: float = Field(default=0.25, gt=0, lt=1)
    escalation_roles: list[str] = Field(default_factory=lambda: ["senior_moderator", "child_safety"])
    claim_lease_minutes: int = Field(default=30, ge=1, le=24 * 60)
    # DSA Art. 23: after a warning, notices from a notifier may be suspended for this long.
    notifier_suspension_days: int = Field(default=90, ge=1)
    public_rate_per_minute: int = Field(default=30, ge=1)
    # Reverse proxies (addresses or networks, "10.0.0.0/8") whose X-Forwarded-For and
    # X-Forwarded-Proto are believed: behind one, rate limits and sign-in throttling key on the client
    # it forwarded for. Empty (the default): the connecting address is the client and forwarded
    # headers are ignored, so nobody can pick their own rate-limit bucket by sending one.
    trusted_proxies: list[str] = Field(default_factory=list)
    public_notice_max_items: int = Field(default=20, ge=1, le=1000)
    # The console: how many media items one reviewer may reveal (unblurred) per UTC day; the
    # exposure budget protects reviewers, and each reveal is an audited view.
    reveal_daily_budget: int = Field(default=20, ge=0, le=1000)
    # Appeals (DSA Art. 20, UK OSA complaints): open for at least six months after the decision
    # (DSA-4, so never less than 183 days); decided within `appeal_due_days`, intimate-image
    # cases on the expedited route within `appeal_expedited_hours` (UK-3).
    appeal_window_days: int = Field(default=183, ge=183)
    appeal_due_days: int = Field(default=14, ge=1)
    appeal_expedited_hours: float = Field(default=48.0, gt=0)

    # Webhooks to the platform: every action, signed with STAYDOWN_WEBHOOK_SECRET. Without a URL
    # the platform pulls GET /v1/actions instead.
    webhook_url: str | None = None
    webhook_timeout_seconds: float = Field(default=10.0, gt=0)
    # POSTs a worker keeps in flight when it delivers a batch (one per subject at a time).
    webhook_concurrency: int = Field(default=8, ge=1, le=256)

    # The evidence vault: master keys (current, and older ones kept during a rotation), where the
    # encrypted blobs live, and how long unheld items are kept.
    vault_previous_master_keys: list[SecretStr] = Field(default_factory=list)
    vault_dir: Path | None = None
    evidence_retention_days: int = Field(default=90, ge=1)
    # EUI-4: data of scans that matched nothing is kept at most this long.
    scan_retention_days: int = Field(default=30, ge=1)
    # EUI-4: the hashes of uploads that matched nothing (content signals, and the scan's copy of
    # them) are purged after this many days. Not at once: the stay-down sweep finds stored copies
    # of an item confirmed later by these signals, and reports mostly come within weeks of an
    # upload (matching/retention.py). Content in a case or in the vault is never purged by it.
    unmatched_signal_retention_days: int = Field(default=90, ge=1)

    # NCMEC CyberTipline (CSAM-2): endpoint, credentials and the provider's contact for NCMEC,
    # checked at start-up in production.
    ncmec_url: str | None = None  # e.g. https://report.cybertip.org/ispws (test: exttest.cybertip.org)
    ncmec_username: str | None = None
    ncmec_password: SecretStr | None = None
    ncmec_reporter_first_name: str | None = None
    ncmec_reporter_last_name: str | None = None
    ncmec_reporter_email: str | None = None
    ncmec_reporter_phone: str | None = None
    ncmec_report_hold_days: int = Field(default=365, ge=365)
    # UK National Crime Agency (UK-6, OSA 2023 s.66; only used when `uk_nca_reporting` is on):
    # the reporting API's address and the credentials the NCA issued on registration, the
    # organisation's registration and its authorised person (named in every report), and
    # whether the provider is a UK provider (OSA s.70(2)): a non-UK provider reports only
    # UK-linked content and must not report the rest (s.66(2)). Checked at start-up in production.
    uk_nca_url: str | None = None
    uk_nca_token: SecretStr | None = None
    uk_nca_provider: Literal["uk", "non_uk"] | None = None
    uk_nca_organisation_id: str | None = Field(default=None, max_length=200)
    uk_nca_authorised_person_name: str | None = Field(default=None, max_length=200)
    uk_nca_authorised_person_email: str | None = Field(default=None, max_length=320)
    uk_nca_authorised_person_phone: str | None = Field(default=None, max_length=50)
    uk_nca_timeout_seconds: float = Field(default=60.0, gt=0, le=600)
    # Send the files from the vault with each report (true), or only their hashes and details,
    # keeping the files held for the NCA to ask for (false). Settle it with the NCA ([U]).
    uk_nca_send_files: bool = True
    # How long what an NCA report contained is held from its receipt. The regulations require
    # retention for a specified period that we could not confirm ([U], docs/nca-protocol.md).
    uk_nca_report_hold_days: int = Field(default=365, ge=1)
    # A report waits this long for a file staydown never held and asked the platform for
    # (`provide_file`); then child safety is alerted, and the report still waits for the file or
    # for a specialist's reasoned decision to file without it. Well inside the report's own clock.
    ncmec_file_request_hours: float = Field(default=4.0, gt=0, le=72)
    # DSA Art. 18: the authority to notify, per member state ({"IE": "Garda ... <channel>"}).
    dsa18_authorities: dict[str, str] = Field(default_factory=dict)

    # Outgoing e-mail to notifiers. Without an SMTP host, messages are written to DATA_DIR/mail.
    smtp_host: str | None = None
    smtp_port: int = Field(default=587, ge=1, le=65535)
    smtp_username: str | None = None
    smtp_password: SecretStr | None = None
    smtp_starttls: bool = True
    mail_from: str = "staydown <no-reply@localhost>"
    mail_domain: str = "localhost"
    platform_name: str = "this platform"

    # The languages the platform serves its users in, the first being the default: the public
    # pages are offered in those that ship a catalogue (staydown.i18n.SHIPPED), and statements of
    # reasons (DSA Art. 17) are rendered in each, a user's own statement in their language when it
    # is among them, else in the first (the appeal window is `appeal_window_days` above).
    platform_languages: list[Annotated[str, Field(pattern=r"^[a-z]{2,3}(-[A-Za-z0-9]{2,8})*$")]] = Field(
        default_factory=lambda: ["en", "fr", "de", "es", "it", "nl", "pl", "pt"], min_length=1, max_length=30
    )
    # EU Transparency Database (DSA Art. 24(5)). Without a URL statements wait as `pending` and
    # are submitted once one is configured; nothing is dropped.
    tdb_url: str | None = None  # e.g. https://transparency.dsa.ec.europa.eu (its /api/v1/statements)
    tdb_token: SecretStr = SecretStr(DEV_TDB_TOKEN)
    tdb_batch_size: int = Field(default=100, ge=1, le=100)
    tdb_max_batches_per_run: int = Field(default=20, ge=1, le=1000)
    tdb_timeout_seconds: float = Field(default=30.0, gt=0)
    # The reviewer's own words may name people; off, decision_facts is built from the policy and
    # the decision's structured facts only. On, they are added after scrubbing (see tdb.py).
    tdb_include_reviewer_facts: bool = False

    # Transparency reports and consistency figures (issue #8 items 4-5, see transparency/report.py).
    # A "high-reach account" has at least `high_reach_threshold` followers (account metadata
    # `followers`) or a case reach (platform-reported views) of at least that many; its decisions are
    # reported separately. `consistency_sample_rate` of decided cases (chosen by a hash of the case
    # id, so reproducible) get an agreement check by a second reviewer. Public figures show counts
    # below `public_report_min_count` as "< N" so that no small group can be singled out.
    high_reach_threshold: int = Field(default=100_000, ge=1)
    consistency_sample_rate: float = Field(default=0.05, ge=0.0, le=1.0)
    public_report_min_count: int = Field(default=5, ge=1, le=1000)
    public_report_cache_seconds: int = Field(default=300, ge=0, le=86_400)
    public_report_rate_per_minute: int = Field(default=10, ge=1)

    # SQLite busy timeout: how long a writer waits for its turn among staydown's own writers.
    sqlite_busy_timeout_ms: int = Field(default=15_000, ge=0)
    # How long a writer whose turn it is waits on SQLite's lock held by another program (a backup
    # tool, a shell) before the request is answered 503 with Retry-After (db.create_engine).
    sqlite_lock_wait_ms: int = Field(default=1_000, ge=0)

    log_level: str = "INFO"
    # "json": one JSON object a line, with the request id (observability/logs.py).
    log_format: Literal["text", "json"] = "text"
    policy_catalogue_path: Path | None = None
    # Tests and drills only: the service's clock is the system clock plus the seconds in this file
    # (re-read when it changes), so days of deadlines can be replayed over real HTTP.
    clock_offset_file: Path | None = None

    @property
    def base_url(self) -> str:
        """The address links are built on where there is no request to take it from: the
        configured STAYDOWN_PUBLIC_BASE_URL, else the host and port this service listens on."""
        if self.public_base_url:
            return self.public_base_url.rstrip("/")
        host = {"0.0.0.0": "127.0.0.1", "::": "[::1]", "": "127.0.0.1"}.get(self.host, self.host)
        if ":" in host and not host.startswith("["):
            host = f"[{host}]"
        return f"http://{host}:{self.port}"

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        sources: list[PydanticBaseSettingsSource] = [init_settings, env_settings]
        config_file = os.environ.get("STAYDOWN_CONFIG_FILE")
        if config_file:
            sources.append(TomlConfigSettingsSource(settings_cls, toml_file=Path(config_file)))
        return tuple(sources)

    @model_validator(mode="after")
    def _defaults_under_data_dir(self) -> Settings:
        if not self.database_url:
            self.database_url = f"sqlite:///{(self.data_dir / 'staydown.db').as_posix()}"
        if self.index_dir is None:
            self.index_dir = self.data_dir / "index"
        if self.vault_dir is None:
            self.vault_dir = self.data_dir / "vault"
        return self

    @field_validator("trusted_proxies")
    @classmethod
    def _proxy_networks(cls, value: list[str]) -> list[str]:
        for entry in value:
            try:
                ipaddress.ip_network(entry, strict=False)
            except ValueError:
                raise ValueError(f"{entry!r} is not an IP address or network (e.g. 10.0.0.0/8)") from None
        return value

    def decode_limits(self) -> Any:
        from staydown.media.decode import DecodeLimits  # noqa: PLC0415 - the CLI's start-up: NumPy and Pillow, ~90 ms

        return DecodeLimits(
            max_bytes=self.max_upload_bytes,
            max_pixels=self.media_max_pixels,
            max_dimension=self.media_max_dimension,
            max_frames=self.media_max_frames,
            keep_frames=self.media_keep_frames,
            max_seconds=self.media_max_seconds,
            max_decode_bytes=self.media_max_decode_bytes,
        )

    def video_limits(self) -> Any:
        from staydown.media.video import VideoLimits  # noqa: PLC0415 - the CLI's start-up: NumPy, numba, ~400 ms

        return VideoLimits(
            max_bytes=self.max_upload_bytes,
            max_duration_seconds=self.video_max_duration_seconds,
            max_pixels=self.video_max_pixels,
            max_seconds=self.video_max_seconds,
            max_memory_bytes=self.video_max_memory_mb * 1024 * 1024,
            seconds_per_hash=self.video_seconds_per_hash,
            lookup_rate=self.video_lookup_rate,
            hash_side=self.video_hash_side,
            threads=self.video_threads,
        )

    def fetch_policy(self) -> Any:
        from staydown.media.fetch import FetchPolicy  # noqa: PLC0415 - the CLI's start-up: httpx, NumPy, ~200 ms

        return FetchPolicy(
            allowed_hosts=tuple(self.scan_url_allowlist),
            max_bytes=self.max_upload_bytes,
            timeout_seconds=self.scan_url_timeout_seconds,
            allow_private_addresses=self.scan_url_allow_private,
        )

    @property
    def is_sqlite(self) -> bool:
        return str(self.database_url).startswith("sqlite")

    def production_problems(self) -> list[str]:
        """What stops this configuration from running in production, one line each."""
        problems: list[str] = []
        if self.env is not Environment.production:
            return problems
        for name, default in (
            ("secret_key", DEV_SECRET_KEY),
            ("webhook_secret", DEV_WEBHOOK_SECRET),
            ("vault_master_key", DEV_VAULT_MASTER_KEY),
        ):
            value = getattr(self, name).get_secret_value()
            if not value:
                problems.append(f"STAYDOWN_{name.upper()} is missing")
            elif value == default:
                problems.append(f"STAYDOWN_{name.upper()} is the development default; set a secret of your own")
            elif len(value) < 32 and name != "vault_master_key":
                problems.append(f"STAYDOWN_{name.upper()} is shorter than 32 characters")
        try:
            from staydown.evidence.crypto import MasterKeys  # noqa: PLC0415 - the CLI's start-up: cryptography

            MasterKeys.from_base64(self.vault_master_key.get_secret_value())
        except ValueError as exc:
            problems.append(f"STAYDOWN_VAULT_MASTER_KEY: {exc}")
        for name in (
            "ncmec_url",
            "ncmec_username",
            "ncmec_password",
            "ncmec_reporter_email",
            "ncmec_reporter_first_name",
            "ncmec_reporter_last_name",
        ):
            if not getattr(self, name):
                problems.append(f"STAYDOWN_{name.upper()} is missing: NCMEC reporting is a legal duty (CSAM-2)")
        if self.uk_nca_reporting:
            for name in (
                "uk_nca_url",
                "uk_nca_token",
                "uk_nca_provider",
                "uk_nca_organisation_id",
                "uk_nca_authorised_person_name",
                "uk_nca_authorised_person_email",
            ):
                if not getattr(self, name):
                    problems.append(
                        f"STAYDOWN_{name.upper()} is missing: STAYDOWN_UK_NCA_REPORTING is on, and "
                        "reporting CSEA content to the NCA is a legal duty (UK-6)"
                    )
            if self.uk_nca_url and not self.uk_nca_url.startswith("https://"):
                problems.append("STAYDOWN_UK_NCA_URL must be https:// in production")
        if self.scan_url_allow_private:
            problems.append("STAYDOWN_SCAN_URL_ALLOW_PRIVATE must not be set in production")
        if self.clock_offset_file is not None:
            problems.append("STAYDOWN_CLOCK_OFFSET_FILE moves the service's clock; it must not be set in production")
        if not (self.public_base_url or "").startswith("https://"):
            problems.append("STAYDOWN_PUBLIC_BASE_URL must be set, to an https:// address, in production")
        if self.tdb_url:
            token = self.tdb_token.get_secret_value()
            if not token or token == DEV_TDB_TOKEN:
                problems.append(
                    "STAYDOWN_TDB_TOKEN is missing or the development default; set the token the "
                    "Transparency Database issued to you"
                )
            if not self.tdb_url.startswith("https://"):
                problems.append("STAYDOWN_TDB_URL must be https:// in production")
        return problems


class ConfigurationError(RuntimeError):
    """The configuration cannot run: the message lists every problem."""


def load_settings(**overrides: Any) -> Settings:
    """Build settings and refuse a production configuration that still has default secrets."""
    settings = Settings(**overrides)
    problems = settings.production_problems()
    if problems:
        raise ConfigurationError("refusing to start in production mode:\n" + "\n".join(f"  - {p}" for p in problems))
    return settings
