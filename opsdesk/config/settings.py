"""Django settings for OpsDesk. Everything that differs between machines comes from the environment."""

from __future__ import annotations

import os
import sys
from pathlib import Path

import dj_database_url

from opsdesk.config.env import env_bool, env_int, env_list, env_str, secret_key

PACKAGE_DIR = Path(__file__).resolve().parent.parent
VAR_DIR = Path(env_str("OPSDESK_VAR_DIR", str(Path.cwd() / "var"))).resolve()

DEBUG = env_bool("DEBUG", False)
SECRET_KEY = secret_key(VAR_DIR)
# Fernet keys that seal secrets kept in the database (opsdesk/core/sealed.py): the first
# seals, all unseal. Empty: a key derived from SECRET_KEY.
SECRETS_ENCRYPTION_KEYS = env_list("SECRETS_ENCRYPTION_KEYS", [])
ALLOWED_HOSTS = env_list("ALLOWED_HOSTS", ["127.0.0.1", "localhost", "[::1]"])
CSRF_TRUSTED_ORIGINS = env_list("CSRF_TRUSTED_ORIGINS", [])
TESTING = "pytest" in sys.modules or env_bool("OPSDESK_TESTING", False)

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "whitenoise.runserver_nostatic",
    "django.contrib.staticfiles",
    "django_htmx",
    "template_partials",
    "csp",
    "django_tasks",
    "django_tasks_db",
    "ninja",
    "opsdesk.core",
    "opsdesk.accounts",
    "opsdesk.cmdb",
    "opsdesk.problems",
    "opsdesk.servicedesk",
    "opsdesk.catalog",
    "opsdesk.knowledge",
    "opsdesk.portal",
    "opsdesk.notify",
    "opsdesk.vendors",
    "opsdesk.sla",
    "opsdesk.changes",
    "opsdesk.events",
]

MIDDLEWARE = [
    "opsdesk.core.middleware.RequestIdMiddleware",
    "opsdesk.core.metrics.MetricsMiddleware",
    "django.middleware.security.SecurityMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "csp.middleware.CSPMiddleware",
    "django_htmx.middleware.HtmxMiddleware",
    "opsdesk.core.middleware.CurrentOrganizationMiddleware",
    "opsdesk.core.middleware.TimezoneMiddleware",
    "opsdesk.core.middleware.AuditContextMiddleware",
]

ROOT_URLCONF = "opsdesk.config.urls"
WSGI_APPLICATION = "opsdesk.config.wsgi.application"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [PACKAGE_DIR / "templates"],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
                "opsdesk.core.context_processors.shell",
            ],
        },
    }
]

# --- Database -------------------------------------------------------------------------------
SQLITE_PATH = VAR_DIR / "opsdesk.sqlite3"
DATABASE_URL = env_str("DATABASE_URL", f"sqlite:///{SQLITE_PATH}")
# Persistent connections (checked before reuse): opening a PostgreSQL connection costs more
# than most requests. SQLite connections are cheap, and are not kept.
_IS_SQLITE = DATABASE_URL.startswith("sqlite")
DATABASES = {
    "default": dj_database_url.parse(
        DATABASE_URL,
        conn_max_age=env_int("DB_CONN_MAX_AGE", 0 if _IS_SQLITE else 300),
        conn_health_checks=True,
    )
}
if DATABASES["default"]["ENGINE"] == "django.db.backends.sqlite3":
    VAR_DIR.mkdir(parents=True, exist_ok=True)
    DATABASES["default"]["OPTIONS"] = {
        # WAL lets readers run while a writer commits; IMMEDIATE avoids lock upgrades mid-transaction.
        "init_command": (
            "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL; PRAGMA foreign_keys=ON; "
            "PRAGMA busy_timeout=10000;"
        ),
        "transaction_mode": "IMMEDIATE",
    }
    # A file, not shared-cache memory: concurrent tests then see real SQLite locking (WAL).
    # The process id keeps two test runs on one machine from sharing a database.
    DATABASES["default"]["TEST"] = {"NAME": str(VAR_DIR / f"test-opsdesk-{os.getpid()}.sqlite3")}
elif TESTING:
    DATABASES["default"]["TEST"] = {"NAME": f"test_{DATABASES['default']['NAME']}_{os.getpid()}"}
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

# --- Accounts and security ------------------------------------------------------------------
AUTH_USER_MODEL = "accounts.User"
AUTHENTICATION_BACKENDS = ["opsdesk.accounts.backends.EmailLockoutBackend"]
PASSWORD_HASHERS = [
    "django.contrib.auth.hashers.Argon2PasswordHasher",
    "django.contrib.auth.hashers.PBKDF2PasswordHasher",
]
AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {
        "NAME": "django.contrib.auth.password_validation.MinimumLengthValidator",
        "OPTIONS": {"min_length": 10},
    },
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]
LOGIN_URL = "login"
LOGIN_REDIRECT_URL = "home"
LOGOUT_REDIRECT_URL = "login"
LOCKOUT_THRESHOLD = env_int("LOCKOUT_THRESHOLD", 5)
LOCKOUT_MINUTES = env_int("LOCKOUT_MINUTES", 15)

SECURE_COOKIES = env_bool("SECURE_COOKIES", not DEBUG)
SESSION_COOKIE_SECURE = SECURE_COOKIES
CSRF_COOKIE_SECURE = SECURE_COOKIES
SESSION_COOKIE_HTTPONLY = True
CSRF_COOKIE_HTTPONLY = True
SESSION_COOKIE_SAMESITE = "Lax"
CSRF_COOKIE_SAMESITE = "Lax"
SESSION_COOKIE_AGE = env_int("SESSION_COOKIE_AGE", 8 * 3600)
SESSION_COOKIE_NAME = "opsdesk_session"
CSRF_COOKIE_NAME = "opsdesk_csrf"
SECURE_CONTENT_TYPE_NOSNIFF = True
SECURE_REFERRER_POLICY = "same-origin"
SECURE_CROSS_ORIGIN_OPENER_POLICY = "same-origin"
X_FRAME_OPTIONS = "DENY"
SECURE_SSL_REDIRECT = env_bool("SECURE_SSL_REDIRECT", False)
SECURE_HSTS_SECONDS = env_int("SECURE_HSTS_SECONDS", 31536000 if SECURE_COOKIES else 0)
if env_bool("BEHIND_TLS_PROXY", False):
    SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")

CONTENT_SECURITY_POLICY = {
    "DIRECTIVES": {
        "default-src": ["'self'"],
        "script-src": ["'self'"],
        "style-src": ["'self'"],
        "img-src": ["'self'", "data:"],
        "font-src": ["'self'"],
        "connect-src": ["'self'"],
        "object-src": ["'none'"],
        "base-uri": ["'self'"],
        "form-action": ["'self'"],
        "frame-ancestors": ["'none'"],
    }
}

# --- I18N -----------------------------------------------------------------------------------
LANGUAGE_CODE = "en"
TIME_ZONE = "UTC"
USE_I18N = True
USE_TZ = True

# --- Static files ---------------------------------------------------------------------------
STATIC_URL = "/static/"
STATIC_ROOT = Path(env_str("STATIC_ROOT", str(VAR_DIR / "static")))
STATIC_ROOT.mkdir(parents=True, exist_ok=True)
STATICFILES_DIRS = [PACKAGE_DIR / "static"]
WHITENOISE_USE_FINDERS = DEBUG or TESTING
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {
        "BACKEND": (
            "django.contrib.staticfiles.storage.StaticFilesStorage"
            if DEBUG or TESTING
            else "whitenoise.storage.CompressedManifestStaticFilesStorage"
        )
    },
}
MEDIA_ROOT = VAR_DIR / "media"

# --- Background tasks -----------------------------------------------------------------------
TASKS = {
    "default": {
        "BACKEND": env_str("TASKS_BACKEND", "django_tasks_db.DatabaseBackend"),
        "QUEUES": ["default", "periodic"],
    }
}
PERIODIC_TICK_SECONDS = env_int("PERIODIC_TICK_SECONDS", 60)
#: Event intake: the largest request body accepted (413 above) and the transport ("db" or
#: "nats") that carries stored events to the workers.
EVENTS_MAX_BODY_BYTES = env_int("EVENTS_MAX_BODY_BYTES", 2 * 1024 * 1024)
EVENTS_TRANSPORT = env_str("EVENTS_TRANSPORT", "db")
#: PostgreSQL: commit a processed batch without waiting for its WAL to reach the disk (the
#: inbox entries it marks done commit with it, so a database crash can only send the batch
#: back to the inbox, processed again; intake always commits synchronously). See
#: docs/architecture/events-transport.md, "Durability".
EVENTS_PIPELINE_SYNCHRONOUS_COMMIT = env_bool("EVENTS_PIPELINE_SYNCHRONOUS_COMMIT", False)
NATS_URL = env_str("NATS_URL", "nats://127.0.0.1:4222")
#: Self-healing runbooks: commands a runbook may run (absolute paths; empty = commands off)
#: and the time limits of their HTTP calls and commands, in seconds.
EVENTS_RUNBOOK_COMMANDS = env_list("EVENTS_RUNBOOK_COMMANDS", [])
EVENTS_RUNBOOK_HTTP_TIMEOUT = env_int("EVENTS_RUNBOOK_HTTP_TIMEOUT", 10)
# CIDRs a runbook's HTTP call may never reach; empty = the default (instance metadata,
# link-local), see opsdesk.events.runbook_exec.DEFAULT_HTTP_DENY.
EVENTS_RUNBOOK_HTTP_DENY = env_list("EVENTS_RUNBOOK_HTTP_DENY", [])
EVENTS_RUNBOOK_COMMAND_TIMEOUT = env_int("EVENTS_RUNBOOK_COMMAND_TIMEOUT", 60)

# --- API ------------------------------------------------------------------------------------
API_PAGE_SIZE = 50
API_MAX_PAGE_SIZE = 500
API_TOKEN_DEFAULT_DAYS = env_int("API_TOKEN_DEFAULT_DAYS", 90)
METRICS_TOKEN = env_str("METRICS_TOKEN", "")

# --- Logging --------------------------------------------------------------------------------
LOG_FORMAT = env_str("LOG_FORMAT", "text")
LOG_LEVEL = env_str("LOG_LEVEL", "INFO")
LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "filters": {"request_id": {"()": "opsdesk.core.logging.RequestIdFilter"}},
    "formatters": {
        "text": {"format": "%(asctime)s %(levelname)s [%(request_id)s] %(name)s: %(message)s"},
        "json": {
            "()": "pythonjsonlogger.json.JsonFormatter",
            "fmt": "%(asctime)s %(levelname)s %(name)s %(message)s %(request_id)s",
            "rename_fields": {"asctime": "time", "levelname": "level", "name": "logger"},
        },
    },
    "handlers": {
        "console": {
            "class": "logging.StreamHandler",
            "formatter": "json" if LOG_FORMAT == "json" else "text",
            "filters": ["request_id"],
        }
    },
    "root": {"handlers": ["console"], "level": LOG_LEVEL},
    "loggers": {"django.db.backends": {"level": "WARNING"}},
}

# --- Email (notifications out; see docs/architecture/notifications-and-email.md) -----------
EMAIL_BACKEND = env_str(
    "EMAIL_BACKEND",
    "django.core.mail.backends.console.EmailBackend"
    if DEBUG
    else "django.core.mail.backends.smtp.EmailBackend",
)
EMAIL_HOST = env_str("EMAIL_HOST", "localhost")
EMAIL_PORT = env_int("EMAIL_PORT", 25)
EMAIL_HOST_USER = env_str("EMAIL_HOST_USER", "")
EMAIL_HOST_PASSWORD = env_str("EMAIL_HOST_PASSWORD", "")
EMAIL_USE_TLS = env_bool("EMAIL_USE_TLS", False)
EMAIL_TIMEOUT = env_int("EMAIL_TIMEOUT", 30)
DEFAULT_FROM_EMAIL = env_str("DEFAULT_FROM_EMAIL", "opsdesk@localhost")
#: The address people reach OpsDesk at, for links in mail and chat messages.
SITE_URL = env_str("SITE_URL", "http://localhost:8000")

# The covering index of SLA reports (INCLUDE columns) is PostgreSQL's; SQLite builds the
# same index without them.
SILENCED_SYSTEM_CHECKS = ["models.W040"]
