"""The evaluation history in the admin: read-only pages that render."""

import pytest
from django.test import Client

from checks.evaluate import evaluate
from checks.models import CheckRun, Violation
from tests.factories.registry import RegistryObjectFactory

pytestmark = pytest.mark.django_db


@pytest.fixture
def admin_client_(db):
    from django.contrib.auth import get_user_model

    user = get_user_model().objects.create_superuser("root", "root@example.com", "pw")
    client = Client()
    client.force_login(user)
    return client


def test_history_pages_render_and_are_read_only(admin_client_):
    RegistryObjectFactory(is_expected=True, exists_in_db=False, source__is_active=False)
    evaluation = evaluate()
    violation = Violation.objects.get()
    for url in [
        "/admin/checks/evaluation/",
        f"/admin/checks/evaluation/{evaluation.pk}/change/",
        "/admin/checks/checkrun/?status__exact=ERROR",
        f"/admin/checks/checkrun/{CheckRun.objects.first().pk}/change/",
        "/admin/checks/violation/?q=object",
        f"/admin/checks/violation/{violation.pk}/change/",
    ]:
        assert admin_client_.get(url).status_code == 200, url
    assert admin_client_.get("/admin/checks/evaluation/add/").status_code == 403
