"""One settings module, read from the environment (see .env.example).

With no environment at all it runs on a laptop: SQLite under var/ and, when no Redis
answers, a broker that needs no server. DJANGO_ENV=production turns on the checks and
refuses to start without a real SECRET_KEY and ALLOWED_HOSTS.
"""

import ipaddress
import os
from pathlib import Path

import environ
from django.core.exceptions import ImproperlyConfigured

from mnistsite.runtime import (
    BASE_DIR,
    VAR_DIR,
    broker_transport_options,
    broker_url_choose,
    embedded_broker_prepare,
    object_storage_backend,
)

env = environ.Env()
environ.Env.read_env(BASE_DIR / ".env", overwrite=False)

DJANGO_ENV = env.str("DJANGO_ENV", default="development")
PRODUCTION = DJANGO_ENV == "production"
DEV_SECRET_KEY = "dev-insecure-mnistsite-key-change-me"  # noqa: S105 - refused in production

SECRET_KEY = env.str("SECRET_KEY", default="" if PRODUCTION else DEV_SECRET_KEY)
DEBUG = env.bool("DEBUG", default=not PRODUCTION)
ALLOWED_HOSTS = env.list("ALLOWED_HOSTS", default=[] if PRODUCTION else ["*"])
CSRF_TRUSTED_ORIGINS = env.list("CSRF_TRUSTED_ORIGINS", default=[])

if PRODUCTION:
    if not SECRET_KEY or SECRET_KEY == DEV_SECRET_KEY or len(SECRET_KEY) < 32:
        raise ImproperlyConfigured("DJANGO_ENV=production needs SECRET_KEY set to a random string of 32+ characters.")
    if not ALLOWED_HOSTS:
        raise ImproperlyConfigured("DJANGO_ENV=production needs ALLOWED_HOSTS (comma-separated host names).")
    if DEBUG:
        raise ImproperlyConfigured("DJANGO_ENV=production refuses DEBUG=true.")

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "whitenoise.runserver_nostatic",
    "django.contrib.staticfiles",
    "rest_framework",
    "rest_framework.authtoken",
    "django_filters",
    "drf_spectacular",
    "drf_spectacular_sidecar",
    "mnistsite",
    "recognizer",
    "training",
    "axes",
]

MIDDLEWARE = [
    # First: every log record of a request carries its id, and every answer (a 503 too) sends it back.
    "mnistsite.logs.RequestIdMiddleware",
    "mnistsite.middleware.DatabaseUnavailableMiddleware",
    "django.middleware.security.SecurityMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    # Last, as axes asks: it turns a locked-out login into the lockout page.
    "axes.middleware.AxesMiddleware",
]

ROOT_URLCONF = "mnistsite.urls"
WSGI_APPLICATION = "mnistsite.wsgi.application"

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

VAR_DIR.mkdir(exist_ok=True)
DATABASES = {"default": env.db("DATABASE_URL", default=f"sqlite:///{VAR_DIR / 'db.sqlite3'}")}
DATABASES["default"]["CONN_MAX_AGE"] = env.int("CONN_MAX_AGE", default=60)
DATABASES["default"]["CONN_HEALTH_CHECKS"] = True
if DATABASES["default"]["ENGINE"] == "django.db.backends.sqlite3":
    # A file, not memory, so that a Celery worker started by a test sees the test database.
    DATABASES["default"]["TEST"] = {"NAME": env.str("SQLITE_TEST_NAME", default=str(VAR_DIR / "test-db.sqlite3"))}
    DATABASES["default"]["OPTIONS"] = {
        # Writers wait their turn: a transaction takes the write lock when it begins (a
        # deferred one that later writes fails at once with "database is locked"), readers
        # never block the writer (WAL), and a busy writer is waited for up to 30 s.
        "transaction_mode": "IMMEDIATE",
        "timeout": 30,
        "init_command": "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL;",
    }
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"
# Throttle counters live in the cache, which every process must share: by default a table in
# the database (mnistsite migration 0003), Redis with CACHE_URL=redis://... (compose does).
# MAX_ENTRIES: one key per client seen in a rate's window; past it Django drops a third.
CACHES = {"default": env.cache("CACHE_URL", default="dbcache://mnistsite_cache?MAX_ENTRIES=5000")}

AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]

LANGUAGE_CODE = "en-us"
TIME_ZONE = "UTC"
USE_I18N = True
USE_TZ = True

STATIC_URL = "static/"
STATIC_ROOT = Path(env.str("STATIC_ROOT", default=str(BASE_DIR / "staticfiles")))
STATICFILES_DIRS = [BASE_DIR / "static"]
MEDIA_URL = "media/"
MEDIA_ROOT = Path(env.str("MEDIA_ROOT", default=str(BASE_DIR / "media")))
# Object storage: with STORAGE_BUCKET set, everything that crosses hosts (uploads, staged
# batch inputs, model versions and their reports) goes to that S3-compatible bucket, so that
# several web and worker hosts share it; without it, the local disk under MEDIA_ROOT as before.
STORAGE_BUCKET = env.str("STORAGE_BUCKET", default="")
STORAGE_ENDPOINT_URL = env.str("STORAGE_ENDPOINT_URL", default="")  # empty: AWS itself
STORAGE_REGION = env.str("STORAGE_REGION", default="us-east-1")
STORAGE_PREFIX = env.str("STORAGE_PREFIX", default="")  # a folder of the bucket, when it is shared
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {
        "BACKEND": "whitenoise.storage.CompressedManifestStaticFilesStorage"
        if PRODUCTION
        else "django.contrib.staticfiles.storage.StaticFilesStorage"
    },
}
if STORAGE_BUCKET:
    STORAGES["default"] = object_storage_backend(
        bucket=STORAGE_BUCKET,
        endpoint_url=STORAGE_ENDPOINT_URL,
        region=STORAGE_REGION,
        access_key=env.str("STORAGE_ACCESS_KEY", default=""),
        secret_key=env.str("STORAGE_SECRET_KEY", default=""),
        prefix=STORAGE_PREFIX,
        addressing_style=env.str("STORAGE_ADDRESSING_STYLE", default="path"),
    )

# Models: the shipped default lives in models/default; trained versions go under MODEL_DIR.
MODEL_DIR = Path(env.str("MODEL_DIR", default=str(BASE_DIR / "models")))
DEFAULT_MODEL_DIR = BASE_DIR / "models" / "default"
MNIST_DIR = Path(env.str("MNIST_DIR", default=str(BASE_DIR / "data" / "mnist")))
# Where a serving process keeps the model versions it fetched from the bucket.
MODEL_CACHE_DIR = Path(env.str("MODEL_CACHE_DIR", default=str(VAR_DIR / "model-cache")))
ARTIFACTS_DIR = Path(env.str("ARTIFACTS_DIR", default=str(BASE_DIR / "artifacts")))

MAX_UPLOAD_BYTES = env.int("MAX_UPLOAD_BYTES", default=10 * 1024 * 1024)
# Django must accept the body so that the API can answer 413 itself with a JSON error.
DATA_UPLOAD_MAX_MEMORY_SIZE = MAX_UPLOAD_BYTES + 1024 * 1024
FILE_UPLOAD_MAX_MEMORY_SIZE = MAX_UPLOAD_BYTES + 1024 * 1024

REST_FRAMEWORK = {
    "DEFAULT_SCHEMA_CLASS": "drf_spectacular.openapi.AutoSchema",
    "DEFAULT_AUTHENTICATION_CLASSES": [
        "rest_framework.authentication.SessionAuthentication",
        "rest_framework.authentication.TokenAuthentication",
    ],
    "DEFAULT_PERMISSION_CLASSES": ["rest_framework.permissions.IsAuthenticated"],
    "DEFAULT_FILTER_BACKENDS": ["django_filters.rest_framework.DjangoFilterBackend"],
    "DEFAULT_PAGINATION_CLASS": "mnistsite.api_common.PageNumberPagination",
    "PAGE_SIZE": 50,
    "EXCEPTION_HANDLER": "mnistsite.api_errors.exception_handler",
}
SPECTACULAR_SETTINGS = {
    "TITLE": "mnistsite API",
    "DESCRIPTION": "Recognise handwritten digits, review predictions, run batch and training jobs.",
    "VERSION": "1.0.0",
    "SERVE_INCLUDE_SCHEMA": False,
    # Swagger and Redoc assets ship in a package: the docs work with no CDN in reach.
    "SWAGGER_UI_DIST": "SIDECAR",
    "SWAGGER_UI_FAVICON_HREF": "SIDECAR",
    "REDOC_DIST": "SIDECAR",
    # /api/health names the state of each part it checks with the same two words.
    "ENUM_NAME_OVERRIDES": {
        "PartStateEnum": ["ok", "unavailable"],
        # /api/predict's source, in its multipart and its JSON body alike.
        "PredictSourceEnum": "recognizer.serializers.PREDICT_SOURCES",
        # What is read: a prediction's kind and a batch job's mode.
        "KindEnum": "recognizer.models.Kind",
    },
}

# Celery: Redis when it answers; in development a server-less broker otherwise.
CELERY_BROKER_FALLBACK = env.bool("CELERY_BROKER_FALLBACK", default=not PRODUCTION)
CELERY_BROKER_URL_CONFIGURED = env.str("CELERY_BROKER_URL", default=None)
CELERY_BROKER_URL, CELERY_BROKER_EMBEDDED = broker_url_choose(
    CELERY_BROKER_URL_CONFIGURED, fallback=CELERY_BROKER_FALLBACK
)
if CELERY_BROKER_EMBEDDED:
    embedded_broker_prepare(CELERY_BROKER_URL)
CELERY_TASK_IGNORE_RESULT = True  # job state lives in database rows; only ping keeps a result
CELERY_RESULT_BACKEND = env.str(
    "CELERY_RESULT_BACKEND",
    default="db+" + CELERY_BROKER_URL.removeprefix("embedded+").replace(".sqlite3", "-results.sqlite3")
    if CELERY_BROKER_EMBEDDED
    else CELERY_BROKER_URL,
)
CELERY_RESULT_EXPIRES = 3600
# Celery reads these variables straight from the environment, ahead of settings: keep them
# equal to the choice made here (the embedded fallback replaces an unanswered Redis URL).
os.environ["CELERY_BROKER_URL"] = CELERY_BROKER_URL
os.environ["CELERY_RESULT_BACKEND"] = CELERY_RESULT_BACKEND
CELERY_TASK_SERIALIZER = "json"
CELERY_ACCEPT_CONTENT = ["json"]
CELERY_TASK_DEFAULT_QUEUE = "default"
CELERY_TASK_ROUTES = {"training.tasks.*": {"queue": "training"}}
CELERY_WORKER_PREFETCH_MULTIPLIER = 1
CELERY_TASK_SOFT_TIME_LIMIT = env.int("CELERY_TASK_SOFT_TIME_LIMIT", default=600)
CELERY_TASK_TIME_LIMIT = env.int("CELERY_TASK_TIME_LIMIT", default=660)
CELERY_BROKER_CONNECTION_RETRY_ON_STARTUP = True
CELERY_BROKER_TRANSPORT_OPTIONS = broker_transport_options(
    CELERY_BROKER_URL, visibility_timeout=env.int("CELERY_VISIBILITY_TIMEOUT", default=900)
)
# Workers beat in the database (mnistsite.workers); a worker silent this long is dead and
# what it held (batch chunks, training jobs) is re-sent or failed by the sweeps below.
# A pool process that grew past this (KiB; TensorFlow after a training job) is replaced.
CELERY_WORKER_MAX_MEMORY_PER_CHILD = env.int("CELERY_WORKER_MAX_MEMORY_PER_CHILD", default=800_000)
WORKER_BEAT_SECONDS = env.float("WORKER_BEAT_SECONDS", default=5.0)
WORKER_STALE_SECONDS = env.float("WORKER_STALE_SECONDS", default=30.0)
WORKER_SWEEPS = [
    "recognizer.batch.batch_jobs_recover",
    "training.services.training_jobs_reap",
    "training.services.training_jobs_resend",
    "recognizer.field.field_scores_refresh",
]
# The active version's field-test scores are recomputed when the reviews changed, at most this often.
FIELD_SCORES_REFRESH_SECONDS = env.float("FIELD_SCORES_REFRESH_SECONDS", default=60.0)
# A field temperature (for inputs that look like the reviewed field) is fitted once this many
# field-train reviews exist that the active version never trained on (vision.calibration).
FIELD_CALIBRATION_MINIMUM = env.int("FIELD_CALIBRATION_MINIMUM", default=100)
# Where a training job gets the field set (reviewed predictions) from: training does not import
# recognizer, so whoever starts a job reaches the snapshot writer through this setting.
FIELD_SET_SNAPSHOT = "recognizer.field.field_set_snapshot"
# A queued training job not taken this long after it was sent, while a training worker is idle, is sent again.
TRAINING_RESEND_SECONDS = env.float("TRAINING_RESEND_SECONDS", default=120.0)
# A running training job touches its row every 10 s; one silent this long whose worker no longer beats failed.
TRAINING_HEARTBEAT_STALE_SECONDS = env.float("TRAINING_HEARTBEAT_STALE_SECONDS", default=90.0)

# LOG_FORMAT=json: one JSON object a line (time, level, logger, message, request_id, job_id;
# mnistsite.logs); plain: one line of text. Either way records carry the request and job ids.
LOG_FORMAT = env.str("LOG_FORMAT", default="plain")
if LOG_FORMAT not in ("plain", "json"):
    raise ImproperlyConfigured(f"LOG_FORMAT must be plain or json, not {LOG_FORMAT!r}.")
LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "filters": {"context": {"()": "mnistsite.logs.ContextFilter"}},
    "formatters": {
        "plain": {"format": "%(asctime)s %(levelname)s %(name)s: %(message)s"},
        "json": {"()": "mnistsite.logs.json_formatter"},
    },
    "handlers": {"console": {"class": "logging.StreamHandler", "formatter": LOG_FORMAT, "filters": ["context"]}},
    "root": {"handlers": ["console"], "level": env.str("LOG_LEVEL", default="INFO")},
    "loggers": {
        "django.db.backends": {"level": "WARNING"},
        # Django's own console handler would print its records a second time, unformatted.
        "django": {"handlers": [], "level": "INFO"},
    },
}

# Prometheus metrics (mnistsite.metrics): /metrics on the web, CELERY_METRICS_PORT on a worker.
# Open to METRICS_TOKEN (a bearer token) or METRICS_ALLOWED_IPS (addresses or networks, the
# client as NUM_PROXIES names it); with neither, development answers loopback and production nobody.
METRICS_ENABLED = env.bool("METRICS_ENABLED", default=True)
METRICS_TOKEN = env.str("METRICS_TOKEN", default="")
METRICS_ALLOWED_IPS = env.list("METRICS_ALLOWED_IPS", default=[])
# Not CELERY_-prefixed here: Celery reads that namespace as its own configuration.
WORKER_METRICS_PORT = env.int("CELERY_METRICS_PORT", default=0)
if METRICS_TOKEN and len(METRICS_TOKEN) < 16:
    raise ImproperlyConfigured("METRICS_TOKEN must be a random string of 16+ characters.")
for _entry in METRICS_ALLOWED_IPS:
    try:
        ipaddress.ip_network(_entry.strip(), strict=False)
    except ValueError as _exc:
        raise ImproperlyConfigured(f"METRICS_ALLOWED_IPS: {_entry!r} is not an address or network.") from _exc
if METRICS_ENABLED:
    MIDDLEWARE.insert(1, "mnistsite.metrics.MetricsMiddleware")

if PRODUCTION:
    SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
    SECURE_SSL_REDIRECT = env.bool("SECURE_SSL_REDIRECT", default=True)
    SESSION_COOKIE_SECURE = True
    CSRF_COOKIE_SECURE = True
    SECURE_HSTS_SECONDS = env.int("SECURE_HSTS_SECONDS", default=31536000)
    SECURE_HSTS_INCLUDE_SUBDOMAINS = env.bool("SECURE_HSTS_INCLUDE_SUBDOMAINS", default=True)
    SECURE_HSTS_PRELOAD = env.bool("SECURE_HSTS_PRELOAD", default=True)
    SECURE_CONTENT_TYPE_NOSNIFF = True
    X_FRAME_OPTIONS = "DENY"

# How often a serving process looks for a newly activated model version.
MODEL_RELOAD_SECONDS = env.float("MODEL_RELOAD_SECONDS", default=2.0)
PREDICT_RATE_LIMIT = env.str("PREDICT_RATE_LIMIT", default="off")
REST_FRAMEWORK["DEFAULT_THROTTLE_RATES"] = {"predict": None if PREDICT_RATE_LIMIT == "off" else PREDICT_RATE_LIMIT}

# Batch jobs: chunk size (images per Celery task) and the bounds on what an archive may hold.
BATCH_CHUNK_SIZE = env.int("BATCH_CHUNK_SIZE", default=500)
# A chunk sent (or taken) this long ago and still not written is sent again (a broker that lost it).
BATCH_RESEND_SECONDS = env.float("BATCH_RESEND_SECONDS", default=120.0)
BATCH_MAX_UPLOAD_BYTES = env.int("BATCH_MAX_UPLOAD_BYTES", default=512 * 1024 * 1024)
BATCH_MAX_ITEMS = env.int("BATCH_MAX_ITEMS", default=100_000)
BATCH_MAX_MEMBER_BYTES = env.int("BATCH_MAX_MEMBER_BYTES", default=20 * 1024 * 1024)
BATCH_MAX_TOTAL_BYTES = env.int("BATCH_MAX_TOTAL_BYTES", default=2 * 1024 * 1024 * 1024)
BATCH_MAX_COMPRESSION_RATIO = env.float("BATCH_MAX_COMPRESSION_RATIO", default=200.0)

# Accounts: the site's own login page (templates/registration/login.html), back to the start page after.
LOGIN_URL = "login"
LOGIN_REDIRECT_URL = "index"
LOGOUT_REDIRECT_URL = "index"

# --- Client identity and login limits ---
# How many proxies in front of gunicorn append to X-Forwarded-For and are trusted to. 0 (the
# default): the header is ignored and REMOTE_ADDR names the client, so a spoofed header buys
# no fresh rate limit. Behind one proxy that sets the header (nginx), 1: the address it appended.
NUM_PROXIES = env.int("NUM_PROXIES", default=0)
REST_FRAMEWORK["NUM_PROXIES"] = NUM_PROXIES
# Login attempts (the site's page, the admin, the browsable API's login): django-axes counts
# failures per username and client address, in the database, and locks that pair out.
AUTHENTICATION_BACKENDS = [
    "axes.backends.AxesStandaloneBackend",
    "django.contrib.auth.backends.ModelBackend",
]
AXES_FAILURE_LIMIT = env.int("LOGIN_FAILURE_LIMIT", default=5)
LOGIN_LOCKOUT_MINUTES = env.float("LOGIN_LOCKOUT_MINUTES", default=15.0)
AXES_COOLOFF_TIME = LOGIN_LOCKOUT_MINUTES / 60  # hours, as axes reads a number
AXES_LOCKOUT_PARAMETERS = [["username", "ip_address"]]
AXES_RESET_ON_SUCCESS = True
AXES_CLIENT_IP_CALLABLE = "mnistsite.client_identity.client_ip"  # the throttles' rule, NUM_PROXIES
AXES_LOCKOUT_TEMPLATE = "registration/locked_out.html"
AXES_HTTP_RESPONSE_CODE = 429
# Failures and lockouts are warnings; axes' INFO lines (a start-up banner that would break the
# one-line errors of commands, a line per handler call) are left out.
LOGGING["loggers"]["axes"] = {"level": "WARNING"}
