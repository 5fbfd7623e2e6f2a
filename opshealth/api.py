"""API plumbing shared by every app's endpoints."""

import logging

from django.db import DatabaseError
from rest_framework import status
from rest_framework.response import Response
from rest_framework.views import exception_handler as drf_exception_handler

logger = logging.getLogger("opshealth.api")


def exception_handler(exc, context):
    """DRF's error shape, plus: a database error never shows SQL to the client.

    The traceback goes to the server log; the client gets a stable, opaque body.
    """
    if isinstance(exc, DatabaseError):
        view = context.get("view")
        logger.exception("database error in %s", type(view).__name__ if view else "API", exc_info=exc)
        return Response({"detail": "database_error"}, status=status.HTTP_500_INTERNAL_SERVER_ERROR)
    return drf_exception_handler(exc, context)
