"""The error pages a person can meet: a wrong method (405), a form the CSRF check refused, 403, 404
and 500, each a page of the console rather than a blank or Django's own; and the favicon."""

import pytest
from django.template import loader
from django.test import Client, override_settings

from tests.orgs.helpers import acme_with


def signed_in(user, **kwargs) -> Client:
    client = Client(**kwargs)
    client.force_login(user)
    return client


def template_names(response) -> list[str]:
    return [template.name for template in response.templates]


def test_it_answers_a_get_on_a_post_only_page_with_a_page(alice):
    response = signed_in(alice).get("/organizations/switch/")
    assert response.status_code == 405
    assert response["Allow"] == "POST"
    assert template_names(response)[:2] == ["405.html", "base.html"]
    body = response.content.decode()
    assert "This page can't be opened this way" in body
    assert "nothing was changed" in body
    assert 'href="/"' in body


def test_it_leads_back_to_the_page_with_the_form(alice):
    client = signed_in(alice)
    came_from = "http://testserver/settings/profile/"
    back = client.get("/organizations/switch/", HTTP_REFERER=came_from).content.decode()
    assert f'href="{came_from}"' in back
    elsewhere = client.get("/organizations/switch/", HTTP_REFERER="https://evil.example/").content.decode()
    assert "evil.example" not in elsewhere


def test_it_answers_a_wrong_method_under_v1_with_the_envelope_even_from_a_plain_view(db):
    with override_settings(ROOT_URLCONF="tests.core.error_urls"):
        response = Client().get("/v1/test/post-only")
    assert response.status_code == 405
    assert response["Allow"] == "POST"
    assert response.json()["error"]["code"] == "method_not_allowed"


def test_it_explains_a_form_whose_token_has_expired(alice):
    client = signed_in(alice, enforce_csrf_checks=True)
    client.get("/settings/profile/")  # sets the CSRF cookie, as a browser would
    response = client.post(
        "/settings/profile/",
        {"full_name": "Mallory", "csrfmiddlewaretoken": "x" * 64},
        HTTP_REFERER="http://testserver/settings/profile/",
    )
    assert response.status_code == 403
    assert template_names(response)[:2] == ["403_csrf.html", "base.html"]
    body = response.content.decode()
    assert "The form could not be sent" in body
    assert "Reload the page with the form and send it again" in body
    assert 'href="http://testserver/settings/profile/"' in body  # "Reload the form"
    alice.refresh_from_db()
    assert alice.full_name == "Alice Archer"


def test_it_says_when_the_browser_sent_no_cookie(alice):
    response = signed_in(alice, enforce_csrf_checks=True).post("/settings/profile/", {"full_name": "x"})
    assert response.status_code == 403
    assert "did not send this site's cookie" in response.content.decode()


def test_it_still_answers_json_to_a_csrf_failure_under_v1(alice):
    response = signed_in(alice, enforce_csrf_checks=True).patch(
        "/v1/auth/profile", '{"full_name": "x"}', content_type="application/json"
    )
    assert response.status_code == 403
    assert response.json()["error"]["code"] == "csrf_failed"


def test_it_shows_the_reason_for_a_refusal_on_the_403_page(alice, bob):
    acme = acme_with(alice, developer=bob)
    response = signed_in(bob).get(f"/organizations/{acme.id}/delete/")
    assert response.status_code == 403
    assert template_names(response)[:2] == ["403.html", "base.html"]
    body = response.content.decode()
    assert response.context["reason"] in body  # the service's own words, not a generic line
    assert "Back to the console" in body


def test_it_answers_an_unknown_page_with_the_404_page(alice):
    response = signed_in(alice).get("/no/such/page/")
    assert response.status_code == 404
    assert template_names(response)[:2] == ["404.html", "base.html"]
    assert "Page not found" in response.content.decode()


def test_it_answers_the_favicon(db):
    response = Client().get("/favicon.ico")
    assert response.status_code == 302
    icon = Client().get(response["Location"])
    assert icon.status_code == 200
    assert icon["Content-Type"] == "image/svg+xml"
    assert b"<svg" in b"".join(icon.streaming_content)


@override_settings(
    STORAGES={
        "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
        "staticfiles": {"BACKEND": "django.contrib.staticfiles.storage.ManifestStaticFilesStorage"},
    }
)
def test_it_renders_the_500_page_without_a_request_or_the_static_manifest():
    # No collectstatic has run: any {% static %} would raise for want of the manifest.
    body = loader.get_template("500.html").render()
    assert "Something went wrong" in body
    assert "<style>" in body and "/static/" not in body


@pytest.mark.django_db
@override_settings(ROOT_URLCONF="tests.core.error_urls", DEBUG=False)
def test_it_answers_a_failing_page_with_the_500_page():
    response = Client(raise_request_exception=False).get("/test/explode")
    assert response.status_code == 500
    body = response.content.decode()
    assert "Something went wrong" in body and "Back to the console" in body
    assert "secret internal detail" not in body
