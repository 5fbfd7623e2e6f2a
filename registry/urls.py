from rest_framework.routers import DefaultRouter

from registry.api.sources import SourceViewSet

router = DefaultRouter(trailing_slash="/?")
router.register("sources", SourceViewSet, basename="source")

urlpatterns = router.urls
