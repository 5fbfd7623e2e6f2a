from rest_framework.routers import SimpleRouter

from registry.api.objects import SourceRegistryViewSet
from registry.api.resolvers import ResolverRuleViewSet
from registry.api.sources import SourceViewSet

router = SimpleRouter(trailing_slash="/?")
# A SimpleRouter: the API root is common.api.ApiRootView, which lists every endpoint.
# DRF's constructor turns any truthy trailing_slash into "/": set the optional slash
# afterwards, so `/sources` and `/sources/` both answer (no 301 that drops a POST body).
router.trailing_slash = "/?"
router.register("ops/source-registry", SourceRegistryViewSet, basename="source-registry")
router.register("resolvers", ResolverRuleViewSet, basename="resolver")
router.register("sources", SourceViewSet, basename="source")

urlpatterns = router.urls
