from django.urls import path
from rest_framework.routers import DefaultRouter

from . import views

router = DefaultRouter()
router.register(r"inventory", views.InventoryViewSet, basename="inventory")

urlpatterns = [
    path("customers/<int:customer_id>/", views.customer_detail, name="customer-detail"),
    path("flags/<str:name>/toggle/", views.toggle_flag, name="toggle-flag"),
    path("users/", views.AppUsersView.as_view(), name="app-users"),
]
urlpatterns += router.urls
