"""The one page of test_embedded_restart.py's server: which postmaster answered."""

from django.db import connection
from django.http import JsonResponse
from django.urls import path


def postmaster(request):
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_postmaster_start_time()::text, pg_backend_pid()")
        started, backend = cursor.fetchone()
    return JsonResponse({"started": started, "backend": backend})


urlpatterns = [path("postmaster", postmaster)]
