from rest_framework.routers import DefaultRouter

from registry.api import objects, resolvers

router = DefaultRouter()
# DRF's constructor turns any truthy trailing_slash into "/": set the optional slash here.
router.trailing_slash = "/?"
router.register("ops/source-registry", objects.SourceRegistryViewSet, basename="source-registry")
router.register("resolvers", resolvers.ResolverRuleViewSet, basename="resolver")

urlpatterns = router.urls
