"""One validated settings object, built once at start-up and passed in.

Values come from environment variables prefixed ``MINSHENG_`` or from a ``.env`` file.
Nothing here reads the environment at import time.
"""
from __future__ import annotations

import base64
import binascii
import os
import re
from pathlib import Path

from pydantic import BaseSettings, Field, validator

from minsheng.enums import Category
from minsheng.local_secrets import GENERATED, read_or_create
from minsheng.shared_state import MEMORY, check_url

PLACEHOLDER_SECRETS = {"", "changeme", "change-me", "secret", "token", "xxx"}
# Defaults that were once committed to this repository: anyone can read them, so they are
# refused like placeholders wherever they are still configured.
PUBLISHED_SECRETS = {"minsheng-local-rasa-token", "minsheng-local-dev-key-please-override"}
MIN_SECRET_LENGTH = 16
# Categories whose 办结 needs a photo of the result (MINSHENG_RESOLVE_PHOTO_CATEGORIES, a JSON
# list of codes; [] turns the rule off).
DEFAULT_RESOLVE_PHOTO_CATEGORIES = (Category.illegal_construction, Category.clutter,
                                    Category.sanitation)

# What a WeChat template message can carry (bot/wechat/template.py fills them), and the
# field names of the classic template that carries them.
WECHAT_TEMPLATE_MEANINGS = ("first", "case_no", "state", "time", "remark")
DEFAULT_WECHAT_TEMPLATE_FIELDS = {"first": "first", "case_no": "keyword1", "state": "keyword2",
                                  "time": "keyword3", "remark": "remark"}
# A field as the mapping names it: ``thing4``, or ``thing4:20`` to cut its value at 20
# characters (bot/wechat/template.py reads the cut, and knows WeChat's own per type).
WECHAT_TEMPLATE_FIELD = re.compile(r"[A-Za-z0-9_]+(:[1-9][0-9]{0,3})?")
WECHAT_AES_KEY_LENGTH = 43
# Settings that were renamed, by their old environment variable.
RENAMED = {"MINSHENG_THROTTLE_URL": "MINSHENG_SHARED_STATE_URL",
           "MINSHENG_REDIS_URL": "MINSHENG_SHARED_STATE_URL"}


class Settings(BaseSettings):
    database_url: str = "sqlite:///var/minsheng.db"
    # Where the state replicas must share lives (minsheng.shared_state): rate-limit
    # counters, button tokens and numbered options, chat locks. memory:// keeps it in each
    # process (one web app, one gateway); redis://host:port/db shares it between replicas.
    shared_state_url: str = MEMORY
    # Online reports one resident may open per local day (urgent ones always go through).
    daily_case_quota: int = 10
    # Served over HTTPS (behind a TLS proxy): cookies get the Secure flag.
    web_https: bool = False
    rasa_url: str = "http://127.0.0.1:5005"
    # Each Rasa replica's own address (not a balancer's), as a JSON list: a promote or
    # rollback pushes the model to each in turn and reads back what each serves
    # (nlu/serving.py). Empty: rasa_url is the one replica.
    rasa_replica_urls: list[str] = []
    # Rasa's endpoints file (as `rasa run --endpoints` gets it; the scale-out topology's is
    # endpoints.scale-out.yml): `minsheng privacy erase` finds the tracker store there.
    rasa_endpoints: Path = Path("endpoints.yml")
    # The three secrets: None here means "made on first run in secrets_dir" (load_settings).
    rasa_token: str | None = None
    action_token: str | None = None
    web_secret_key: str | None = None
    secrets_dir: Path = Path("var/secrets")
    action_server_url: str = "http://127.0.0.1:5055/webhook"
    models_dir: Path = Path("models")
    photos_dir: Path = Path("var/photos")
    # Place names from the grid table (minsheng.place_lexicon): written on every grid change,
    # read by the Rasa process's place extractor whenever the file changes.
    place_lexicon_path: Path = Path("var/place_lexicon.json")
    nlu_confidence_threshold: float = 0.55
    # The conventional name TELEGRAM_BOT_TOKEN is accepted too.
    telegram_bot_token: str | None = Field(
        None, env=["MINSHENG_TELEGRAM_BOT_TOKEN", "TELEGRAM_BOT_TOKEN"]
    )
    telegram_base_url: str = "https://api.telegram.org/bot"
    timezone: str = "Asia/Shanghai"
    rating_reminder_days: int = 3
    resolve_photo_categories: list[Category] = list(DEFAULT_RESOLVE_PHOTO_CATEGORIES)
    rating_close_days: int = 7
    # The dashboard's targets (rates as fractions; MINSHENG_DASHBOARD_TARGETS as JSON): a KPI
    # card is green at or above its target, amber within 5 points below, red further down.
    dashboard_targets: dict[str, float] = {"closure_rate": 0.95, "satisfaction_rate": 0.90,
                                           "on_time_rate": 0.90, "response_rate": 0.90}
    # Raw inbound payloads (what residents sent, as the channel delivered it) are emptied
    # this many days after they were processed (PIPL: keep no longer than needed).
    inbound_retention_days: int = 30
    # 热点问题 (services/hotspots.py, docs/hotspots.md): reports of the last N days grouped by
    # category, place and wording; a group of at least hotspot_min_reports is listed, one
    # of hotspot_alert_reports alerts its community once. The similarity threshold was
    # chosen on tests/unit/hotspot_cases.yml (scripts/eval_hotspots.py).
    hotspot_window_days: int = Field(30, ge=1, le=90)
    hotspot_min_reports: int = Field(2, ge=2)
    hotspot_alert_reports: int = Field(3, ge=2)
    hotspot_similarity: float = Field(0.08, ge=0.0, le=1.0)
    hotspot_distance_m: float = Field(150.0, gt=0)
    # The scheduler takes a hot-spot snapshot (what pages and /api/hotspots show, and what
    # alerts are raised from) this often: grouping a district's window takes seconds.
    hotspot_scan_minutes: int = Field(5, ge=1)
    # WeChat Official Account (微信公众号): off (GET|POST /wechat answer 404) while the token
    # is unset. The token is the one typed into the account's server configuration (3–32
    # letters and digits); app id and secret fetch the access token for the
    # customer-service and template message APIs. A template id lets notices reach a
    # resident outside WeChat's 48-hour customer-service window.
    wechat_token: str | None = None
    wechat_app_id: str | None = None
    wechat_app_secret: str | None = None
    wechat_api_base: str = "https://api.weixin.qq.com"
    wechat_template_id: str | None = None
    # The template's field names (as registered with it), by what each carries; a meaning
    # left out is not sent (newer templates have no first/remark), e.g.
    # {"case_no": "character_string1", "state": "phrase2", "time": "time3"}. A name may
    # end in ``:N``, the most characters its value carries (e.g. "remark": "thing4:20").
    wechat_template_fields: dict[str, str] = dict(DEFAULT_WECHAT_TEMPLATE_FIELDS)
    # Safe mode (安全模式): the account's EncodingAESKey (43 characters). Set, every POST must
    # come encrypted (encrypt_type=aes, msg_signature) and passive replies go back encrypted.
    wechat_encoding_aes_key: str | None = None

    class Config:
        env_prefix = "MINSHENG_"
        env_file = ".env"
        env_file_encoding = "utf-8"

    @validator("nlu_confidence_threshold")
    def _threshold_is_a_probability(cls, value: float) -> float:
        if not 0.0 <= value <= 1.0:
            raise ValueError("must be between 0 and 1")
        return value

    @validator("shared_state_url")
    def _shared_state_store_known(cls, value: str) -> str:
        return check_url(value)

    @validator(*GENERATED)
    def _no_placeholder_secret(cls, value: str | None) -> str | None:
        if value is None:
            return None
        if value.strip().lower() in PLACEHOLDER_SECRETS | PUBLISHED_SECRETS:
            raise ValueError("placeholder or published secret refused; set a real value "
                             "or leave it unset to have one made in var/secrets")
        if len(value) < MIN_SECRET_LENGTH:
            raise ValueError(f"too short: use at least {MIN_SECRET_LENGTH} characters")
        return value

    @validator("telegram_bot_token")
    def _telegram_token_shape(cls, value: str | None) -> str | None:
        if value in (None, ""):
            return None
        if ":" not in value or value.strip().lower() in PLACEHOLDER_SECRETS:
            raise ValueError("expected a Bot API token like 123456:ABC…")
        return value


    @validator("wechat_token")
    def _wechat_token_shape(cls, value: str | None) -> str | None:
        if value in (None, ""):
            return None
        if value.strip().lower() in PLACEHOLDER_SECRETS or not 3 <= len(value) <= 32:
            raise ValueError("expected the server token of the Official Account (3–32 "
                             "characters), not a placeholder")
        return value

    @validator("wechat_app_secret", always=True)
    def _wechat_needs_credentials(cls, value: str | None, values: dict) -> str | None:
        if values.get("wechat_token") and not (value and values.get("wechat_app_id")):
            raise ValueError("MINSHENG_WECHAT_TOKEN is set: MINSHENG_WECHAT_APP_ID and "
                             "MINSHENG_WECHAT_APP_SECRET are needed too")
        if value is not None and value.strip().lower() in PLACEHOLDER_SECRETS:
            raise ValueError("placeholder secret refused")
        return value or None

    @validator("wechat_template_fields")
    def _wechat_template_fields_known(cls, value: dict[str, str]) -> dict[str, str]:
        unknown = set(value) - set(WECHAT_TEMPLATE_MEANINGS)
        if unknown:
            raise ValueError(f"unknown meanings {sorted(unknown)}; known: "
                             f"{', '.join(WECHAT_TEMPLATE_MEANINGS)}")
        if not all(WECHAT_TEMPLATE_FIELD.fullmatch(spec) for spec in value.values() if spec):
            raise ValueError("field names are letters, digits and _ (as in the template), "
                             "each with an optional :N, the most characters it may carry")
        return {meaning: name for meaning, name in value.items() if name}

    @validator("wechat_encoding_aes_key")
    def _wechat_aes_key_shape(cls, value: str | None) -> str | None:
        if value in (None, ""):
            return None
        try:
            key = base64.b64decode(value + "=", validate=True)
        except binascii.Error:
            key = b""
        if len(value) != WECHAT_AES_KEY_LENGTH or len(key) != 32:
            raise ValueError(f"expected the account's EncodingAESKey: {WECHAT_AES_KEY_LENGTH} "
                             "letters and digits")
        return value

    @property
    def rasa_replicas(self) -> list[str]:
        return list(self.rasa_replica_urls) or [self.rasa_url]

    @property
    def wechat_enabled(self) -> bool:
        return bool(self.wechat_token)


def load_settings(**overrides) -> Settings:
    """Build and validate the settings once; callers pass the result along.

    A secret not configured is read from (or made in) ``secrets_dir``, so that no process
    ever runs on a value anyone could know.
    """
    for old, new in RENAMED.items():
        if old in os.environ:  # read as nothing, it would quietly un-share the state
            raise ValueError(f"{old} was renamed {new}: set that instead")
    settings = Settings(**overrides)
    for name in GENERATED:
        if getattr(settings, name) is None:
            setattr(settings, name, read_or_create(settings.secrets_dir, name))
    return settings
