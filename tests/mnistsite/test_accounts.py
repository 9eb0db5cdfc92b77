"""Accounts: the site's own login page, the navigation that says who is logged in, and the
pages that send anonymous visitors to log in and back."""

import pytest
from django.test import Client

pytestmark = pytest.mark.django_db

PASSWORD = "correct horse battery"


@pytest.fixture
def teacher(django_user_model, settings):
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]  # a fast login; not what is tested
    return django_user_model.objects.create_user("teacher", password=PASSWORD)


@pytest.mark.parametrize("url", ["/batches/new", "/batches/7"])
def test_pages_that_need_an_account_send_anonymous_visitors_to_the_login_page_and_back(client, url):
    response = client.get(url)
    assert response.status_code == 302
    assert response["Location"] == f"/accounts/login/?next={url}"


@pytest.mark.parametrize("url", ["/accounts/login/", "/api-auth/login/"])
def test_the_login_pages_are_the_sites_own(client, url):
    response = client.get(url, {"next": "/batches/new"})
    assert response.status_code == 200
    html = response.content.decode()
    assert 'data-testid="nav"' in html and "css/site.css" in html  # the site's base template
    assert 'id="id_username"' in html and 'id="id_password"' in html
    assert 'name="next" value="/batches/new"' in html
    assert "Django REST framework" not in html


def test_logging_in_goes_back_to_the_page_that_asked(client, teacher):
    response = client.post("/accounts/login/", {"username": "teacher", "password": PASSWORD, "next": "/batches/new"})
    assert response.status_code == 302 and response["Location"] == "/batches/new"
    assert client.get("/batches/new").status_code == 200


def test_logging_in_without_next_goes_to_the_start_page(client, teacher):
    response = client.post("/accounts/login/", {"username": "teacher", "password": PASSWORD})
    assert response.status_code == 302 and response["Location"] == "/"


def test_the_browsable_apis_login_logs_in_on_the_same_page(client, teacher):
    response = client.post("/api-auth/login/", {"username": "teacher", "password": PASSWORD, "next": "/api/batches"})
    assert response.status_code == 302 and response["Location"] == "/api/batches"
    assert client.get("/api/batches", HTTP_ACCEPT="application/json").status_code == 200


def test_a_wrong_password_shows_the_form_again_with_a_sentence(client, teacher):
    response = client.post("/accounts/login/", {"username": "teacher", "password": "wrong", "next": "/batches/new"})
    assert response.status_code == 200
    html = response.content.decode()
    assert 'id="login-error"' in html and "correct username and password" in html
    assert 'value="teacher"' in html
    assert "_auth_user_id" not in client.session


def test_navigation_offers_login_to_anonymous_visitors_with_the_page_to_come_back_to(client):
    html = client.get("/history").content.decode()
    assert 'href="/accounts/login/?next=/history"' in html
    assert 'id="nav-logout"' not in html


def test_navigation_shows_the_users_name_and_a_logout_button(client, teacher):
    client.force_login(teacher)
    html = client.get("/").content.decode()
    assert '<li class="nav-user" id="nav-user">teacher</li>' in html
    assert 'action="/accounts/logout/"' in html and 'id="nav-logout"' in html
    assert 'id="nav-login"' not in html


def test_logging_out_takes_a_post_and_goes_to_the_start_page(client, teacher):
    client.force_login(teacher)
    assert client.get("/accounts/logout/").status_code == 405  # a link or prefetch never logs out
    response = client.post("/accounts/logout/")
    assert response.status_code == 302 and response["Location"] == "/"
    assert 'id="nav-login"' in client.get("/").content.decode()


def test_logout_needs_the_csrf_token(teacher):
    csrf_client = Client(enforce_csrf_checks=True)
    csrf_client.force_login(teacher)
    assert csrf_client.post("/accounts/logout/").status_code == 403
    assert "_auth_user_id" in csrf_client.session


def test_the_browsable_api_links_to_its_login_page(client):
    html = client.get("/api/predict", HTTP_ACCEPT="text/html").content.decode()
    assert "href='/api-auth/login/?next=/api/predict'" in html
