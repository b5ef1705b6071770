"""Settings for Nexevo Console.

Everything that differs between a laptop and production comes from environment variables, with safe
local defaults: SQLite, Celery tasks run in-process, e-mail printed to the console. The variables are
listed in the README.

NEXEVO_ENV selects the profile: ``development`` (the default), ``test`` or ``production``. Production
requires SECRET_KEY and ALLOWED_HOSTS and turns on every transport-security setting that
``manage.py check --deploy`` looks for.
"""

from pathlib import Path

import dj_database_url
from django.core.exceptions import ImproperlyConfigured
from django.utils.translation import gettext_lazy as _

from .env import env_bool, env_int, env_list, env_str

BASE_DIR = Path(__file__).resolve().parent.parent

NEXEVO_ENV = env_str("NEXEVO_ENV", "development")
if NEXEVO_ENV not in {"development", "test", "production"}:
    raise ImproperlyConfigured(f"NEXEVO_ENV must be development, test or production, not {NEXEVO_ENV!r}.")
PRODUCTION = NEXEVO_ENV == "production"

DEBUG = env_bool("DJANGO_DEBUG", default=NEXEVO_ENV == "development")

SECRET_KEY = env_str("SECRET_KEY")
if not SECRET_KEY:
    if NEXEVO_ENV != "development":
        raise ImproperlyConfigured(f"SECRET_KEY must be set when NEXEVO_ENV={NEXEVO_ENV}.")
    # Only ever used on a developer's machine.
    SECRET_KEY = "django-insecure-local-development-key-not-for-production"  # noqa: S105

ALLOWED_HOSTS = env_list(
    "ALLOWED_HOSTS", [] if PRODUCTION else ["127.0.0.1", "localhost", "[::1]", "testserver"]
)
if PRODUCTION and not ALLOWED_HOSTS:
    raise ImproperlyConfigured("ALLOWED_HOSTS must be set when NEXEVO_ENV=production.")
CSRF_TRUSTED_ORIGINS = env_list("CSRF_TRUSTED_ORIGINS", [])

# The address the console is reached at, used in e-mails and the API docs.
SITE_URL = env_str("SITE_URL", "http://127.0.0.1:8000")

INSTALLED_APPS = [
    "core.admin_apps.NexevoAdminConfig",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "whitenoise.runserver_nostatic",
    "django.contrib.staticfiles",
    "django.contrib.sites",
    "django.contrib.humanize",
    "allauth",
    "allauth.account",
    "django_otp",
    "django_otp.plugins.otp_totp",
    "django_otp.plugins.otp_static",
    "rest_framework",
    "drf_spectacular",
    "drf_spectacular_sidecar",
    "core",
    "accounts",
    "orgs",
    "apikeys",
    "billing",
    "conversations",
    "feedback",
    "gateway",
    "library",
    "alerts",
    "django_celery_beat",
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    # Content-Security-Policy and Permissions-Policy on every response (CONTENT_SECURITY_POLICY below).
    "core.security.SecurityHeadersMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    # The cookie's or the browser's language, for every answer, even one refused before the user
    # is known (a bad Host); core.middleware.LanguageMiddleware below then applies the user's choice.
    "django.middleware.locale.LocaleMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    # After authentication: a signed-in user's saved language comes before the cookie and the browser.
    "core.middleware.LanguageMiddleware",
    "django_otp.middleware.OTPMiddleware",
    "core.middleware.SecondFactorRequiredMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "allauth.account.middleware.AccountMiddleware",
    # Query strings and form data with a NUL refused before any view (core.text's input policy).
    "core.text_middleware.InvalidTextMiddleware",
    "core.middleware.ServiceUnavailableMiddleware",
    "core.error_pages.MethodNotAllowedPageMiddleware",
]

ROOT_URLCONF = "nexevo_site.urls"
CSRF_FAILURE_VIEW = "core.views.csrf_failure"
WSGI_APPLICATION = "nexevo_site.wsgi.application"
ASGI_APPLICATION = "nexevo_site.asgi.application"

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
                "django.template.context_processors.i18n",
                "core.context_processors.session_state",
                "core.context_processors.navigation",
                "orgs.context_processors.organization_switcher",
            ],
        },
    },
]

# --- Database -------------------------------------------------------------------------------------
# How long a request waits for PostgreSQL (a connection from a pool; the chat endpoint's reads) before
# it is answered 503 with Retry-After, and how long one connection attempt may take.
DATABASE_WAIT_SECONDS = env_int("DATABASE_WAIT_SECONDS", 1)
DATABASE_CONNECT_TIMEOUT = env_int("DATABASE_CONNECT_TIMEOUT", 5)
if DATABASE_WAIT_SECONDS < 1 or DATABASE_CONNECT_TIMEOUT < 1:
    raise ImproperlyConfigured("DATABASE_WAIT_SECONDS and DATABASE_CONNECT_TIMEOUT must be at least 1.")
# A pool gives up reconnecting in the background after this long (and tries again when a request
# needs a connection): once PostgreSQL is back, a pool is never asleep in a long back-off.
DATABASE_RECONNECT_SECONDS = DATABASE_CONNECT_TIMEOUT
DATABASES = {
    "default": dj_database_url.parse(
        env_str("DATABASE_URL", f"sqlite:///{BASE_DIR / 'db.sqlite3'}"),
        conn_max_age=env_int("DATABASE_CONN_MAX_AGE", 60),
        conn_health_checks=True,
    )
}
if DATABASES["default"]["ENGINE"] == "django.db.backends.sqlite3":
    # Several threads (the dev server, a test's live server) write to one file: wait for the lock
    # instead of failing at once.
    DATABASES["default"].setdefault("OPTIONS", {}).update({"timeout": 20})
elif DATABASES["default"]["ENGINE"] == "django.db.backends.postgresql":
    # Django's PostgreSQL backend, less the "_like" indexes no query here uses (core/postgresql).
    DATABASES["default"]["ENGINE"] = "core.postgresql"
    # A connection attempt to an unreachable PostgreSQL gives up after this many seconds instead of
    # the operating system's minutes (psycopg allows no less than 2). What a request waits is
    # DATABASE_WAIT_SECONDS.
    DATABASES["default"].setdefault("OPTIONS", {})["connect_timeout"] = DATABASE_CONNECT_TIMEOUT
    if env_bool("DATABASE_POOL", default=True):
        # PostgreSQL through a connection pool (psycopg_pool): under ASGI each request's database work
        # runs in a thread of its own, so persistent per-thread connections would not be reused.
        DATABASES["default"]["CONN_MAX_AGE"] = 0
        DATABASES["default"].setdefault("OPTIONS", {})["pool"] = {
            "min_size": env_int("DATABASE_POOL_MIN", 2),
            "max_size": env_int("DATABASE_POOL_MAX", 20),
            # A request waits this long for a connection: while PostgreSQL is down, a page fails in
            # about a second (a 503 page) instead of hanging.
            "timeout": DATABASE_WAIT_SECONDS,
            "reconnect_timeout": DATABASE_RECONNECT_SECONDS,
        }
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

# --- Redis, cache and Celery ----------------------------------------------------------------------
REDIS_URL = env_str("REDIS_URL") or None

# Short socket timeouts: a Redis that does not answer must cost a request a second, not a minute.
# After a failure, a process leaves Redis alone for a couple of seconds (core.cache), so an outage
# costs one timeout per few seconds, not one per call.
REDIS_SOCKET_TIMEOUT_SECONDS = env_int("REDIS_SOCKET_TIMEOUT_SECONDS", 1)
if REDIS_SOCKET_TIMEOUT_SECONDS < 1:
    raise ImproperlyConfigured("REDIS_SOCKET_TIMEOUT_SECONDS must be at least 1.")

if REDIS_URL:
    CACHES = {
        "default": {
            # Redis, falling back to this process's memory while Redis is unreachable (core/cache.py):
            # rate-limit counters keep counting per process instead of failing every request.
            "BACKEND": "core.cache.RedisCacheWithFallback",
            "LOCATION": REDIS_URL,
            "KEY_PREFIX": "nexevo",
            "OPTIONS": {
                "socket_connect_timeout": REDIS_SOCKET_TIMEOUT_SECONDS,
                "socket_timeout": REDIS_SOCKET_TIMEOUT_SECONDS,
            },
        }
    }
else:
    CACHES = {"default": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache"}}
# Sessions live in the database (Django's default, written down here): never in Redis, so a Redis
# outage signs nobody out.
SESSION_ENGINE = "django.contrib.sessions.backends.db"

CELERY_BROKER_URL = REDIS_URL or "memory://"
CELERY_RESULT_BACKEND = None
CELERY_TASK_IGNORE_RESULT = True
# No result backend, so no result clean-up job for beat to install.
CELERY_RESULT_EXPIRES = None
# Without a broker, tasks run in-process the moment they are queued (after the transaction commits).
CELERY_TASK_ALWAYS_EAGER = env_bool("CELERY_TASK_ALWAYS_EAGER", default=REDIS_URL is None)
CELERY_TASK_EAGER_PROPAGATES = True
# A task is acknowledged when it has finished, and a worker process that dies mid-task gives the
# message back, so it runs again elsewhere: every task is written to be safe to run twice.
CELERY_TASK_ACKS_LATE = True
CELERY_TASK_REJECT_ON_WORKER_LOST = True
CELERY_WORKER_PREFETCH_MULTIPLIER = 1
CELERY_TASK_SERIALIZER = "json"
CELERY_ACCEPT_CONTENT = ["json"]
CELERY_TIMEZONE = "UTC"
CELERY_BROKER_CONNECTION_RETRY_ON_STARTUP = True
# Queuing from a request while Redis is down fails within about a second (callers fall back,
# core/background.py) instead of retrying for long.
CELERY_BROKER_CONNECTION_TIMEOUT = REDIS_SOCKET_TIMEOUT_SECONDS
CELERY_TASK_PUBLISH_RETRY_POLICY = {
    "max_retries": 2,
    "interval_start": 0,
    "interval_step": 0.2,
    "interval_max": 0.5,
}
CELERY_BROKER_TRANSPORT_OPTIONS = {
    "socket_connect_timeout": REDIS_SOCKET_TIMEOUT_SECONDS,
    "socket_timeout": 30,
}
# Beat keeps its schedule in the database (django-celery-beat), editable in Django admin. On start it
# writes CELERY_BEAT_SCHEDULE below into it (interval and task; an entry switched off in admin stays
# off), so this dictionary is where a schedule changes for good.
CELERY_BEAT_SCHEDULER = "django_celery_beat.schedulers:DatabaseScheduler"
CELERY_BEAT_SCHEDULE = {
    "usage-rollup": {"task": "billing.tasks.roll_up_usage", "schedule": 60},
    "plan-renewal": {"task": "billing.tasks.renew_plans", "schedule": 60 * 60},
    "prune-idempotency-records": {
        "task": "core.tasks.prune_idempotency_records",
        "schedule": 60 * 60,
    },
    "erase-deactivated-accounts": {
        "task": "accounts.tasks.erase_deactivated_accounts",
        "schedule": 60 * 60,
    },
    "prune-request-logs": {"task": "gateway.tasks.prune_request_logs", "schedule": 60 * 60},
    "expire-invitations": {"task": "orgs.tasks.expire_invitations", "schedule": 15 * 60},
    "deliver-due-webhooks": {"task": "alerts.tasks.deliver_due_webhooks", "schedule": 30},
    "record-usage-journal": {"task": "gateway.tasks.record_usage", "schedule": 30},
    "refresh-model-ratings": {"task": "gateway.tasks.refresh_model_ratings", "schedule": 60 * 60},
    # Runs often (a few Redis calls when no process died), so a key whose holds a crashed web
    # process left on its cap gets them back within NEXEVO_HOLDER_TTL_SECONDS plus this interval.
    "give-back-dead-holdings": {
        "task": "gateway.tasks.give_back_dead_holdings",
        "schedule": env_int("NEXEVO_DEAD_HOLDINGS_SWEEP_SECONDS", 10),
    },
}
# Seconds between a worker's heartbeats (core/health.py); /healthz calls a worker silent for three
# of them down.
NEXEVO_WORKER_HEARTBEAT_SECONDS = env_int("NEXEVO_WORKER_HEARTBEAT_SECONDS", 15)

# --- Authentication -------------------------------------------------------------------------------
AUTH_USER_MODEL = "accounts.User"
AUTHENTICATION_BACKENDS = [
    "django.contrib.auth.backends.ModelBackend",
    "allauth.account.auth_backends.AuthenticationBackend",
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
LOGIN_URL = "account_login"
LOGIN_REDIRECT_URL = "dashboard"
LOGOUT_REDIRECT_URL = "account_login"
PASSWORD_RESET_TIMEOUT = env_int("PASSWORD_RESET_TIMEOUT", 60 * 60 * 3)
SITE_ID = 1

ACCOUNT_ADAPTER = "accounts.adapter.AccountAdapter"
ACCOUNT_USER_MODEL_USERNAME_FIELD = None
ACCOUNT_LOGIN_METHODS = {"email"}
ACCOUNT_SIGNUP_FIELDS = ["email*", "password1*", "password2*"]
# The full name, and the same work for a taken address as for a new one (accounts.forms.SignupForm).
ACCOUNT_FORMS = {"signup": "accounts.forms.SignupForm"}
ACCOUNT_EMAIL_VERIFICATION = "mandatory"
ACCOUNT_UNIQUE_EMAIL = True
ACCOUNT_PREVENT_ENUMERATION = True
ACCOUNT_CONFIRM_EMAIL_ON_GET = False
ACCOUNT_LOGIN_ON_EMAIL_CONFIRMATION = True
ACCOUNT_LOGIN_ON_PASSWORD_RESET = False
ACCOUNT_LOGOUT_ON_PASSWORD_CHANGE = False
ACCOUNT_LOGOUT_ON_GET = False
ACCOUNT_SESSION_REMEMBER = None
ACCOUNT_EMAIL_SUBJECT_PREFIX = "[Nexevo] "
ACCOUNT_DEFAULT_HTTP_PROTOCOL = "https" if PRODUCTION else "http"
ACCOUNT_RATE_LIMITS = {
    # Failed logins: 10 a minute from one address, 5 in 5 minutes for one e-mail.
    "login_failed": "10/m/ip,5/300s/key",
    # Reset requests: 20 a minute from one address, 3 an hour for one e-mail.
    "reset_password": "20/m/ip,3/h/key",
    "reset_password_from_key": "20/m/ip",
    "signup": "20/m/ip",
    "change_password": "5/m/user",
}

# Behind N reverse proxies, the client's address is the Nth entry from the right of X-Forwarded-For.
# Rate limits, the audit trail and API throttling all read it through allauth's setting.
ALLAUTH_TRUSTED_PROXY_COUNT = env_int("TRUSTED_PROXY_COUNT", 0)

# Two-factor (django-otp). Attempts are throttled per device by django-otp and per user by us.
OTP_TOTP_ISSUER = "Nexevo"
OTP_TOTP_THROTTLE_FACTOR = 1
OTP_STATIC_THROTTLE_FACTOR = 1
# Staff see that a device exists, never its secret, QR code or recovery codes.
OTP_ADMIN_HIDE_SENSITIVE_DATA = True
NEXEVO_OTP_ATTEMPTS_PER_WINDOW = env_int("NEXEVO_OTP_ATTEMPTS_PER_WINDOW", 5)
NEXEVO_OTP_WINDOW_SECONDS = 300
NEXEVO_RECOVERY_CODE_COUNT = 10

# Seconds an authenticated API key may be served from the cache (every change forgets it at once).
# Off by default in production without Redis: several processes would not share a local cache.
NEXEVO_KEY_CACHE_SECONDS = env_int("NEXEVO_KEY_CACHE_SECONDS", 30 if REDIS_URL or not PRODUCTION else 0)

# Days an invitation link stays valid.
NEXEVO_INVITATION_DAYS = env_int("NEXEVO_INVITATION_DAYS", 7)

# Days between a self-service deactivation and the erasure of the account's personal data.
NEXEVO_ERASURE_GRACE_DAYS = env_int("NEXEVO_ERASURE_GRACE_DAYS", 30)

# --- The chat endpoint (gateway) -------------------------------------------------------------------
# Seconds to open a connection to a provider, and the most a whole upstream call may take (a stream
# may run longer between chunks only up to NEXEVO_UPSTREAM_READ_TIMEOUT).
NEXEVO_UPSTREAM_CONNECT_TIMEOUT = env_int("NEXEVO_UPSTREAM_CONNECT_TIMEOUT", 5)
NEXEVO_UPSTREAM_READ_TIMEOUT = env_int("NEXEVO_UPSTREAM_READ_TIMEOUT", 60)
NEXEVO_UPSTREAM_TOTAL_TIMEOUT = env_int("NEXEVO_UPSTREAM_TOTAL_TIMEOUT", 120)
# A reservation against a key's cap that was never settled (a crashed process) stops counting after this.
NEXEVO_RESERVATION_TTL_SECONDS = env_int("NEXEVO_RESERVATION_TTL_SECONDS", 900)
# What a web process holds on keys' spend counters in Redis (its leases, its requests' holds) is
# written there with a heartbeat every NEXEVO_HOLDER_HEARTBEAT_SECONDS; a process silent for
# NEXEVO_HOLDER_TTL_SECONDS is taken for dead and the beat job (give-back-dead-holdings, every
# NEXEVO_DEAD_HOLDINGS_SWEEP_SECONDS) gives its holds back. A give-back Redis did not take is sent
# again every NEXEVO_GIVE_BACK_RETRY_SECONDS, and for NEXEVO_GIVE_BACK_FINAL_SECONDS at shutdown.
NEXEVO_HOLDER_HEARTBEAT_SECONDS = env_int("NEXEVO_HOLDER_HEARTBEAT_SECONDS", 5)
NEXEVO_HOLDER_TTL_SECONDS = env_int("NEXEVO_HOLDER_TTL_SECONDS", 20)
NEXEVO_GIVE_BACK_RETRY_SECONDS = env_int("NEXEVO_GIVE_BACK_RETRY_SECONDS", 1)
NEXEVO_GIVE_BACK_FINAL_SECONDS = env_int("NEXEVO_GIVE_BACK_FINAL_SECONDS", 5)
if not 1 <= NEXEVO_HOLDER_HEARTBEAT_SECONDS < NEXEVO_HOLDER_TTL_SECONDS / 2:
    raise ImproperlyConfigured(
        "NEXEVO_HOLDER_TTL_SECONDS must be more than twice NEXEVO_HOLDER_HEARTBEAT_SECONDS (at least 1), "
        "or a live process would be taken for dead."
    )
if NEXEVO_GIVE_BACK_RETRY_SECONDS < 1 or NEXEVO_GIVE_BACK_FINAL_SECONDS < 0:
    raise ImproperlyConfigured(
        "NEXEVO_GIVE_BACK_RETRY_SECONDS must be at least 1 and NEXEVO_GIVE_BACK_FINAL_SECONDS not negative."
    )
# Chat requests with a missing or wrong key per client address per minute, then 429 (gateway.ratelimits).
NEXEVO_CHAT_AUTH_FAILURES_PER_MINUTE = env_int("NEXEVO_CHAT_AUTH_FAILURES_PER_MINUTE", 30)
# How often each process re-reads the router's ratings, and its seed (unset: random).
NEXEVO_ROUTER_RATINGS_SECONDS = env_int("NEXEVO_ROUTER_RATINGS_SECONDS", 15)
NEXEVO_ROUTER_SEED = env_int("NEXEVO_ROUTER_SEED", 0) or None
# The example programs the Cookbook page lists (core/cookbook.py).
NEXEVO_EXAMPLES_DIR = Path(env_str("NEXEVO_EXAMPLES_DIR", str(BASE_DIR / "examples")))
# The most ratings one organization's thumbs and provider faults count for in a model's rating.
NEXEVO_ROUTER_RATINGS_PER_ORGANIZATION = env_int("NEXEVO_ROUTER_RATINGS_PER_ORGANIZATION", 20)
# Seconds each process keeps what the chat endpoint reads on every request (keys, the catalog, plans
# and balances, provider keys); a change made in another process shows within this (gateway.snapshots).
NEXEVO_HOT_CACHE_SECONDS = env_int("NEXEVO_HOT_CACHE_SECONDS", 2)
# Connections per web process for recording chat requests on PostgreSQL (gateway.database).
NEXEVO_RECORDING_CONNECTIONS = env_int("NEXEVO_RECORDING_CONNECTIONS", 8)
# Answer chat requests first and write their usage through a Redis stream, in batches, from a
# recorder process (gateway.journal; bin/stack turns it on and runs the recorder). Needs Redis.
NEXEVO_USAGE_JOURNAL = env_bool("NEXEVO_USAGE_JOURNAL", default=False)
if NEXEVO_USAGE_JOURNAL and not REDIS_URL:
    raise ImproperlyConfigured("NEXEVO_USAGE_JOURNAL needs REDIS_URL.")
# How long feedback on a generation answered but not written yet waits for the recorder.
NEXEVO_USAGE_JOURNAL_WAIT_SECONDS = env_int("NEXEVO_USAGE_JOURNAL_WAIT_SECONDS", 5)
# Days the Requests page keeps its rows (gateway.tasks.prune_request_logs).
NEXEVO_REQUEST_LOG_RETENTION_DAYS = env_int("NEXEVO_REQUEST_LOG_RETENTION_DAYS", 30)

# --- Encryption of stored provider keys (core.crypto) ----------------------------------------------
NEXEVO_ENCRYPTION_KEYS = env_list("NEXEVO_ENCRYPTION_KEY", [])
if PRODUCTION and not NEXEVO_ENCRYPTION_KEYS:
    raise ImproperlyConfigured("NEXEVO_ENCRYPTION_KEY must be set when NEXEVO_ENV=production.")

# --- Stripe ---------------------------------------------------------------------------------------
# Without a secret key the top-up page says that Stripe is not configured; staff can still credit an
# organization in admin. STRIPE_API_BASE points the client at a Stripe-compatible server.
STRIPE_SECRET_KEY = env_str("STRIPE_SECRET_KEY", "")
STRIPE_WEBHOOK_SECRET = env_str("STRIPE_WEBHOOK_SECRET", "")
STRIPE_API_BASE = env_str("STRIPE_API_BASE", "")

# --- REST API -------------------------------------------------------------------------------------
REST_FRAMEWORK = {
    "DEFAULT_AUTHENTICATION_CLASSES": [
        "apikeys.authentication.ApiKeyAuthentication",
        "core.authentication.VerifiedSessionAuthentication",
    ],
    "DEFAULT_PERMISSION_CLASSES": ["rest_framework.permissions.IsAuthenticated"],
    "DEFAULT_PARSER_CLASSES": ["core.parsers.DecimalJSONParser"],
    "DEFAULT_RENDERER_CLASSES": ["rest_framework.renderers.JSONRenderer"],
    "EXCEPTION_HANDLER": "core.api.exception_handler",
    "DEFAULT_SCHEMA_CLASS": "core.schema.AutoSchema",
    "DEFAULT_THROTTLE_CLASSES": ["rest_framework.throttling.UserRateThrottle"],
    "DEFAULT_THROTTLE_RATES": {
        "user": env_str("NEXEVO_API_RATE", "600/minute"),
        "password": "5/minute",
    },
    "UNAUTHENTICATED_USER": "django.contrib.auth.models.AnonymousUser",
    "DATETIME_FORMAT": "iso-8601",
    "COERCE_DECIMAL_TO_STRING": True,
    "NUM_PROXIES": ALLAUTH_TRUSTED_PROXY_COUNT,
}
SPECTACULAR_SETTINGS = {
    "TITLE": "Nexevo API",
    "DESCRIPTION": (
        "One OpenAI-compatible endpoint in front of many model providers, and the API that manages "
        "accounts, keys, organizations, billing, conversations and feedback. Authenticate with "
        "`Authorization: Bearer nx_...`. Money is a decimal string; errors share one envelope."
    ),
    "VERSION": "1",
    "SERVE_INCLUDE_SCHEMA": False,
    "SWAGGER_UI_DIST": "SIDECAR",
    "SWAGGER_UI_FAVICON_HREF": "SIDECAR",
    "REDOC_DIST": "SIDECAR",
    "SCHEMA_PATH_PREFIX": r"/v1",
    # POST /v1/chat/completions is not a DRF view: gateway.chat_schema describes it.
    "PREPROCESSING_HOOKS": ["gateway.chat_schema.add_chat_completions"],
    # Names for the choice sets the API shares (core.schema); the values say what each one means.
    "ENUM_NAME_OVERRIDES": {
        "MemberRoleEnum": ["owner", "admin", "developer"],
        "AssignableRoleEnum": ["admin", "developer"],
        "KeyStatusEnum": ["active", "revoked", "expired"],
        "MessageRoleEnum": ["user", "assistant", "system", "tool"],
    },
    "ENUM_GENERATE_CHOICE_DESCRIPTION": False,
    # The reference is public; the endpoints it describes are not.
    "SERVE_PERMISSIONS": ["rest_framework.permissions.AllowAny"],
    "SERVE_AUTHENTICATION": [],
}

# --- Internationalisation -------------------------------------------------------------------------
LANGUAGE_CODE = "en"
LANGUAGES = [("en", _("English")), ("zh-hans", _("Simplified Chinese"))]
LOCALE_PATHS = [BASE_DIR / "locale"]
# The choice of a signed-out visitor (core.views.language_set); a signed-in user's is on their profile.
LANGUAGE_COOKIE_NAME = "nexevo_language"
# Our corrections to Django's number formats of a language (nexevo_site/formats/<language>/).
FORMAT_MODULE_PATH = ["nexevo_site.formats"]
LANGUAGE_COOKIE_AGE = 365 * 24 * 60 * 60
LANGUAGE_COOKIE_SAMESITE = "Lax"
TIME_ZONE = "UTC"
USE_I18N = True
USE_TZ = True

# --- Static files ---------------------------------------------------------------------------------
STATIC_URL = "static/"
# Where collectstatic writes (bin/production runs it) and WhiteNoise serves from in production.
STATIC_ROOT = Path(env_str("STATIC_ROOT", str(BASE_DIR / "staticfiles")))
STATICFILES_DIRS = [BASE_DIR / "static"]
# Outside production WhiteNoise serves straight from the apps' static folders, no collectstatic needed.
WHITENOISE_USE_FINDERS = not PRODUCTION
WHITENOISE_AUTOREFRESH = DEBUG
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {
        "BACKEND": (
            "whitenoise.storage.CompressedManifestStaticFilesStorage"
            if PRODUCTION
            else "django.contrib.staticfiles.storage.StaticFilesStorage"
        )
    },
}

# --- E-mail ---------------------------------------------------------------------------------------
DEFAULT_FROM_EMAIL = env_str("DEFAULT_FROM_EMAIL", "Nexevo <no-reply@nexevo.local>")
SERVER_EMAIL = DEFAULT_FROM_EMAIL
EMAIL_HOST = env_str("EMAIL_HOST")
if EMAIL_HOST:
    EMAIL_BACKEND = "django.core.mail.backends.smtp.EmailBackend"
    EMAIL_PORT = env_int("EMAIL_PORT", 587)
    EMAIL_HOST_USER = env_str("EMAIL_HOST_USER", "")
    EMAIL_HOST_PASSWORD = env_str("EMAIL_HOST_PASSWORD", "")
    EMAIL_USE_TLS = env_bool("EMAIL_USE_TLS", default=True)
else:
    EMAIL_BACKEND = "django.core.mail.backends.console.EmailBackend"

# --- Security -------------------------------------------------------------------------------------
SESSION_COOKIE_HTTPONLY = True
SESSION_COOKIE_SAMESITE = "Lax"
CSRF_COOKIE_SAMESITE = "Lax"
X_FRAME_OPTIONS = "DENY"
SECURE_CONTENT_TYPE_NOSNIFF = True
SECURE_REFERRER_POLICY = "same-origin"
# core.security: no inline script or style on the console's pages, nothing from other origins, no
# <object>, no <base>, never in a frame; forms post to the console, or to Stripe Checkout (a top-up
# answers its POST with a redirect there, and a redirect after a form counts as form-action).
CONTENT_SECURITY_POLICY = {
    "default-src": ["'self'"],
    "script-src": ["'self'"],
    "style-src": ["'self'"],
    "img-src": ["'self'"],
    "font-src": ["'self'"],
    "connect-src": ["'self'"],
    "object-src": ["'none'"],
    "base-uri": ["'none'"],
    "frame-ancestors": ["'none'"],
    "form-action": ["'self'", "https://checkout.stripe.com"],
}
# Swagger UI at /v1/docs/ and ReDoc at /v1/redoc/: their inline start-up scripts carry a nonce of
# each response's own; ReDoc writes <style> elements as it renders, draws icons from data: URLs and
# runs its search in a blob: worker. The console's pages never get this policy.
CONTENT_SECURITY_POLICY_API_DOCS = {
    **CONTENT_SECURITY_POLICY,
    "style-src": ["'self'", "'unsafe-inline'"],
    "img-src": ["'self'", "data:"],
    "worker-src": ["'self'", "blob:"],
}
# Powerful browser features, none of which the console uses, denied to it and to anything it embeds.
PERMISSIONS_POLICY = ", ".join(
    f"{feature}=()"
    for feature in (
        "accelerometer",
        "autoplay",
        "camera",
        "display-capture",
        "encrypted-media",
        "geolocation",
        "gyroscope",
        "hid",
        "idle-detection",
        "magnetometer",
        "microphone",
        "midi",
        "payment",
        "picture-in-picture",
        "publickey-credentials-get",
        "screen-wake-lock",
        "serial",
        "usb",
        "xr-spatial-tracking",
    )
)
if PRODUCTION:
    SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
    SECURE_SSL_REDIRECT = env_bool("SECURE_SSL_REDIRECT", default=True)
    SECURE_REDIRECT_EXEMPT = [r"^healthz$"]
    SESSION_COOKIE_SECURE = True
    CSRF_COOKIE_SECURE = True
    LANGUAGE_COOKIE_SECURE = True
    SECURE_HSTS_SECONDS = env_int("SECURE_HSTS_SECONDS", 60 * 60 * 24 * 365)
    SECURE_HSTS_INCLUDE_SUBDOMAINS = True
    SECURE_HSTS_PRELOAD = True

# --- Logging --------------------------------------------------------------------------------------
# Every handler blanks out API keys and Authorization values (core.logredact). uvicorn's own loggers,
# its access log included, are configured here too (in its format), when the app loads, so that
# they pass the same filter; Celery keeps these handlers rather than its own.
LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "filters": {"redact_secrets": {"()": "core.logredact.RedactSecrets"}},
    "formatters": {
        "plain": {"format": "%(asctime)s %(levelname)s %(name)s %(message)s"},
        "uvicorn": {"()": "uvicorn.logging.DefaultFormatter", "fmt": "%(levelprefix)s %(message)s"},
        "uvicorn_access": {
            "()": "uvicorn.logging.AccessFormatter",
            "fmt": '%(levelprefix)s %(client_addr)s - "%(request_line)s" %(status_code)s',
        },
    },
    "handlers": {
        "console": {"class": "logging.StreamHandler", "formatter": "plain", "filters": ["redact_secrets"]},
        "uvicorn": {
            "class": "logging.StreamHandler",
            "formatter": "uvicorn",
            "filters": ["redact_secrets"],
            "stream": "ext://sys.stderr",
        },
        "uvicorn_access": {
            "class": "logging.StreamHandler",
            "formatter": "uvicorn_access",
            "filters": ["redact_secrets"],
            "stream": "ext://sys.stdout",
        },
    },
    "root": {"handlers": ["console"], "level": env_str("LOG_LEVEL", "INFO")},
    "loggers": {
        # Django's own handlers (a second console copy while DEBUG, mail to ADMINS) go: its
        # records reach the root's handler, filtered like the rest.
        "django": {"handlers": [], "level": "INFO"},
        "django.db.backends": {"level": "WARNING"},
        "uvicorn": {"handlers": ["uvicorn"], "level": "INFO", "propagate": False},
        "uvicorn.access": {"handlers": ["uvicorn_access"], "level": "INFO", "propagate": False},
    },
}
CELERY_WORKER_HIJACK_ROOT_LOGGER = False

# --- Spend-alert webhooks (alerts) -----------------------------------------------------------------
# Seconds to wait after each failed attempt (the README states the schedule); the whole exchange of
# one attempt must fit in the timeout; a worker's claim on an attempt lasts the lease.
_ALERT_RETRY_DELAYS = env_list(
    "ALERT_WEBHOOK_RETRY_DELAYS", ["5", "300", "1800", "7200", "18000", "36000", "36000"]
)
if not all(delay.isdigit() for delay in _ALERT_RETRY_DELAYS):
    raise ImproperlyConfigured("ALERT_WEBHOOK_RETRY_DELAYS must be whole seconds separated by commas.")
ALERT_WEBHOOK_RETRY_DELAYS = [int(delay) for delay in _ALERT_RETRY_DELAYS]
ALERT_WEBHOOK_TIMEOUT_SECONDS = env_int("ALERT_WEBHOOK_TIMEOUT_SECONDS", 10)
ALERT_WEBHOOK_LEASE_SECONDS = env_int("ALERT_WEBHOOK_LEASE_SECONDS", 60)
if ALERT_WEBHOOK_LEASE_SECONDS <= ALERT_WEBHOOK_TIMEOUT_SECONDS:
    raise ImproperlyConfigured(
        "ALERT_WEBHOOK_LEASE_SECONDS must be longer than ALERT_WEBHOOK_TIMEOUT_SECONDS."
    )
ALERT_WEBHOOK_MAX_RESPONSE_BYTES = env_int("ALERT_WEBHOOK_MAX_RESPONSE_BYTES", 64 * 1024)
# Receivers whose certificate comes from a private CA: a PEM bundle to trust instead of certifi's.
ALERT_WEBHOOK_CA_BUNDLE = env_str("ALERT_WEBHOOK_CA_BUNDLE", "")
# Non-public networks deliveries may reach. Tests only (their receiver is on loopback); deliberately
# not read from the environment, so no deployment opens its private networks by a stray variable.
ALERT_WEBHOOK_ALLOWED_NETWORKS: list[str] = []
