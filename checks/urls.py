from django.urls import re_path
from rest_framework.routers import SimpleRouter

from checks.alerts import views as alerts
from checks.api import actions, views
from checks.datachecks.api import DataCheckViewSet

router = SimpleRouter()
router.trailing_slash = "/?"  # `/data-checks` and `/data-checks/` (see registry/urls.py)
router.register("data-checks", DataCheckViewSet, basename="data-check")
router.register("alerts/rules", alerts.RuleViewSet, basename="alert-rule")
router.register("alerts/channels", alerts.ChannelViewSet, basename="alert-channel")
router.register("alerts/silences", alerts.SilenceViewSet, basename="alert-silence")
router.register("alerts/maintenance-windows", alerts.MaintenanceWindowViewSet, basename="alert-window")
router.register("alerts/incidents", alerts.IncidentViewSet, basename="alert-incident")
router.register("alerts/deliveries", alerts.DeliveryViewSet, basename="alert-delivery")
router.register("actions", actions.ActionViewSet, basename="action")
router.register("retry-policies", actions.RetryPolicyViewSet, basename="retry-policy")

# The seed's contract paths: public API, keep them stable (a trailing slash is optional).
urlpatterns = [
    re_path(r"^ops/health-checks/?$", views.HealthChecksView.as_view(), name="ops-health-checks"),
    re_path(
        r"^ops/health-checks/(?P<check_key>[a-z_]+)/?$",
        views.HealthCheckDetailView.as_view(),
        name="ops-health-check-detail",
    ),
    re_path(r"^ops/health-global/?$", views.HealthGlobalView.as_view(), name="ops-health-global"),
    re_path(r"^ops/raw-health/status/?$", views.RawHealthStatusView.as_view(), name="ops-raw-health-status"),
    re_path(
        r"^ops/raw-health/freshness/?$",
        views.RawHealthFreshnessView.as_view(),
        name="ops-raw-health-freshness",
    ),
    re_path(
        r"^ops/raw-health/ingestion-daily/?$",
        views.RawHealthIngestionDailyView.as_view(),
        name="ops-raw-health-ingestion-daily",
    ),
    re_path(r"^ops/mv-health/?$", views.MvHealthView.as_view(), name="ops-mv-health"),
    re_path(r"^health/status/?$", views.HealthStatusView.as_view(), name="health-status"),
    re_path(r"^health/latest-report/?$", views.LatestReportView.as_view(), name="health-latest-report"),
    re_path(r"^health/violations/?$", views.ViolationList.as_view(), name="health-violations"),
    re_path(r"^health/metrics/?$", views.HealthMetricsView.as_view(), name="health-metrics"),
    re_path(r"^health/check-now/?$", views.CheckNowView.as_view(), name="health-check-now"),
    *router.urls,
]
