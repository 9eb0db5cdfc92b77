"""Logging in and out in a real browser: the Batches link of an anonymous visitor, the site's
login page, and the navigation that says who is logged in."""

import re

import pytest
from playwright.sync_api import expect

pytestmark = [pytest.mark.integration, pytest.mark.slow]

PASSWORD = "correct horse battery"


def test_an_anonymous_visitor_logs_in_from_the_batches_link_and_out_again(page, django_user_model, settings):
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]  # a fast login; not what is tested
    django_user_model.objects.create_user("teacher", password=PASSWORD)
    page.goto("/history")
    page.click("#nav-batches")
    expect(page).to_have_url(re.compile(r"/accounts/login/\?next=/batches/new$"))
    expect(page.locator("h1")).to_have_text("Log in")
    expect(page.locator("#nav-login")).to_have_attribute("aria-current", "page")

    page.fill("#id_username", "teacher")
    page.fill("#id_password", "wrong")
    page.click("#login-submit")
    expect(page.locator("#login-error")).to_contain_text("correct username and password")

    page.fill("#id_password", PASSWORD)
    page.click("#login-submit")
    expect(page).to_have_url(re.compile(r"/batches/new$"))
    expect(page.locator("#batch-form")).to_be_visible()
    expect(page.locator("#nav-user")).to_have_text("teacher")
    expect(page.locator("#nav-login")).to_have_count(0)

    page.click("#nav-logout")
    expect(page).to_have_url(re.compile(r"/$"))
    expect(page.locator("#nav-login")).to_be_visible()
    expect(page.locator("#nav-user")).to_have_count(0)
    page.click("#nav-batches")
    expect(page).to_have_url(re.compile(r"/accounts/login/\?next=/batches/new$"))


def test_the_browsable_apis_login_link_shows_the_sites_login_page(page):
    page.goto("/api/predict")
    page.get_by_role("link", name="Log in").click()
    expect(page).to_have_url(re.compile(r"/api-auth/login/\?next=/api/predict$"))
    expect(page.locator("#nav-recognise")).to_be_visible()  # the site's navigation, not DRF's bare page
    expect(page.locator("#login-form")).to_be_visible()
