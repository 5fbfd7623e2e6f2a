from django.urls import path, re_path
from rest_framework.routers import DefaultRouter

from . import views
from .views import Dashboard

router = DefaultRouter()
router.register("products", views.ProductViewSet, basename="product")

urlpatterns = [
    path("orders/", views.order_list),
    re_path(r"^dashboard/$", Dashboard.as_view()),
    path("upload/", views.bulk_upload),
    path("stock/", views.Stock.as_view()),
] + router.urls
