from django.conf import settings
from django.contrib.auth.models import AbstractUser, BaseUserManager
from django.db import models, transaction
from django.utils.translation import gettext_lazy as _

from core.fields import PublicIdField


class UserManager(BaseUserManager):
    use_in_migrations = True

    def _create_user(self, email, password, **extra_fields):
        if not email:
            raise ValueError("Users need an e-mail address.")
        user = self.model(email=self.normalize_email(email).lower(), **extra_fields)
        user.set_password(password)
        user.save(using=self._db)
        return user

    def create_user(self, email, password=None, **extra_fields):
        extra_fields.setdefault("is_staff", False)
        extra_fields.setdefault("is_superuser", False)
        return self._create_user(email, password, **extra_fields)

    def create_superuser(self, email, password=None, **extra_fields):
        """A staff account, as ``manage.py createsuperuser`` makes it: whoever runs that command on
        the server vouches for the address, so it is recorded as verified and the account can sign
        in at once, instead of waiting on a confirmation e-mail."""
        from allauth.account.models import EmailAddress

        extra_fields.setdefault("is_staff", True)
        extra_fields.setdefault("is_superuser", True)
        extra_fields.setdefault("email_verified", True)
        with transaction.atomic(using=self._db):
            user = self._create_user(email, password, **extra_fields)
            EmailAddress.objects.db_manager(self._db).update_or_create(
                user=user, email=user.email, defaults={"verified": user.email_verified, "primary": True}
            )
        return user


class User(AbstractUser):
    """A person who signs in with an e-mail address. ``id`` is the public ``u_`` id."""

    id = PublicIdField(prefix="u")
    username = None
    first_name = None
    last_name = None
    email = models.EmailField(_("e-mail address"), unique=True)
    full_name = models.CharField(_("full name"), max_length=150, blank=True)
    # Kept in step with allauth's EmailAddress (accounts.receivers) so that reading the profile
    # costs no extra query.
    email_verified = models.BooleanField(_("e-mail verified"), default=False)
    # Kept in step with the confirmed django-otp devices by the two-factor services.
    two_factor_enabled = models.BooleanField(_("two-factor enabled"), default=False)
    deactivated_at = models.DateTimeField(_("deactivated"), null=True, blank=True)
    erased_at = models.DateTimeField(_("personal data erased"), null=True, blank=True)
    # The language the user chose for pages and e-mails; empty until they choose, and then the
    # cookie or the browser's Accept-Language decides (core.middleware.LanguageMiddleware).
    language = models.CharField(
        _("language"), max_length=16, blank=True, default="", choices=settings.LANGUAGES
    )

    USERNAME_FIELD = "email"
    EMAIL_FIELD = "email"
    REQUIRED_FIELDS: list[str] = []

    objects = UserManager()

    class Meta:
        verbose_name = _("user")
        verbose_name_plural = _("users")

    def __str__(self):
        return self.email

    def get_full_name(self):
        return self.full_name or self.email

    def get_short_name(self):
        return self.full_name.split(" ")[0] if self.full_name else self.email
