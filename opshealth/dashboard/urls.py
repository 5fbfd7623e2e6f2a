from django.urls import path, re_path
from django.views.generic import RedirectView

from opshealth.dashboard import views
from opshealth.dashboard.tabs.alerts import VERBS, incident_action

urlpatterns = [
    # The admin's "View site" link points at "/".
    path("", RedirectView.as_view(pattern_name="dashboard", permanent=False), name="home"),
    path("ops/health", views.dashboard, name="dashboard"),
    path("ops/health/objects/<int:pk>", views.object_page, name="dashboard-object"),
    path("ops/health/actions", views.action, name="dashboard-action"),
    re_path(
        rf"^ops/health/actions/incidents/(?P<pk>[0-9]+)/(?P<verb>{'|'.join(VERBS)})$",
        incident_action,
        name="dashboard-incident",
    ),
]
