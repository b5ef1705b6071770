"""E-mails are written in their recipient's language (``User.language``), not the sender's.

Each test compiles the few Chinese translations it reads (tests.core.catalogs.compiled), so it
asserts on real Chinese text with or without the full catalog in locale/."""

import pytest
from django.core import mail
from django.utils import translation

from accounts import services as account_services
from core.email import send_templated_to_users
from orgs.models import Membership
from orgs.services import invitation_create
from tests.conftest import PASSWORD, make_user
from tests.core.catalogs.compiled import chinese_catalog
from tests.orgs.helpers import acme_with

INVITED = "%(inviter)s invited you to %(name)s on Nexevo"
INVITED_ZH = "%(inviter)s 邀请你加入 Nexevo 上的 %(name)s"
LOW_BALANCE = "%(name)s's balance is low"
LOW_BALANCE_ZH = "%(name)s 的余额不足"
DEACTIVATED = "Your Nexevo account is deactivated"
DEACTIVATED_ZH = "你的 Nexevo 账号已停用"


@pytest.fixture
def chinese(tmp_path):
    with chinese_catalog(
        tmp_path, {INVITED: INVITED_ZH, LOW_BALANCE: LOW_BALANCE_ZH, DEACTIVATED: DEACTIVATED_ZH}
    ):
        yield


def invite(owner, email, *, page_language="en", capture):
    membership = Membership.objects.get(organization=acme_with(owner), user=owner)
    with translation.override(page_language), capture(execute=True):
        invitation_create(membership=membership, email=email, role="developer")
    (message,) = mail.outbox
    return message


def test_it_invites_a_user_who_chose_chinese_in_chinese(
    alice, charlie, chinese, django_capture_on_commit_callbacks
):
    charlie.language = "zh-hans"
    charlie.save()
    # Alice's page is in English: the invitation is in Charlie's language all the same.
    message = invite(alice, charlie.email, page_language="en", capture=django_capture_on_commit_callbacks)

    assert message.subject == "[Nexevo] Alice Archer 邀请你加入 Nexevo 上的 Acme Inc"


def test_it_invites_an_english_user_in_english(alice, charlie, chinese, django_capture_on_commit_callbacks):
    charlie.language = "en"
    charlie.save()
    message = invite(
        alice, charlie.email, page_language="zh-hans", capture=django_capture_on_commit_callbacks
    )

    assert message.subject == "[Nexevo] Alice Archer invited you to Acme Inc on Nexevo"


def test_it_invites_a_user_who_never_chose_in_english(
    alice, charlie, chinese, django_capture_on_commit_callbacks
):
    assert charlie.language == ""
    message = invite(
        alice, charlie.email, page_language="zh-hans", capture=django_capture_on_commit_callbacks
    )

    assert message.subject == "[Nexevo] Alice Archer invited you to Acme Inc on Nexevo"


@pytest.mark.parametrize(
    ("page_language", "subject"),
    [
        ("zh-hans", "[Nexevo] Alice Archer 邀请你加入 Nexevo 上的 Acme Inc"),
        ("en", "[Nexevo] Alice Archer invited you to Acme Inc on Nexevo"),
    ],
)
def test_it_invites_an_address_without_an_account_in_the_inviters_language(
    alice, chinese, django_capture_on_commit_callbacks, page_language, subject
):
    message = invite(
        alice, "dana@example.com", page_language=page_language, capture=django_capture_on_commit_callbacks
    )
    assert message.subject == subject


def test_it_writes_to_managers_once_per_language(
    alice, bob, charlie, chinese, django_capture_on_commit_callbacks
):
    bob.language = "zh-hans"
    bob.save()
    organization = acme_with(alice, admin=bob)
    with django_capture_on_commit_callbacks(execute=True):
        send_templated_to_users(
            "billing/email/low_balance",
            users=[alice, bob],
            context={"organization": organization, "balance": "$1.234567", "threshold": "$5.00"},
        )

    by_recipient = {tuple(message.to): message for message in mail.outbox}
    assert by_recipient[("alice@example.com",)].subject == "[Nexevo] Acme Inc's balance is low"
    assert by_recipient[("bob@example.com",)].subject == "[Nexevo] Acme Inc 的余额不足"
    # The amount is written as it was given, to the last decimal, in either language.
    assert "$1.234567" in by_recipient[("bob@example.com",)].body


def test_it_sends_the_deactivation_in_the_users_language(chinese, db, django_capture_on_commit_callbacks):
    dana = make_user("dana@example.com", language="zh-hans")
    with translation.override("en"), django_capture_on_commit_callbacks(execute=True):
        account_services.account_deactivate(user=dana, password=PASSWORD)

    (message,) = mail.outbox
    assert message.subject == f"[Nexevo] {DEACTIVATED_ZH}"


def test_it_sends_allauth_mail_in_the_accounts_language(
    client, chinese, db, django_capture_on_commit_callbacks
):
    """A password reset asked for from an English page reaches a reader who chose Chinese in
    Chinese (allauth's own words, from allauth's catalog)."""
    make_user("dana@example.com", language="zh-hans")
    make_user("erin@example.com")
    with django_capture_on_commit_callbacks(execute=True):
        for email in ("dana@example.com", "erin@example.com"):
            client.post("/accounts/password/reset/", {"email": email}, HTTP_ACCEPT_LANGUAGE="en")

    subjects = {message.to[0]: message.subject for message in mail.outbox}
    assert subjects["erin@example.com"] == "[Nexevo] Password Reset Email"
    assert subjects["dana@example.com"] == "[Nexevo] 密码重置邮件"
