"""Token scopes: a read token never writes, whoever owns it."""

from django.contrib.auth import get_user_model
from rest_framework.test import APIClient, APIRequestFactory
from rest_framework.views import APIView

from ledger.auth import IsStaff, ReadOnlyOrStaff
from ledger.models import ApiToken


class _Probe(APIView):
    def get(self, request):
        from rest_framework.response import Response

        return Response({"ok": True})

    post = get


def _call(permission, method, token_scope, staff=True):
    name = f"{permission.__name__.lower()}-{token_scope}-{method}"
    user = get_user_model().objects.create_user(name, is_staff=staff)
    _, raw = ApiToken.issue(name, token_scope, user=user)
    view = _Probe.as_view(permission_classes=[permission])
    request = getattr(APIRequestFactory(), method)("/probe", HTTP_AUTHORIZATION=f"Bearer {raw}")
    return view(request).status_code


def test_read_token_of_a_staff_user_cannot_write(db):
    assert _call(ReadOnlyOrStaff, "post", ApiToken.SCOPE_READ) == 403
    assert _call(IsStaff, "post", ApiToken.SCOPE_READ) == 403


def test_read_token_of_a_staff_user_can_read(db):
    assert _call(ReadOnlyOrStaff, "get", ApiToken.SCOPE_READ) == 200
    assert _call(IsStaff, "get", ApiToken.SCOPE_READ) == 200


def test_ingest_token_of_a_staff_user_can_write(db):
    assert _call(ReadOnlyOrStaff, "post", ApiToken.SCOPE_INGEST) == 200


def test_token_of_a_non_staff_user_cannot_write(db):
    assert _call(ReadOnlyOrStaff, "post", ApiToken.SCOPE_INGEST, staff=False) == 403


def test_revoked_token_is_a_401(db):
    token, raw = ApiToken.issue("revoked", ApiToken.SCOPE_INGEST)
    token.revoked_at = token.created_at
    token.save()
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {raw}")
    assert client.get("/api/v1/ledger/runs").status_code == 401
