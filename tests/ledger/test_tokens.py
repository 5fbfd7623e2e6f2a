import pytest
from django.core.management import CommandError, call_command
from rest_framework.test import APIClient

from ledger.models import ApiToken

pytestmark = pytest.mark.django_db


def run_command(*args) -> tuple[str, str]:
    from io import StringIO

    out, err = StringIO(), StringIO()
    call_command("token", *args, stdout=out, stderr=err)
    return out.getvalue(), err.getvalue()


def test_token_create_prints_the_token_once_and_stores_only_its_hash(staff_user):
    out, err = run_command("create", "airflow", "--scope", "ingest", "--user", "staff")
    raw = out.strip()
    token = ApiToken.objects.get(name="airflow")
    assert raw.startswith("oh_") and "shown once" in err
    assert token.token_hash == ApiToken.hash(raw) and raw not in token.token_hash
    assert (token.scope, token.user) == ("ingest", staff_user)
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {raw}")
    event = {"pipeline": "p", "external_run_id": "1", "status": "started"}
    assert client.post("/api/v1/ledger/runs", event, format="json").status_code == 201


def test_token_list_shows_no_secret():
    _, raw = ApiToken.issue("grafana", ApiToken.SCOPE_READ)
    out, _ = run_command("list")
    assert "grafana\tread" in out and raw not in out and ApiToken.hash(raw) not in out


def test_token_revoke_stops_the_token():
    _, raw = ApiToken.issue("old", ApiToken.SCOPE_INGEST)
    out, _ = run_command("revoke", "old")
    assert "Revoked token old" in out
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {raw}")
    response = client.post("/api/v1/ledger/runs", {}, format="json")
    assert response.status_code == 401
    with pytest.raises(CommandError, match="No active token"):
        run_command("revoke", "old")


def test_token_create_refuses_a_duplicate_name_and_unknown_user():
    ApiToken.issue("dup", ApiToken.SCOPE_READ)
    with pytest.raises(CommandError, match="already exists"):
        run_command("create", "dup")
    with pytest.raises(CommandError, match="No user"):
        run_command("create", "new", "--user", "ghost")


def test_admin_create_shows_the_token_once(admin_client):
    response = admin_client.post(
        "/admin/ledger/apitoken/add/", {"name": "ci", "scope": "ingest"}, follow=True
    )
    assert response.status_code == 200
    token = ApiToken.objects.get(name="ci")
    shown = [str(m) for m in response.context["messages"] if "will not be shown again" in str(m)]
    assert len(shown) == 1
    raw = shown[0].rsplit(": ", 1)[1]
    assert ApiToken.hash(raw) == token.token_hash
    change_page = admin_client.get(f"/admin/ledger/apitoken/{token.pk}/change/").content.decode()
    assert raw not in change_page and token.token_hash not in change_page


def test_admin_revoke_action(admin_client):
    token, _ = ApiToken.issue("ci", ApiToken.SCOPE_INGEST)
    admin_client.post(
        "/admin/ledger/apitoken/", {"action": "revoke", "_selected_action": [token.pk]}, follow=True
    )
    token.refresh_from_db()
    assert token.revoked_at is not None and not token.is_active
