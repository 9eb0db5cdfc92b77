"""Login attempts are limited (django-axes): LOGIN_FAILURE_LIMIT (5) failures for one
username from one client lock that pair out for LOGIN_LOCKOUT_MINUTES (15), on the site's
login page, the admin's and the browsable API's, with a page that says so."""

import pytest

pytestmark = pytest.mark.django_db

PASSWORD = "correct horse battery"
LOGIN_PAGES = ["/accounts/login/", "/admin/login/", "/api-auth/login/"]


@pytest.fixture(autouse=True)
def fast_hashes(settings):
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]


@pytest.fixture
def alice(django_user_model):
    return django_user_model.objects.create_user("alice", password=PASSWORD, is_staff=True)


def log_in(client, username: str, password: str, *, page: str = "/accounts/login/", **extra):
    return client.post(page, {"username": username, "password": password}, **extra)


def logged_in(client) -> bool:
    return "_auth_user_id" in client.session


def fail(client, username: str, times: int, **extra) -> list[int]:
    return [log_in(client, username, "wrong", **extra).status_code for _ in range(times)]


@pytest.mark.parametrize("page", LOGIN_PAGES)
def test_thirty_wrong_passwords_then_the_right_one_is_refused_with_the_lockout_message(client, alice, page):
    assert fail(client, "alice", 30, page=page) == [200] * 4 + [429] * 26
    response = log_in(client, "alice", PASSWORD, page=page)
    assert response.status_code == 429
    assert not logged_in(client)
    text = " ".join(response.content.decode().split())
    assert 'id="lockout-message"' in text
    assert "as <strong>alice</strong> from this address failed 5 times, so it is locked for 15 minutes" in text
    assert 'class="site-header"' in text  # the site's own page, not a bare string


def test_fewer_failures_than_the_limit_then_the_right_password_logs_in(client, alice):
    assert fail(client, "alice", 4) == [200] * 4
    assert log_in(client, "alice", PASSWORD).status_code == 302
    assert logged_in(client)


def test_a_success_starts_the_count_again(client, alice):
    fail(client, "alice", 4)
    assert log_in(client, "alice", PASSWORD).status_code == 302
    client.logout()
    assert fail(client, "alice", 4) == [200] * 4
    assert log_in(client, "alice", PASSWORD).status_code == 302


def test_a_locked_out_username_does_not_lock_out_another_user(client, alice, django_user_model):
    django_user_model.objects.create_user("bob", password=PASSWORD)
    fail(client, "alice", 30)
    assert log_in(client, "bob", PASSWORD).status_code == 302
    assert logged_in(client)


def test_the_same_username_from_another_client_is_not_locked_out(client, alice):
    fail(client, "alice", 30, REMOTE_ADDR="198.51.100.1")
    assert log_in(client, "alice", PASSWORD, REMOTE_ADDR="198.51.100.2").status_code == 302


def test_spoofed_forwarded_for_headers_do_not_escape_the_lockout(client, alice):
    statuses = [
        log_in(client, "alice", "wrong", headers={"X-Forwarded-For": f"203.0.113.{n}"}).status_code for n in range(8)
    ]
    assert statuses == [200] * 4 + [429] * 4
    assert log_in(client, "alice", PASSWORD, headers={"X-Forwarded-For": "203.0.113.99"}).status_code == 429


def test_behind_one_proxy_the_lockout_names_the_address_it_appended(client, alice, settings):
    settings.REST_FRAMEWORK = {**settings.REST_FRAMEWORK, "NUM_PROXIES": 1}
    fail(client, "alice", 5, headers={"X-Forwarded-For": "198.51.100.1, 203.0.113.7"})
    locked = log_in(client, "alice", PASSWORD, headers={"X-Forwarded-For": "198.51.100.2, 203.0.113.7"})
    assert locked.status_code == 429
    other = log_in(client, "alice", PASSWORD, headers={"X-Forwarded-For": "198.51.100.1, 203.0.113.8"})
    assert other.status_code == 302


def test_a_script_asking_for_json_gets_a_json_lockout(client, alice):
    fail(client, "alice", 5)
    response = log_in(client, "alice", PASSWORD, headers={"X-Requested-With": "XMLHttpRequest"})
    assert response.status_code == 429
    assert response.json()["failure_limit"] == 5
