"""URLconf for test_dispatch: the project's URLs plus one path served per method."""

from django.urls import re_path

from ledger.api.dispatch import by_method
from ledger.api.read import ClientViewSet
from opshealth.urls import urlpatterns as project_urlpatterns

urlpatterns = [
    re_path(
        r"^dispatch/clients/?$",
        by_method(get=ClientViewSet.as_view({"get": "list"}), post=ClientViewSet.as_view({"post": "create"})),
    ),
    *project_urlpatterns,
]
