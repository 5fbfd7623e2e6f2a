from django.urls import re_path
from rest_framework.routers import DefaultRouter

from ledger.api import ingest, lineage

router = DefaultRouter(trailing_slash="/?")

# Write endpoints come before the router's: `POST ledger/runs` is ingestion.
ingest_urls = [
    re_path(r"^ledger/runs/?$", ingest.RunIngestView.as_view(), name="ledger-runs-ingest"),
    re_path(r"^ledger/runs/bulk/?$", ingest.RunBulkIngestView.as_view(), name="ledger-runs-bulk"),
    re_path(r"^ledger/watermarks/?$", ingest.WatermarkIngestView.as_view(), name="ledger-watermarks-ingest"),
    re_path(r"^ledger/check-results/?$", ingest.CheckResultIngestView.as_view(), name="ledger-checks-ingest"),
    re_path(r"^lineage/?$", lineage.LineageView.as_view(), name="lineage"),
    re_path(r"^lineage/batch/?$", lineage.LineageBatchView.as_view(), name="lineage-batch"),
]

urlpatterns = ingest_urls + router.urls
