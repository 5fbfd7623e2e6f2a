from django.contrib import admin
from django.urls import include, path
from drf_spectacular.views import SpectacularAPIView, SpectacularSwaggerView

from checks.metrics import metrics_view
from common.api import ApiRootView
from common.login import ThrottledAdminLoginForm

handler404 = "common.api.not_found"

# Failed logins are counted per user name and address; past the limit, refused for a while.
admin.site.login_form = ThrottledAdminLoginForm

urlpatterns = [
    path("admin/", admin.site.urls),
    path("api/schema/", SpectacularAPIView.as_view(), name="api-schema"),
    path("api/docs/", SpectacularSwaggerView.as_view(url_name="api-schema"), name="api-docs"),
    path("api/v1/", ApiRootView.as_view(), name="api-root"),
    path("api/v1/", include("registry.urls")),
    path("api/v1/", include("ledger.urls")),
    path("api/v1/", include("checks.urls")),
    path("metrics", metrics_view, name="metrics"),
    path("", include("opshealth.dashboard.urls")),
]
