"""Django settings of the HiClaw controller, all read from the environment.

With no variables set the controller runs "embedded": SQLite, storage and
process state under ``HICLAW_DATA_DIR``, an in-process Celery broker and an
in-memory channel layer. ``DATABASE_URL`` and ``REDIS_URL`` switch the same
code to PostgreSQL and Redis (docs/configuration.md lists every variable).
"""

from __future__ import annotations

import secrets
from datetime import timedelta
from pathlib import Path

import dj_database_url

from hiclaw_site.env import comma_list, env_bool, env_choice, env_int, env_list, env_secret, env_str

BASE_DIR = Path(__file__).resolve().parent.parent
DATA_DIR = Path(env_str("HICLAW_DATA_DIR", str(BASE_DIR / "var"))).resolve()


SECRET_KEY_FILE = DATA_DIR / "secret_key"


def _secret_key() -> tuple[str, bool]:
    """The configured key, else the one kept in the data dir; else a key for this process only.

    Nothing is written here: ``hiclaw_site.datadir.prepare()`` (run by
    ``hiclaw_run`` and ``migrate``) keeps a generated key in the data dir, and
    the commands and Celery processes that need a lasting key refuse to run
    with an ephemeral one.
    """
    key = env_secret("DJANGO_SECRET_KEY")
    if key:
        return key, False
    if SECRET_KEY_FILE.is_file():
        return SECRET_KEY_FILE.read_text().strip(), False
    return secrets.token_urlsafe(50), True


SECRET_KEY, SECRET_KEY_EPHEMERAL = _secret_key()
# Earlier keys, comma-separated, still accepted for reading while a key is rotated.
SECRET_KEY_FALLBACKS = comma_list(env_secret("DJANGO_SECRET_KEY_FALLBACKS"))
DEBUG = env_bool("DJANGO_DEBUG", False)
ALLOWED_HOSTS = env_list("DJANGO_ALLOWED_HOSTS", ["127.0.0.1", "localhost", "[::1]"])
CSRF_TRUSTED_ORIGINS = env_list("DJANGO_CSRF_TRUSTED_ORIGINS")

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "servestatic.runserver_nostatic",
    "django.contrib.staticfiles",
    "rest_framework",
    "drf_spectacular",
    "channels",
    "axes",
    "controller",
    "debugui",
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "hiclaw_site.headers.ContentSecurityPolicyMiddleware",
    "servestatic.middleware.ServeStaticMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "hiclaw_site.middleware.StoreUnavailableMiddleware",
    "axes.middleware.AxesMiddleware",
]
# Axes first: it refuses a locked-out account or address before the password is checked.
AUTHENTICATION_BACKENDS = ["axes.backends.AxesStandaloneBackend", "django.contrib.auth.backends.ModelBackend"]

ROOT_URLCONF = "hiclaw_site.urls"
ASGI_APPLICATION = "hiclaw_site.asgi.application"

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

# --- Database: PostgreSQL from DATABASE_URL, else SQLite in the data dir ---------
DATABASE_URL = env_secret("DATABASE_URL")
if DATABASE_URL:
    # A connection pool per process (psycopg_pool): under ASGI each request runs in a
    # thread of its own, so persistent per-thread connections would pile up, and a new
    # connection per request would cost more than the request itself.
    DATABASES = {"default": dj_database_url.parse(DATABASE_URL)}
    DATABASES["default"].setdefault("OPTIONS", {})["pool"] = {
        "min_size": env_int("HICLAW_DB_POOL_MIN", 2),
        "max_size": env_int("HICLAW_DB_POOL_MAX", 20),
        "timeout": 10,
    }
else:
    DATABASES = {
        "default": {
            "ENGINE": "django.db.backends.sqlite3",
            "NAME": str(DATA_DIR / "hiclaw.sqlite3"),
            # WAL and IMMEDIATE transactions let the in-process Celery threads
            # and request threads write without "database is locked" errors.
            "OPTIONS": {
                "timeout": 20,
                "transaction_mode": "IMMEDIATE",
                "init_command": "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL;",
            },
        }
    }
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]

LANGUAGE_CODE = "en-us"
TIME_ZONE = env_str("TZ", "UTC") or "UTC"
USE_I18N = True
USE_TZ = True

STATIC_URL = "static/"
STATICFILES_DIRS = [BASE_DIR / "static"]
STATIC_ROOT = DATA_DIR / "static"
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {"BACKEND": "servestatic.storage.CompressedStaticFilesStorage"},
}
# Serve straight from the app and static/ folders so a fresh checkout needs no
# collectstatic step; production images may still run collectstatic.
SERVESTATIC_USE_FINDERS = True

LOGIN_URL = "/accounts/login/"
LOGIN_REDIRECT_URL = "/"

# --- HTTPS and cookies -------------------------------------------------------------
# Behind TLS (HICLAW_HTTPS=true) cookies are secure, plain HTTP is redirected
# and HSTS is sent. The embedded mode serves plain HTTP on loopback.
HTTPS = env_bool("HICLAW_HTTPS", False)
SESSION_COOKIE_SECURE = HTTPS
CSRF_COOKIE_SECURE = HTTPS
SECURE_SSL_REDIRECT = HTTPS
SECURE_REDIRECT_EXEMPT = [r"^healthz$", r"^readyz$"]
SECURE_HSTS_SECONDS = env_int("HICLAW_HSTS_SECONDS", 31536000) if HTTPS else 0
SECURE_HSTS_INCLUDE_SUBDOMAINS = HTTPS
SECURE_HSTS_PRELOAD = HTTPS
# Behind a reverse proxy: trust its X-Forwarded-Proto, and treat no request as local
# (the proxy connects from loopback on behalf of anyone; see HICLAW_METRICS_TOKEN).
HICLAW_BEHIND_PROXY = env_bool("HICLAW_BEHIND_PROXY", False)
if HICLAW_BEHIND_PROXY:
    SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
SESSION_COOKIE_HTTPONLY = True
X_FRAME_OPTIONS = "DENY"

# --- Celery and Channels: Redis when REDIS_URL is set, else in-process -------------
REDIS_URL = env_secret("REDIS_URL")
EMBEDDED = not REDIS_URL
if REDIS_URL:
    CELERY_BROKER_URL = REDIS_URL
else:
    # Embedded: a broker in files under the data dir, so reconciles queued by
    # any local process (server, manage.py commands) reach the in-process worker.
    BROKER_DIR = DATA_DIR / "broker"  # made by hiclaw_site.datadir.prepare()
    # With a host name kombu does not warn "No hostname was supplied" on every command.
    CELERY_BROKER_URL = "filesystem://localhost/"
    CELERY_BROKER_TRANSPORT_OPTIONS = {
        "data_folder_in": str(BROKER_DIR),
        "data_folder_out": str(BROKER_DIR),
        "control_folder": str(BROKER_DIR / "control"),
        # The transport sleeps this long when it finds nothing to take; the 1 s
        # default held each embedded Celery thread to about one task a second.
        "polling_interval": 0.1,
    }
CELERY_TASK_IGNORE_RESULT = True
CELERY_TASK_ACKS_LATE = True
# With Redis a worker takes its next task the moment a thread is free (BRPOP): one per thread
# keeps tasks for the other workers. The filesystem broker is polled, and a worker whose
# threads all hold a task polls again only after ``polling_interval``: with one task per
# thread, a thread that finished waited that long for its next one (about 20 passes a second
# on 2 threads). The embedded worker is the only one, so it keeps a few per thread at hand.
CELERY_WORKER_PREFETCH_MULTIPLIER = 1 if REDIS_URL else env_int("HICLAW_EMBEDDED_PREFETCH", 8, minimum=1)
# Threads of the embedded Celery worker (production sets `celery worker --concurrency`).
HICLAW_EMBEDDED_CONCURRENCY = env_int("HICLAW_EMBEDDED_CONCURRENCY", 4, minimum=1)
CELERY_BROKER_CONNECTION_RETRY_ON_STARTUP = True
CELERY_TIMEZONE = TIME_ZONE
# Level-triggered safety net: every resource is reconciled again periodically,
# so a lost message or a crash never leaves it unconverged.
RESYNC_INTERVAL_SECONDS = env_int("HICLAW_RESYNC_SECONDS", 300)
# A reconcile step whose inputs did not change skips its Matrix, gateway or storage calls for
# this long after it last verified them (0: never skip); see controller/reconcilers/step_digests.py.
HICLAW_VERIFY_SECONDS = env_int("HICLAW_VERIFY_SECONDS", RESYNC_INTERVAL_SECONDS, minimum=0)
# The lifecycle sweep (missed heartbeats, idle sleep) runs this often: a worker silent for
# three heartbeat intervals is flagged at most this late. Each sweep loads only the rows it
# changes, so a short period stays cheap with thousands of workers.
HICLAW_SWEEP_SECONDS = env_int("HICLAW_SWEEP_SECONDS", 10, minimum=1)
CELERY_BEAT_SCHEDULE = {
    "resync-all": {
        "task": "controller.tasks.resync_all",
        "schedule": RESYNC_INTERVAL_SECONDS,
        "options": {"expires": max(RESYNC_INTERVAL_SECONDS - 5, 1)},
    },
    "prune-heartbeats": {
        "task": "controller.tasks.prune_heartbeats",
        "schedule": 3600,
        "options": {"expires": 3000},
    },
    "prune-events": {
        "task": "controller.tasks.prune_events",
        "schedule": 3600,
        "options": {"expires": 3000},
    },
    "sweep-lifecycle": {
        "task": "controller.tasks.sweep_lifecycle",
        "schedule": HICLAW_SWEEP_SECONDS,
        # A sweep that waited longer than its period is dropped: the next one is due anyway.
        "options": {"expires": HICLAW_SWEEP_SECONDS},
    },
}

if REDIS_URL:
    # Heartbeats buffered by the API's fast path are applied every second.
    CELERY_BEAT_SCHEDULE["flush-heartbeats"] = {
        "task": "controller.tasks.flush_heartbeats",
        "schedule": 1.0,
        "options": {"expires": 1.0},
    }
    CHANNEL_LAYERS = {"default": {"BACKEND": "channels_redis.core.RedisChannelLayer", "CONFIG": {"hosts": [REDIS_URL]}}}
else:
    CHANNEL_LAYERS = {"default": {"BACKEND": "channels.layers.InMemoryChannelLayer"}}

# --- HiClaw product settings (docs/configuration.md) --------------------------------
HICLAW_BACKEND = env_choice("HICLAW_BACKEND", ("auto", "docker", "kubernetes", "process"), "auto")
HICLAW_RESOURCE_PREFIX = env_str("HICLAW_RESOURCE_PREFIX", "hiclaw-")
# Value of the hiclaw.io/controller label on our instances: two controllers with
# different prefixes sharing one Docker engine never see each other's containers.
HICLAW_CONTROLLER_ID = HICLAW_RESOURCE_PREFIX.strip("-_.") or "hiclaw"
HICLAW_DOCKER_NETWORK = env_str("HICLAW_DOCKER_NETWORK", "hiclaw-net")
# Kubernetes backend: pods, Secrets and Services go to this namespace (empty: the namespace the
# controller's own pod runs in, else "default"); the API is reached in-cluster, or through the
# kubeconfig named here (empty: $KUBECONFIG, then ~/.kube/config).
HICLAW_NAMESPACE = env_str("HICLAW_NAMESPACE")
HICLAW_KUBECONFIG = env_str("HICLAW_KUBECONFIG")
# A pod template every agent pod starts from (node selectors, tolerations, service account,
# security context): a YAML file path, or "configmap:<name>" (key pod-template.yaml) in the namespace.
HICLAW_POD_TEMPLATE = env_str("HICLAW_POD_TEMPLATE")
# Agent pods' requests and limits when a Worker's spec.resources says nothing.
HICLAW_POD_CPU = env_str("HICLAW_POD_CPU", "500m")
HICLAW_POD_MEMORY = env_str("HICLAW_POD_MEMORY", "512Mi")
# The CRD front door: mirror hiclaw.io objects of the namespace into the database (off by default).
HICLAW_WATCH_CRDS = env_bool("HICLAW_WATCH_CRDS", False)
HICLAW_CONTROLLER_URL = env_str("HICLAW_CONTROLLER_URL")
HICLAW_WORKER_IMAGE = env_str("HICLAW_WORKER_IMAGE", "hiclaw/worker-agent:latest")
HICLAW_COPAW_WORKER_IMAGE = env_str("HICLAW_COPAW_WORKER_IMAGE", "hiclaw/copaw-worker:latest")
HICLAW_HERMES_WORKER_IMAGE = env_str("HICLAW_HERMES_WORKER_IMAGE", "hiclaw/hermes-worker:latest")
HICLAW_MANAGER_IMAGE = env_str("HICLAW_MANAGER_IMAGE", "hiclaw/manager-agent:latest")
HICLAW_DEBUG_WORKER_IMAGE = env_str("HICLAW_DEBUG_WORKER_IMAGE", "hiclaw/debug-worker:latest")
# Deleting a Worker keeps its workspace in storage unless this is set.
HICLAW_DELETE_STORAGE_ON_DELETE = env_bool("HICLAW_DELETE_STORAGE_ON_DELETE", False)
# E-mail: a new Human's Matrix credentials are mailed when HICLAW_EMAIL_CREDENTIALS is on.
HICLAW_EMAIL_CREDENTIALS = env_bool("HICLAW_EMAIL_CREDENTIALS", False)
EMAIL_BACKEND = env_str("DJANGO_EMAIL_BACKEND", "django.core.mail.backends.smtp.EmailBackend")
EMAIL_HOST = env_str("DJANGO_EMAIL_HOST", "localhost")
EMAIL_PORT = env_int("DJANGO_EMAIL_PORT", 25)
EMAIL_HOST_USER = env_str("DJANGO_EMAIL_HOST_USER")
EMAIL_HOST_PASSWORD = env_secret("DJANGO_EMAIL_HOST_PASSWORD")
EMAIL_USE_TLS = env_bool("DJANGO_EMAIL_USE_TLS", False)
EMAIL_TIMEOUT = 10
DEFAULT_FROM_EMAIL = env_str("HICLAW_EMAIL_FROM", "hiclaw@localhost")
# Heartbeat history kept per agent: at most HISTORY_MAX rows at any time (trimmed as reports
# are written), none older than HISTORY_DAYS (pruned hourly).
HICLAW_HEARTBEAT_HISTORY_DAYS = env_int("HICLAW_HEARTBEAT_HISTORY_DAYS", 7)
HICLAW_HEARTBEAT_HISTORY_MAX = env_int("HICLAW_HEARTBEAT_HISTORY_MAX", 500)
# The history keeps at most one report per agent per this many seconds (a change of state or
# note is always kept); unset: a third of HICLAW_AGENT_HEARTBEAT_SECONDS, read when applied.
HICLAW_HEARTBEAT_SAMPLE_SECONDS: int | None = (
    env_int("HICLAW_HEARTBEAT_SAMPLE_SECONDS", 0, minimum=0)
    if env_str("HICLAW_HEARTBEAT_SAMPLE_SECONDS").strip()
    else None
)
# Heartbeats one agent may post per minute (fixed one-minute windows); more are answered 429
# with Retry-After. 0: no limit. An agent reports every HICLAW_AGENT_HEARTBEAT_SECONDS (30).
HICLAW_HEARTBEAT_MAX_PER_MINUTE = env_int("HICLAW_HEARTBEAT_MAX_PER_MINUTE", 120, minimum=0)
# Instance events (crashes, restarts) kept, in days (pruned hourly).
HICLAW_EVENT_HISTORY_DAYS = env_int("HICLAW_EVENT_HISTORY_DAYS", 30)
# Rows a dashboard list shows a page (tests make it small to have several pages).
HICLAW_DASHBOARD_PAGE_SIZE = env_int("HICLAW_DASHBOARD_PAGE_SIZE", 50, minimum=1)
# How long a verified agent token is trusted by the heartbeat fast path before it is
# looked up again (so a revoked token stops working within this many seconds there).
HICLAW_TOKEN_CACHE_SECONDS = env_int("HICLAW_TOKEN_CACHE_SECONDS", 30)
# Seconds between the reference worker's heartbeats (and workspace syncs).
HICLAW_AGENT_HEARTBEAT_SECONDS = env_int("HICLAW_AGENT_HEARTBEAT_SECONDS", 30)
# The oldest agent runtime version the controller works with: a worker whose heartbeats report
# an older runtimeVersion gets the condition UpgradeRequired (empty = no check).
HICLAW_MIN_RUNTIME_VERSION = env_str("HICLAW_MIN_RUNTIME_VERSION")

# Image rollouts (docs/rollouts.md): how long a worker has to acknowledge "save your state"
# before its instance is replaced anyway, how long a new instance has to report before the
# rollout keeps the old one and fails, and how often a waiting rollout looks again.
HICLAW_ROLLOUT_SAVE_TIMEOUT_SECONDS = env_int("HICLAW_ROLLOUT_SAVE_TIMEOUT_SECONDS", 60)
HICLAW_ROLLOUT_READY_TIMEOUT_SECONDS = env_int("HICLAW_ROLLOUT_READY_TIMEOUT_SECONDS", 120)
HICLAW_ROLLOUT_POLL_SECONDS = env_int("HICLAW_ROLLOUT_POLL_SECONDS", 2)
# GET /metrics (docs/metrics.md) needs "Authorization: Bearer <this>"; when empty, only a
# request from loopback, through no proxy, may read it, and any other gets 404.
HICLAW_METRICS_TOKEN = env_secret("HICLAW_METRICS_TOKEN")
# A `celery worker`'s own metrics port (0: none), for pods that share no PROMETHEUS_MULTIPROC_DIR
# with the web (docs/metrics.md), and the address it listens on: by default every interface when
# HICLAW_METRICS_TOKEN is set, loopback otherwise (a non-loopback address without a token is refused).
HICLAW_METRICS_PORT = env_int("HICLAW_METRICS_PORT", 0)
HICLAW_METRICS_BIND = env_str("HICLAW_METRICS_BIND")
# How often the workspace browser lists the workspaces a DebugWorker page is open on.
HICLAW_DEBUG_WATCH_MS = env_int("HICLAW_DEBUG_WATCH_MS", 250)
HICLAW_STORAGE_URL = env_secret("HICLAW_STORAGE_URL") or f"file://{DATA_DIR / 'storage'}"
# Matrix: unset HICLAW_MATRIX_URL disables it. The reconciler generates and keeps
# an admin password when none is configured.
HICLAW_MATRIX_URL = env_str("HICLAW_MATRIX_URL")
HICLAW_MATRIX_DOMAIN = env_str("HICLAW_MATRIX_DOMAIN")
HICLAW_MATRIX_REGISTRATION_SECRET = env_secret("HICLAW_MATRIX_REGISTRATION_SECRET")
HICLAW_MATRIX_REGISTRATION_TOKEN = env_secret("HICLAW_MATRIX_REGISTRATION_TOKEN")
HICLAW_MATRIX_ADMIN_USER = env_str("HICLAW_MATRIX_ADMIN_USER", "admin")
HICLAW_MATRIX_ADMIN_PASSWORD = env_secret("HICLAW_MATRIX_ADMIN_PASSWORD")
HICLAW_GATEWAY_URL = env_str("HICLAW_GATEWAY_URL")
HICLAW_GATEWAY_USER = env_str("HICLAW_GATEWAY_USER", "admin")
HICLAW_GATEWAY_PASSWORD = env_secret("HICLAW_GATEWAY_PASSWORD")
# The gateway's LLM provider that AI routes for worker models point at.
HICLAW_GATEWAY_PROVIDER = env_str("HICLAW_GATEWAY_PROVIDER", "default")
# Failed logins (dashboard and admin): after this many, the account and the address
# they came from are each locked for this many minutes (django-axes, hiclaw_site/logins.py).
HICLAW_LOGIN_FAILURE_LIMIT = env_int("HICLAW_LOGIN_FAILURE_LIMIT", 5)
HICLAW_LOGIN_LOCKOUT_MINUTES = env_int("HICLAW_LOGIN_LOCKOUT_MINUTES", 15)
AXES_FAILURE_LIMIT = HICLAW_LOGIN_FAILURE_LIMIT
AXES_COOLOFF_TIME = timedelta(minutes=HICLAW_LOGIN_LOCKOUT_MINUTES)
AXES_LOCKOUT_PARAMETERS = ["username", "ip_address"]
# A success must not clear failures: axes would clear those of the whole address too,
# so an attacker's own good login would reset the count of guesses at someone else's.
AXES_RESET_ON_SUCCESS = False
AXES_LOCKOUT_CALLABLE = "hiclaw_site.logins.locked_out"
AXES_VERBOSE = False  # no banner on every manage.py command; failures and lockouts are still logged

REST_FRAMEWORK = {
    "DEFAULT_AUTHENTICATION_CLASSES": ["rest_framework.authentication.SessionAuthentication"],
    "DEFAULT_PERMISSION_CLASSES": ["rest_framework.permissions.IsAuthenticated"],
    "EXCEPTION_HANDLER": "controller.api.errors.hiclaw_exception_handler",
    "DEFAULT_SCHEMA_CLASS": "drf_spectacular.openapi.AutoSchema",
    # The API speaks JSON (and YAML where manifests are applied); form bodies are refused.
    "DEFAULT_PARSER_CLASSES": ["rest_framework.parsers.JSONParser"],
    "UNAUTHENTICATED_USER": None,
}

SPECTACULAR_SETTINGS = {
    "TITLE": "HiClaw controller API",
    "DESCRIPTION": "Agents, the hiclaw CLI and dashboard sessions drive the controller here (docs/api.md).",
    "VERSION": "v1",
    "SERVE_INCLUDE_SCHEMA": False,
    # Workers' and the Manager's state is one named enum; a heartbeat's state (idle/busy) is another.
    "ENUM_NAME_OVERRIDES": {"DesiredState": "controller.models.agent.DesiredState"},
}

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "formatters": {"plain": {"format": "%(asctime)s %(levelname)s %(name)s: %(message)s"}},
    "handlers": {"console": {"class": "logging.StreamHandler", "formatter": "plain"}},
    "root": {"handlers": ["console"], "level": env_str("HICLAW_LOG_LEVEL", "INFO").upper()},
    "loggers": {"django.db.backends": {"level": "INFO"}},
}
