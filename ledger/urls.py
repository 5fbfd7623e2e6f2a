from django.urls import re_path
from rest_framework.routers import SimpleRouter

from ledger.api import ingest, lineage, read
from ledger.api.dispatch import by_method

router = SimpleRouter(trailing_slash="/?")
# DRF turns any truthy trailing_slash into "/": set the optional slash after construction
# (the OpenLineage client and curl users call paths without one; no 301 redirects).
router.trailing_slash = "/?"
# Read side (ledger/api/read.py).
router.register("ledger/clients", read.ClientViewSet, basename="ledger-client")
router.register("ledger/pipelines", read.PipelineViewSet, basename="ledger-pipeline")
router.register("ledger/runs", read.RunViewSet, basename="ledger-run")
router.register("ledger/watermarks", read.WatermarkViewSet, basename="ledger-watermark")
router.register("ledger/check-results", read.CheckResultViewSet, basename="ledger-check-result")

# One URL, two views: GET is the read-side list, POST is ingestion (ledger/api/dispatch.py).
dispatch_urls = [
    re_path(
        r"^ledger/runs/?$",
        by_method(get=read.RunViewSet.as_view({"get": "list"}), post=ingest.RunIngestView.as_view()),
    ),
    re_path(
        r"^ledger/watermarks/?$",
        by_method(
            get=read.WatermarkViewSet.as_view({"get": "list"}), post=ingest.WatermarkIngestView.as_view()
        ),
    ),
    re_path(
        r"^ledger/check-results/?$",
        by_method(
            get=read.CheckResultViewSet.as_view({"get": "list"}), post=ingest.CheckResultIngestView.as_view()
        ),
    ),
]

# Write endpoints (the three above stay listed for the OpenAPI schema; by_method serves them).
ingest_urls = [
    re_path(r"^ledger/runs/?$", ingest.RunIngestView.as_view(), name="ledger-runs-ingest"),
    re_path(r"^ledger/runs/bulk/?$", ingest.RunBulkIngestView.as_view(), name="ledger-runs-bulk"),
    re_path(r"^ledger/watermarks/?$", ingest.WatermarkIngestView.as_view(), name="ledger-watermarks-ingest"),
    re_path(r"^ledger/check-results/?$", ingest.CheckResultIngestView.as_view(), name="ledger-checks-ingest"),
    re_path(r"^lineage/?$", lineage.LineageView.as_view(), name="lineage"),
    re_path(r"^lineage/batch/?$", lineage.LineageBatchView.as_view(), name="lineage-batch"),
]

read_urlpatterns = [
    re_path(r"^ledger/failures/?$", read.FailuresView.as_view(), name="ledger-failures"),
    re_path(r"^ledger/runs-per-day/?$", read.RunsPerDayView.as_view(), name="ledger-runs-per-day"),
    re_path(r"^ledger/failure-rate/?$", read.FailureRateView.as_view(), name="ledger-failure-rate"),
    re_path(r"^ledger/mttr/?$", read.MttrView.as_view(), name="ledger-mttr"),
    re_path(r"^ledger/flaky/?$", read.FlakyRankingView.as_view(), name="ledger-flaky"),
]

urlpatterns = dispatch_urls + ingest_urls + read_urlpatterns + router.urls
