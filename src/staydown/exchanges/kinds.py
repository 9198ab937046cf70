"""Each kind of exchange: which python-threatexchange SignalExchangeAPI serves it, how it is built
with our credentials and base URL, and how its records become bank signals and feedback."""

from __future__ import annotations

import dataclasses
import enum
import hashlib
import json
import typing as t
from dataclasses import dataclass

import dacite
from threatexchange.exchanges import auth
from threatexchange.exchanges import fetch_state as state
from threatexchange.exchanges.clients.fb_threatexchange.api import ThreatExchangeAPI
from threatexchange.exchanges.clients.fb_threatexchange.threat_updates import ThreatUpdateJSON
from threatexchange.exchanges.clients.ncmec import hash_api as ncmec
from threatexchange.exchanges.clients.stopncii import api as stopncii
from threatexchange.exchanges.clients.techagainstterrorism.api import TATHashListAPI
from threatexchange.exchanges.collab_config import CollaborationConfigBase, CollaborationConfigWithDefaults
from threatexchange.exchanges.impl.fb_threatexchange_api import (
    FBThreatExchangeCheckpoint,
    FBThreatExchangeCollabConfig,
    FBThreatExchangeCredentials,
    FBThreatExchangeIndicatorRecord,
    FBThreatExchangeSignalExchangeAPI,
)
from threatexchange.exchanges.impl.file_api import FileCollaborationConfig, LocalFileSignalExchangeAPI
from threatexchange.exchanges.impl.ncmec_api import (
    NCMECCollabConfig,
    NCMECCredentials,
    NCMECSignalExchangeAPI,
)
from threatexchange.exchanges.impl.static_sample import StaticSampleSignalExchangeAPI
from threatexchange.exchanges.impl.stop_ncii_api import (
    StopNCIICheckpoint,
    StopNCIICredentials,
    StopNCIISignalExchangeAPI,
    StopNCIISignalMetadata,
)
from threatexchange.exchanges.impl.stop_ncii_api import (
    _type_mapping as stopncii_type_mapping,
)
from threatexchange.exchanges.impl.techagainstterrorism_api import TATCredentials, TATSignalExchangeAPI
from threatexchange.exchanges.signal_exchange_api import AnySignalExchangeAPI
from threatexchange.signal_type.md5 import VideoMD5Signal
from threatexchange.signal_type.pdq.signal import PdqSignal
from threatexchange.signal_type.signal_base import SignalType as TxSignalType

from staydown.errors import InvalidInput

# The library's signal types a bank can hold, and our names for them (an MD5 is a file digest
# whatever the medium; threatexchange only has a video class for it).
SIGNAL_TYPES: tuple[type[TxSignalType], ...] = (PdqSignal, VideoMD5Signal)
OURS = {PdqSignal.get_name(): "pdq", VideoMD5Signal.get_name(): "md5"}
MAX_KEY = 300


class Opinion(str, enum.Enum):
    seen = "seen"
    true_positive = "true_positive"
    false_positive = "false_positive"


class Unsupported(Exception):
    """The exchange has no way to say this (NCMEC has no "seen"; a file list takes no feedback)."""


@dataclass(frozen=True)
class Credentials:
    """The library's credential object, and keys it has no field for (StopNCII's feedback key)."""

    library: auth.CredentialHelper | None
    extra: dict[str, str] = dataclasses.field(default_factory=dict)


@dataclass(frozen=True)
class SignalOf:
    signal_type: str  # ours: pdq, md5
    signal: str
    partner_type: str  # the partner's name for it, as feedback needs it


# -- the library's NCMEC, StopNCII and TAT clients with a base URL of ours -----------------------


class _NCMEC(NCMECSignalExchangeAPI):
    """NCMEC's client takes its address from an environment enum; a configured base URL (NCMEC's
    test host, or a local server) replaces it, the protocol untouched."""

    base_url: str | None = None

    def get_client(self, environment: ncmec.NCMECEnvironment) -> ncmec.NCMECHashAPI:
        client = super().get_client(environment)
        if self.base_url:
            client._base_url = self.base_url.rstrip("/")
        return client


class _StopNCII(StopNCIISignalExchangeAPI):
    def fetch_iter(
        self, _supported_signal_types: t.Sequence[type[TxSignalType]], checkpoint: StopNCIICheckpoint | None
    ) -> t.Iterator[state.FetchDelta]:
        """The library's fetch, with withdrawn and deleted hashes as deletions: threatexchange
        1.2.17 compares the hash value, not its status, with Withdrawn/Deleted, so a withdrawn
        hash would stay in the bank. The client, paging and checkpoints are the library's."""
        start = stopncii.StopNCIIAPI.DEFAULT_START_TIME if checkpoint is None else checkpoint.update_time
        for result in self.api.fetch_hashes_iter(start_timestamp=start):
            updates: dict[tuple[str, str], StopNCIISignalMetadata | None] = {}
            for record in result.hashRecords:
                type_name = stopncii_type_mapping().get(record.signalType)
                if not type_name:
                    continue
                gone = record.hashStatus in (stopncii.StopNCIICaseStatus.Withdrawn, stopncii.StopNCIICaseStatus.Deleted)
                updates[type_name, record.hashValue] = None if gone else StopNCIISignalMetadata(record.CSPFeedbacks)
            yield state.FetchDelta(updates, StopNCIICheckpoint.from_stopncii_fetch(result))


class _ThreatExchange(FBThreatExchangeSignalExchangeAPI):
    def fetch_iter(
        self, _supported_signal_types: t.Sequence[type[TxSignalType]], checkpoint: FBThreatExchangeCheckpoint | None
    ) -> t.Iterator[state.FetchDelta]:
        """The library's fetch, without its assertion against an empty page: /threat_updates answers
        an incremental fetch with nothing new by an empty `data`, which 1.2.17 asserts on. The
        client, the record conversion and the checkpoint are the library's."""
        start_time = None if checkpoint is None else checkpoint.update_time
        cursor = self.client.get_threat_updates(
            self.collab.privacy_group,
            start_time=start_time,
            page_size=100,
            fields=ThreatUpdateJSON.te_threat_updates_fields(),
            decode_fn=ThreatUpdateJSON,
        )
        highest = start_time or 0
        for batch in cursor:
            if not batch:
                continue
            highest = max(highest, max(update.time for update in batch))
            updates = {
                (u.threat_type, u.indicator): FBThreatExchangeIndicatorRecord.from_threatexchange_json(
                    self.client.app_id, u
                )
                for u in batch
            }
            yield state.FetchDelta(updates, FBThreatExchangeCheckpoint(highest))


class _TAT(TATSignalExchangeAPI):
    base_url: str | None = None

    def get_client(self) -> TATHashListAPI:
        client = super().get_client()
        if self.base_url:
            client.BASE_URL = self.base_url.rstrip("/") + "/"  # type: ignore[misc]
        return client


# -- kinds ---------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Kind:
    api: str
    title: str
    api_cls: type[AnySignalExchangeAPI]
    credentials_cls: type[auth.CredentialHelper] | None
    bank_source: str
    required_config: tuple[str, ...] = ()
    # A list fetched whole every time (a file): records it no longer holds are gone.
    snapshot: bool = False
    feedback: frozenset[Opinion] = frozenset()
    share: bool = False
    extra_credentials: tuple[str, ...] = ()

    def collab(self, name: str, config: dict[str, t.Any]) -> CollaborationConfigBase:
        if self.api == "ncmec":
            try:
                env = ncmec.NCMECEnvironment[config.get("environment", "Industry")]
            except KeyError:
                raise InvalidInput(
                    f"unknown NCMEC environment {config.get('environment')!r}; expected one of "
                    f"{', '.join(e.name for e in ncmec.NCMECEnvironment)}"
                ) from None
            return NCMECCollabConfig(
                name=name, environment=env, only_esp_ids={int(i) for i in config.get("only_esp_ids", [])}
            )
        if self.api == "fb_threatexchange":
            return FBThreatExchangeCollabConfig(name=name, privacy_group=int(config["privacy_group"]))
        if self.api == "file":
            return FileCollaborationConfig(
                name=name, filename=str(config["filename"]), signal_type=config.get("signal_type")
            )
        if self.api == "tat":
            return CollaborationConfigWithDefaults(name=name, api="tat")
        return CollaborationConfigBase(name=name, api=self.api, enabled=True)

    def build(self, name: str, config: dict[str, t.Any], credentials: Credentials) -> AnySignalExchangeAPI:
        """The library's API object for this collaboration, authenticated with `credentials`."""
        collab = self.collab(name, config)
        base_url = config.get("base_url") or None
        creds = credentials.library
        if self.api == "ncmec":
            assert isinstance(creds, NCMECCredentials)
            api = _NCMEC(collab, creds.user, creds.password)  # type: ignore[arg-type]
            api.base_url = base_url
            return api
        if self.api == "stopncii":
            assert isinstance(creds, StopNCIICredentials)
            keys = {}
            if credentials.extra.get("feedback_function_key"):
                keys[stopncii.StopNCIIEndpoint.SubmitFeedback] = credentials.extra["feedback_function_key"]
            client = stopncii.StopNCIIAPI(
                creds.subscription_key,
                creds.fetch_function_key,
                additional_function_keys=keys,
                base_url_override=base_url or creds.base_url_override,
            )
            return _StopNCII(collab, client)
        if self.api == "fb_threatexchange":
            assert isinstance(creds, FBThreatExchangeCredentials)
            return _ThreatExchange(ThreatExchangeAPI(creds.api_token, endpoint_override=base_url), collab)  # type: ignore[arg-type]
        if self.api == "tat":
            assert isinstance(creds, TATCredentials)
            tat = _TAT(creds.username, creds.password)
            tat.base_url = base_url
            return tat
        if self.api == "sample":
            return StaticSampleSignalExchangeAPI()
        return LocalFileSignalExchangeAPI(collab)  # type: ignore[arg-type]

    # -- credentials --------------------------------------------------------------------------

    def parse_credentials(self, text: str) -> Credentials:
        """Credentials as a JSON object of the library's fields (and ours), or in the library's
        own one-line form (`user:password` for NCMEC and TAT, `fetch_key,subscription_key` for
        StopNCII, the app token for ThreatExchange)."""
        if self.credentials_cls is None:
            return Credentials(None)
        text = text.strip()
        if not text:
            raise InvalidInput(f"{self.title} needs credentials: {self.credentials_hint}")
        extra: dict[str, str] = {}
        creds: auth.CredentialHelper | None
        try:
            if text.startswith("{"):
                data = json.loads(text)
                if not isinstance(data, dict):
                    raise ValueError("not an object")
                extra = {k: str(data.pop(k)) for k in self.extra_credentials if data.get(k)}
                creds = dacite.from_dict(self.credentials_cls, data, config=dacite.Config(strict=True))
            else:
                creds = self.credentials_cls._from_str(text)
        except (ValueError, dacite.DaciteError) as exc:
            raise InvalidInput(
                f"{self.title} credentials could not be read ({_short(exc)}): {self.credentials_hint}"
            ) from None
        if creds is None or not creds._are_valid():
            raise InvalidInput(f"{self.title} credentials are incomplete or malformed: {self.credentials_hint}")
        return Credentials(creds, extra)

    @property
    def credentials_hint(self) -> str:
        if self.credentials_cls is None:
            return "none needed"
        assert dataclasses.is_dataclass(self.credentials_cls)  # the library's credentials are dataclasses
        names = [f.name for f in dataclasses.fields(self.credentials_cls)] + list(self.extra_credentials)
        return "a JSON object with " + ", ".join(names)

    # -- records -----------------------------------------------------------------------------

    def is_gone(self, value: t.Any) -> bool:
        """A deletion by the partner: the library's own merge says the record is to be removed."""
        if value is None:
            return True
        return self.api_cls.fetch_value_merge(None, value) is None

    def signals(self, collab: CollaborationConfigBase, key: t.Any, value: t.Any) -> list[SignalOf]:
        """The record's signals in the library's signal types, as the library converts them."""
        converted = self.api_cls.naive_convert_to_signal_type(list(SIGNAL_TYPES), collab, {key: value})
        found = [
            SignalOf(OURS[st.get_name()], signal, self._partner_type(st.get_name()))
            for st, by_signal in converted.items()
            for signal in by_signal
        ]
        if self.api == "ncmec" and value.entry_type is ncmec.NCMECEntryType.image:
            # The library maps MD5 only for videos (its MD5 class is VideoMD5Signal); an image's
            # MD5 is as good a file digest, and most of NCMEC's image entries carry one.
            md5 = value.fingerprints.get("md5")
            if md5 and (not collab.only_esp_ids or value.member_id in collab.only_esp_ids):  # type: ignore[attr-defined]
                found.append(SignalOf("md5", md5, ncmec.FingerprintType.md5.value))
        return found

    def _partner_type(self, tx_name: str) -> str:
        if self.api == "ncmec":
            return {"pdq": ncmec.FingerprintType.pdq.value, "video_md5": ncmec.FingerprintType.md5.value}[tx_name]
        if self.api == "stopncii":
            return {
                "pdq": stopncii.StopNCIISignalType.ImagePDQ.value,
                "video_md5": stopncii.StopNCIISignalType.VideoMD5.value,
            }[tx_name]
        return tx_name

    def partner_id(self, value: t.Any) -> str | None:
        if self.api == "ncmec":
            return str(value.member_id)
        if self.api == "fb_threatexchange":
            return ",".join(sorted({str(o.owner_app_id) for o in value.opinions}))[:200] or None
        if self.api == "stopncii":
            return ",".join(sorted({f.source for f in value.feedbacks if f.source}))[:200] or None
        return None

    # -- checkpoints -------------------------------------------------------------------------

    def dump_checkpoint(self, checkpoint: state.FetchCheckpointBase | None) -> dict[str, t.Any] | None:
        if checkpoint is None:
            return None
        return {
            "type": type(checkpoint).__name__,
            "data": plain(dataclasses.asdict(checkpoint)) if dataclasses.is_dataclass(checkpoint) else {},
        }

    def load_checkpoint(self, stored: dict[str, t.Any] | None) -> state.FetchCheckpointBase | None:
        if not stored:
            return None
        cls = self.api_cls.get_checkpoint_cls()
        if stored.get("type") != cls.__name__:
            return None  # another library version's shape: fetch again from the start
        return dacite.from_dict(cls, stored.get("data") or {}, config=dacite.Config(check_types=False))


def record_key(key: t.Any) -> str:
    """The partner's key for a record as text: NCMEC's `member-entry`, or `type<TAB>signal`."""
    text = "\t".join(str(k) for k in key) if isinstance(key, tuple) else str(key)
    if len(text) > MAX_KEY:
        return "sha256:" + hashlib.sha256(text.encode()).hexdigest()
    return text


def plain(value: t.Any) -> t.Any:
    """A record's metadata as JSON: dataclasses as objects, enums by value, sets sorted."""
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return {f.name: plain(getattr(value, f.name)) for f in dataclasses.fields(value)}
    if isinstance(value, enum.Enum):
        return value.value if isinstance(value.value, (str, int)) else value.name
    if isinstance(value, dict):
        return {str(k): plain(v) for k, v in value.items()}
    if isinstance(value, (set, frozenset)):
        return sorted((plain(v) for v in value), key=str)
    if isinstance(value, (list, tuple)):
        return [plain(v) for v in value]
    return value


def _short(exc: BaseException) -> str:
    return str(exc).splitlines()[0][:200] if str(exc) else type(exc).__name__


KINDS: dict[str, Kind] = {
    k.api: k
    for k in (
        Kind(
            "ncmec",
            "NCMEC hash sharing",
            _NCMEC,
            NCMECCredentials,
            "ncmec",
            required_config=("environment",),
            feedback=frozenset({Opinion.true_positive, Opinion.false_positive}),
        ),
        Kind(
            "stopncii",
            "StopNCII",
            _StopNCII,
            StopNCIICredentials,
            "stopncii",
            feedback=frozenset(Opinion),
            extra_credentials=("feedback_function_key",),
        ),
        Kind(
            "fb_threatexchange",
            "Meta ThreatExchange",
            _ThreatExchange,
            FBThreatExchangeCredentials,
            "other",
            required_config=("privacy_group",),
            feedback=frozenset(Opinion),
            share=True,
        ),
        Kind("tat", "Tech Against Terrorism", _TAT, TATCredentials, "other"),
        Kind(
            "file",
            "hash list file",
            LocalFileSignalExchangeAPI,
            None,
            "other",
            required_config=("filename",),
            snapshot=True,
            share=True,
        ),
        # The library's own example signals, which HMA configures by default: for trying an
        # exchange end to end without a partner (its test images' hashes, nothing harmful).
        Kind(
            "sample",
            "python-threatexchange sample signals",
            StaticSampleSignalExchangeAPI,
            None,
            "other",
            snapshot=True,
        ),
    )
}


def kind_of(api: str) -> Kind:
    try:
        return KINDS[api]
    except KeyError:
        raise InvalidInput(f"unknown exchange {api!r}; expected one of {', '.join(KINDS)}") from None
