"""Fixtures the recognizer tests share."""

import pytest


@pytest.fixture
def ann(django_user_model):
    return django_user_model.objects.create_user("ann", password="pw-ann-123")


@pytest.fixture
def ann_client(client, ann):
    client.force_login(ann)
    return client
