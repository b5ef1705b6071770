from django.apps import AppConfig


class CoreConfig(AppConfig):
    name = "core"
    verbose_name = "Core"

    def ready(self):
        from django.urls import register_converter

        from . import schema  # noqa: F401  (registers the OpenAPI extensions)
        from .ids import PublicIdConverter

        register_converter(PublicIdConverter, "id")
