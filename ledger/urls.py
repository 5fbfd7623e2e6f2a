from django.urls import re_path
from rest_framework.routers import DefaultRouter

from ledger.api import read

router = DefaultRouter(trailing_slash="/?")
# DRF turns any truthy trailing_slash into "/": set the optional slash after construction
# (the OpenLineage client and curl users call paths without one; no 301 redirects).
router.trailing_slash = "/?"
# Read side (ledger/api/read.py).
router.register("ledger/clients", read.ClientViewSet, basename="ledger-client")
router.register("ledger/pipelines", read.PipelineViewSet, basename="ledger-pipeline")
router.register("ledger/runs", read.RunViewSet, basename="ledger-run")
router.register("ledger/watermarks", read.WatermarkViewSet, basename="ledger-watermark")
router.register("ledger/check-results", read.CheckResultViewSet, basename="ledger-check-result")

read_urlpatterns = [
    re_path(r"^ledger/failures/?$", read.FailuresView.as_view(), name="ledger-failures"),
    re_path(r"^ledger/runs-per-day/?$", read.RunsPerDayView.as_view(), name="ledger-runs-per-day"),
    re_path(r"^ledger/failure-rate/?$", read.FailureRateView.as_view(), name="ledger-failure-rate"),
    re_path(r"^ledger/mttr/?$", read.MttrView.as_view(), name="ledger-mttr"),
    re_path(r"^ledger/flaky/?$", read.FlakyRankingView.as_view(), name="ledger-flaky"),
]

urlpatterns = read_urlpatterns + router.urls
