"""Back-office views: customer lookup for support, feature flags for the product team."""

from django.db import connections
from django.http import JsonResponse
from django.views import View
from django.views.decorators.http import require_POST
from rest_framework import viewsets
from rest_framework.decorators import action
from rest_framework.response import Response


def _warehouse():
    return connections["warehouse"].cursor()


def customer_detail(request, customer_id):
    with _warehouse() as cur:
        cur.execute(
            "SELECT customer_id, email, country FROM canon.customers WHERE customer_id = %s",
            [customer_id],
        )
        row = cur.fetchone()
    return JsonResponse({"customer": row})


@require_POST
def toggle_flag(request, name):
    with _warehouse() as cur:
        cur.execute(
            "update public.feature_flags set enabled = not enabled where flag = %s",
            [name],
        )
        _audit(cur, request.user.username, f"toggled {name}")
    return JsonResponse({"ok": True})


def _audit(cur, who, what):
    cur.execute("insert into public.audit_trail (action, happened_at) values (%s, now())", [f"{who}: {what}"])


class AppUsersView(View):
    def get(self, request):
        with _warehouse() as cur:
            cur.execute("select user_id, email, created_at from public.app_users order by email")
            return JsonResponse({"users": cur.fetchall()})


class InventoryViewSet(viewsets.ViewSet):
    """Stock levels from the nightly inventory snapshots."""

    def list(self, request):
        with _warehouse() as cur:
            cur.execute(
                """select product_id, max(snapshot_date) as latest, sum(on_hand)
                     from raw.inventory_snapshots
                    group by product_id"""
            )
            return Response(cur.fetchall())

    def retrieve(self, request, pk=None):
        with _warehouse() as cur:
            cur.execute(
                "select * from raw.inventory_snapshots where product_id = %s order by snapshot_date desc limit 30",
                [pk],
            )
            return Response(cur.fetchall())

    @action(detail=True, methods=["get"], url_path="lifetime-value")
    def lifetime_value(self, request, pk=None):
        with _warehouse() as cur:
            cur.execute("select orders, first_order, last_order from mart.customer_ltv where customer_id = %s", [pk])
            return Response(cur.fetchone())
