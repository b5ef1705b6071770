"""The language of the console: a signed-in user's saved choice, else the ``nexevo_language`` cookie
of a signed-out visitor's choice, else the browser's Accept-Language. The API's messages follow
Accept-Language only; its codes stay English."""

import pytest
from django.conf import settings
from django.test import Client

from accounts.models import User
from tests.core.catalogs.compiled import chinese_catalog

ZH = "zh-CN,zh;q=0.9,en;q=0.5"


def signed_in(user, **extra) -> Client:
    client = Client(**extra)
    client.force_login(user)
    return client


def page_language(response) -> str:
    assert response.status_code == 200, response.status_code
    return response["Content-Language"]


def test_it_follows_accept_language_for_a_visitor(client, db):
    response = client.get("/accounts/login/", HTTP_ACCEPT_LANGUAGE=ZH)
    assert page_language(response) == "zh-hans"
    assert b'<html lang="zh-hans">' in response.content
    assert page_language(client.get("/accounts/login/", HTTP_ACCEPT_LANGUAGE="fr-FR,en;q=0.5")) == "en"
    assert page_language(client.get("/accounts/login/")) == "en"


def test_it_prefers_the_cookie_to_accept_language(client, db):
    client.cookies[settings.LANGUAGE_COOKIE_NAME] = "en"
    assert page_language(client.get("/accounts/login/", HTTP_ACCEPT_LANGUAGE=ZH)) == "en"


def test_it_prefers_the_users_choice_to_the_cookie(alice):
    alice.language = "zh-hans"
    alice.save()
    client = signed_in(alice)
    client.cookies[settings.LANGUAGE_COOKIE_NAME] = "en"
    assert page_language(client.get("/settings/profile/", HTTP_ACCEPT_LANGUAGE="en")) == "zh-hans"


def test_it_lets_a_user_who_never_chose_follow_the_browser(alice):
    assert alice.language == ""
    assert page_language(signed_in(alice).get("/settings/profile/", HTTP_ACCEPT_LANGUAGE=ZH)) == "zh-hans"
    assert page_language(signed_in(alice).get("/settings/profile/")) == "en"


def test_it_saves_a_visitors_choice_in_the_cookie(client, db):
    response = client.post("/settings/language/", {"language": "zh-hans", "next": "/accounts/login/"})

    assert response.status_code == 302
    assert response["Location"] == "/accounts/login/"
    cookie = response.cookies[settings.LANGUAGE_COOKIE_NAME]
    assert cookie.value == "zh-hans"
    assert cookie["httponly"]
    assert page_language(client.get("/accounts/login/", HTTP_ACCEPT_LANGUAGE="en")) == "zh-hans"

    client.post("/settings/language/", {"language": "en", "next": "/accounts/login/"})
    assert page_language(client.get("/accounts/login/", HTTP_ACCEPT_LANGUAGE=ZH)) == "en"


def test_it_saves_a_users_choice_on_the_profile(alice):
    client = signed_in(alice)
    response = client.post("/settings/language/", {"language": "zh-hans", "next": "/dashboard/"})

    assert response.status_code == 302
    assert response["Location"] == "/dashboard/"
    assert settings.LANGUAGE_COOKIE_NAME not in response.cookies
    alice.refresh_from_db()
    assert alice.language == "zh-hans"
    # Another browser, which asks for English, gets her choice.
    assert page_language(signed_in(alice).get("/settings/profile/", HTTP_ACCEPT_LANGUAGE="en")) == "zh-hans"


def test_it_goes_back_to_the_browsers_choice_from_the_profile(alice):
    alice.language = "zh-hans"
    alice.save()
    client = signed_in(alice)
    response = client.post("/settings/language/", {"language": "", "next": "/settings/profile/"})
    assert response.status_code == 302
    alice.refresh_from_db()
    assert alice.language == ""
    assert page_language(client.get("/settings/profile/")) == "en"


def test_it_shows_the_choice_on_the_profile_page(alice):
    alice.language = "zh-hans"
    alice.save()
    content = signed_in(alice).get("/settings/profile/").content.decode()
    assert 'data-testid="profile-language"' in content
    assert '<option value="zh-hans" lang="zh-Hans" selected>中文</option>' in content


def test_it_refuses_a_language_it_does_not_offer(alice):
    client = signed_in(alice)
    response = client.post("/settings/language/", {"language": "fr", "next": "/settings/profile/"})
    assert response.status_code == 302
    alice.refresh_from_db()
    assert alice.language == ""


def test_it_redirects_only_to_this_site(client, db):
    response = client.post("/settings/language/", {"language": "en", "next": "https://evil.example/"})
    assert response["Location"] == "/"


def test_it_accepts_only_a_post_with_its_csrf_token(db):
    client = Client(enforce_csrf_checks=True)
    assert client.get("/settings/language/").status_code == 405
    assert client.post("/settings/language/", {"language": "zh-hans"}).status_code == 403


def test_it_offers_the_switch_signed_out_and_in_the_user_menu(client, alice):
    signed_out = client.get("/accounts/login/").content.decode()
    assert 'data-testid="language-switch"' in signed_out
    assert 'lang="zh-Hans"' in signed_out and ">中文</button>" in signed_out
    menu = signed_in(alice).get("/dashboard/").content.decode()
    assert 'data-testid="language-switch"' in menu


def test_it_keeps_the_choice_made_before_signing_up(client, db):
    from tests.conftest import PASSWORD

    client.cookies[settings.LANGUAGE_COOKIE_NAME] = "zh-hans"
    client.post(
        "/accounts/signup/",
        {"email": "dana@example.com", "password1": PASSWORD, "password2": PASSWORD, "full_name": "Dana"},
    )
    assert User.objects.get(email="dana@example.com").language == "zh-hans"


# --- The API ---------------------------------------------------------------------------------------

NOT_AUTHENTICATED = "Send your API key as 'Authorization: Bearer nx_...'."
NOT_AUTHENTICATED_ZH = "请以 'Authorization: Bearer nx_...' 发送你的 API 密钥。"


def test_it_answers_the_api_in_english_by_default(api, db):
    error = api.get("/v1/auth/me").json()["error"]
    assert (error["code"], error["message"]) == ("not_authenticated", NOT_AUTHENTICATED)


def test_it_writes_api_messages_in_chinese_when_asked(api, db, tmp_path):
    with chinese_catalog(tmp_path, {NOT_AUTHENTICATED: NOT_AUTHENTICATED_ZH}):
        error = api.get("/v1/auth/me", HTTP_ACCEPT_LANGUAGE="zh-CN").json()["error"]
    assert error["code"] == "not_authenticated"  # the contract stays English
    assert error["message"] == NOT_AUTHENTICATED_ZH


def test_it_ignores_the_cookie_and_the_profile_in_the_api(alice, tmp_path):
    alice.language = "zh-hans"
    alice.save()
    client = signed_in(alice)
    client.cookies[settings.LANGUAGE_COOKIE_NAME] = "zh-hans"
    with chinese_catalog(tmp_path, {"No endpoint at %(method)s %(path)s.": "%(method)s %(path)s 没有接口。"}):
        english = client.get("/v1/no/such/thing", HTTP_ACCEPT_LANGUAGE="en").json()["error"]
        chinese = client.get("/v1/no/such/thing", HTTP_ACCEPT_LANGUAGE="zh-CN").json()["error"]
    assert english["message"] == "No endpoint at GET /v1/no/such/thing."
    assert chinese["message"] == "GET /v1/no/such/thing 没有接口。"


@pytest.mark.parametrize("accept_language", ["zh-CN", "zh-Hans", "zh;q=0.8"])
def test_it_writes_the_chat_endpoints_errors_in_chinese(api_as, alice_key, tmp_path, accept_language):
    _key, full_key = alice_key
    translations = {"The request body is not valid JSON.": "请求体不是有效的 JSON。"}
    with chinese_catalog(tmp_path, translations):
        response = api_as(full_key).post(
            "/v1/chat/completions",
            data=b"{not json",
            content_type="application/json",
            HTTP_ACCEPT_LANGUAGE=accept_language,
        )
    assert response.status_code == 400
    error = response.json()["error"]
    assert error["code"] == "invalid_json"
    assert error["message"] == "请求体不是有效的 JSON。"


def test_it_writes_the_doors_errors_in_chinese(db, tmp_path):
    from tests.gateway.test_asgi_door import call

    english = "Send your API key as Authorization: Bearer <key>."
    translations = {english: "请以 Authorization: Bearer <key> 发送 API 密钥。"}
    with chinese_catalog(tmp_path, translations):
        chinese = call(body=b"{}", headers={"accept-language": "zh-CN"})
        english = call(body=b"{}")
    assert chinese.status == english.status == 401
    assert chinese.json()["error"]["message"] == "请以 Authorization: Bearer <key> 发送 API 密钥。"
    assert english.json()["error"]["message"] == "Send your API key as Authorization: Bearer <key>."
    assert chinese.json()["error"]["code"] == english.json()["error"]["code"] == "invalid_api_key"


def test_it_answers_a_missing_page_in_the_users_language(alice):
    alice.language = "zh-hans"
    alice.save()
    response = signed_in(alice).get("/no/such/page/", HTTP_ACCEPT_LANGUAGE="en")
    assert response.status_code == 404
    assert response["Content-Language"] == "zh-hans"
    assert b'<html lang="zh-hans">' in response.content


def test_it_answers_a_bad_host_in_the_browsers_language(db):
    response = Client(HTTP_HOST="evil.example.com").get("/accounts/login/", HTTP_ACCEPT_LANGUAGE=ZH)
    assert response.status_code == 400
    assert response["Content-Language"] == "zh-hans"
