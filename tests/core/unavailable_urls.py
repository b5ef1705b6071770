"""URLs used only by test_service_unavailable: views that fail because Redis or the broker is down."""

from django.urls import include, path
from kombu.exceptions import OperationalError
from redis.exceptions import ConnectionError as RedisConnectionError
from rest_framework.decorators import api_view, permission_classes
from rest_framework.permissions import AllowAny

from core.cache import CacheUnavailable


@api_view(["GET"])
@permission_classes([AllowAny])
def api_view_without_redis(request):
    raise RedisConnectionError("Error 111 connecting to 127.0.0.1:6379. Connection refused.")


@api_view(["POST"])
@permission_classes([AllowAny])
def api_view_without_broker(request):
    raise OperationalError("Error 111 connecting to 127.0.0.1:6379. Connection refused.")


def plain_api_view_without_cache(request):
    raise CacheUnavailable("Redis at redis://127.0.0.1:6379/0 is unreachable.")


def page_without_redis(request):
    raise RedisConnectionError("Error 111 connecting to 127.0.0.1:6379. Connection refused.")


urlpatterns = [
    path("v1/test/needs-redis", api_view_without_redis),
    path("v1/test/needs-broker", api_view_without_broker),
    path("v1/test/needs-cache", plain_api_view_without_cache),
    path("test/needs-redis/", page_without_redis),
    path("", include("nexevo_site.urls")),
]

handler500 = "core.views.server_error"
