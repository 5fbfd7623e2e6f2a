"""Token scopes say what they allow: a token is judged by its scope, whoever owns it."""

import pytest
from django.contrib.auth import get_user_model
from django.core.management import call_command
from django.db import DatabaseError, connection, transaction
from django.views.debug import ExceptionReporter
from rest_framework.response import Response
from rest_framework.test import APIClient, APIRequestFactory, force_authenticate
from rest_framework.views import APIView

from common.auth import CanIngest, CanRead, IsAdmin, ReadOrAdmin, TokenAuthentication
from ledger.models import ApiToken

pytestmark = pytest.mark.django_db


class _Probe(APIView):
    def get(self, request):
        return Response({"ok": True})

    post = get


def _with_token(permission, method: str, scope: str, *, staff: bool = True) -> int:
    name = f"{permission.__name__.lower()}-{scope}-{method}-{staff}"
    user = get_user_model().objects.create_user(name, is_staff=staff)
    _, raw = ApiToken.issue(name, scope, user=user)
    view = _Probe.as_view(permission_classes=[permission])
    request = getattr(APIRequestFactory(), method)("/probe", HTTP_AUTHORIZATION=f"Bearer {raw}")
    return view(request).status_code


def _with_session(permission, method: str, *, staff: bool) -> int:
    user, _ = get_user_model().objects.get_or_create(username=f"session-{staff}", is_staff=staff)
    view = _Probe.as_view(permission_classes=[permission])
    request = getattr(APIRequestFactory(), method)("/probe")
    force_authenticate(request, user=user)
    return view(request).status_code


@pytest.mark.parametrize("scope", [ApiToken.SCOPE_READ, ApiToken.SCOPE_INGEST])
def test_read_and_ingest_tokens_of_a_staff_user_are_never_admin(scope):
    assert _with_token(IsAdmin, "post", scope) == 403
    assert _with_token(IsAdmin, "get", scope) == 403
    assert _with_token(ReadOrAdmin, "post", scope) == 403


def test_admin_token_is_admin_whoever_owns_it():
    assert _with_token(IsAdmin, "post", ApiToken.SCOPE_ADMIN, staff=False) == 200
    assert _with_token(ReadOrAdmin, "post", ApiToken.SCOPE_ADMIN, staff=False) == 200


def test_admin_token_without_an_owner_is_admin():
    _, raw = ApiToken.issue("ownerless-admin", ApiToken.SCOPE_ADMIN)
    view = _Probe.as_view(permission_classes=[IsAdmin])
    request = APIRequestFactory().post("/probe", HTTP_AUTHORIZATION=f"Bearer {raw}")
    assert view(request).status_code == 200


@pytest.mark.parametrize("scope", [ApiToken.SCOPE_READ, ApiToken.SCOPE_INGEST, ApiToken.SCOPE_ADMIN])
def test_every_scope_reads(scope):
    assert _with_token(ReadOrAdmin, "get", scope, staff=False) == 200
    assert _with_token(CanRead, "get", scope, staff=False) == 200


def test_only_an_ingest_token_ingests():
    assert _with_token(CanIngest, "post", ApiToken.SCOPE_INGEST, staff=False) == 200
    assert _with_token(CanIngest, "post", ApiToken.SCOPE_ADMIN) == 403
    assert _with_token(CanIngest, "post", ApiToken.SCOPE_READ) == 403


def test_sessions_are_judged_by_staff_status():
    assert _with_session(IsAdmin, "post", staff=True) == 200
    assert _with_session(IsAdmin, "post", staff=False) == 403
    assert _with_session(ReadOrAdmin, "get", staff=False) == 200
    assert _with_session(ReadOrAdmin, "post", staff=False) == 403


def test_revoked_token_is_a_401():
    token, raw = ApiToken.issue("revoked", ApiToken.SCOPE_INGEST)
    token.revoked_at = token.created_at
    token.save()
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {raw}")
    assert client.get("/api/v1/ledger/runs").status_code == 401


def test_token_create_accepts_the_admin_scope():
    call_command("token", "create", "ops-admin", "--scope", "admin")

    assert ApiToken.objects.get(name="ops-admin").scope == ApiToken.SCOPE_ADMIN


def _report_of_a_failed_authentication(request) -> ExceptionReporter:
    """Authentication failing on a real database error (an aborted transaction), as
    Django reports an unhandled error."""
    with transaction.atomic():
        with connection.cursor() as cur, pytest.raises(DatabaseError):
            cur.execute("SELECT 1 / 0")
        try:
            TokenAuthentication().authenticate(request)
        except DatabaseError as exc:
            reporter = ExceptionReporter(request, type(exc), exc, exc.__traceback__)
        transaction.set_rollback(True)
    return reporter


def test_an_error_report_never_shows_the_bearer_token(settings):
    """With DEBUG off, the report of a 500 (the error mail's HTML shows each frame's
    variables) hides the token."""
    settings.DEBUG = False
    _, raw = ApiToken.issue("reported", ApiToken.SCOPE_READ)
    reporter = _report_of_a_failed_authentication(
        APIRequestFactory().get("/probe", HTTP_AUTHORIZATION=f"Bearer {raw}")
    )
    (frame,) = [f for f in reporter.get_traceback_frames() if f["function"] == "authenticate"]
    assert dict(frame["vars"])["header"] == "********************"
    assert raw not in reporter.get_traceback_html()
