from django.db import connection
from django.views.generic import TemplateView
from rest_framework import viewsets
from rest_framework.decorators import action, api_view
from rest_framework.views import APIView


def order_list(request):
    with connection.cursor() as cur:
        cur.execute("select * from canon.orders")


def never_wired(request):
    with connection.cursor() as cur:
        cur.execute("select * from raw.never_wired")


class Dashboard(TemplateView):
    def get(self, request):
        with connection.cursor() as cur:
            cur.execute("select * from mart.daily_sales")


@api_view(["POST"])
def bulk_upload(request):
    with connection.cursor() as cur:
        cur.execute("insert into raw.events (payload) values (%s)", [request.body])


class Stock(APIView):
    def get(self, request):
        with connection.cursor() as cur:
            cur.execute("select * from raw.inventory_snapshots")


class ProductViewSet(viewsets.ViewSet):
    def list(self, request):
        return self._query("select * from canon.products")

    def destroy(self, request, pk=None):
        return self._query("delete from canon.products where product_id = %s", [pk])

    @action(detail=False, methods=["get"])
    def bestsellers(self, request):
        return self._query("select * from mart.product_performance")

    def _query(self, sql, params=()):
        with connection.cursor() as cur:
            cur.execute(sql, params)
            return cur.fetchall()
