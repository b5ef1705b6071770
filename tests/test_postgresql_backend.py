"""The console's PostgreSQL backend (core/postgresql) makes no "_like" index, and core's migration
0004 drops those an older database has."""

import importlib

import pytest
from django.apps import apps
from django.db import connection

from core.migrations import __name__ as migrations_package
from gateway.models import RequestLog

migration = importlib.import_module(f"{migrations_package}.0004_no_like_indexes")


@pytest.fixture
def postgresql(db):
    if connection.vendor != "postgresql":
        pytest.skip("needs PostgreSQL: the _like indexes are its backend's")


def pattern_indexes() -> list[str]:
    tables = [
        model._meta.db_table
        for model in apps.get_models(include_auto_created=True)
        if model._meta.app_label in migration.CONSOLE_APPS
    ]
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT indexname FROM pg_indexes WHERE schemaname = current_schema() AND tablename = ANY(%s)"
            " AND indexdef LIKE %s ORDER BY indexname",
            [tables, "%pattern_ops%"],
        )
        return [name for (name,) in cursor.fetchall()]


def indexes_of(table: str) -> set[str]:
    with connection.cursor() as cursor:
        cursor.execute("SELECT indexname FROM pg_indexes WHERE tablename = %s", [table])
        return {name for (name,) in cursor.fetchall()}


def test_the_backend_makes_no_like_index(postgresql):
    from django.db.backends.postgresql.schema import DatabaseSchemaEditor as StockEditor

    assert connection.settings_dict["ENGINE"] == "core.postgresql"
    model_field = RequestLog._meta.get_field("model")  # what a new indexed text column would be
    indexed = model_field.clone()
    indexed.set_attributes_from_name("model")
    indexed.model, indexed.db_index = RequestLog, True
    with connection.schema_editor() as editor:
        assert editor._create_like_index_sql(RequestLog, indexed) is None
        assert StockEditor._create_like_index_sql(editor, RequestLog, indexed) is not None


def test_the_consoles_tables_have_no_like_index(postgresql):
    assert pattern_indexes() == []
    # What a chat request writes: each row's key, its lookups and the composite (organization, time)
    # indexes, which also serve the organization's foreign key.
    assert indexes_of("gateway_requestlog") == {
        "gateway_requestlog_pkey",
        "gateway_requestlog_api_key_id_fb4a50d5",
        "requestlog_org_time",
        "requestlog_time",
    }


def test_the_migration_drops_the_like_indexes_an_older_database_has(postgresql):
    with connection.cursor() as cursor:
        cursor.execute(
            "CREATE INDEX billing_usagerecord_id_old_like ON billing_usagerecord (id varchar_pattern_ops)"
        )
        cursor.execute("CREATE INDEX gateway_requestlog_model_kept ON gateway_requestlog (model)")
    assert pattern_indexes() == ["billing_usagerecord_id_old_like"]

    with connection.schema_editor() as schema_editor:
        migration.drop_like_indexes(apps, schema_editor)

    assert pattern_indexes() == []
    assert "gateway_requestlog_model_kept" in indexes_of("gateway_requestlog")  # only _like ones go
