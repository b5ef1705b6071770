"""Django's PostgreSQL backend, without the second ("_like") index beside every indexed text column.

Django adds a ``varchar_pattern_ops`` index next to each index on a varchar or text column, so that
``LIKE 'prefix%'`` can use an index outside the C locale. The console never filters indexed text that
way: ids and hashes are looked up whole, and the admin's searches are ``icontains``, which no btree
serves. Each was a second index to write on every insert (ten for the three rows a chat request
writes). The indexes already made are dropped by core's migration 0004.

    DATABASE_URL=postgres://... selects this backend (nexevo_site.settings).
"""

from django.db.backends.postgresql import base, schema


class DatabaseSchemaEditor(schema.DatabaseSchemaEditor):
    def _create_like_index_sql(self, model, field):
        return None


class DatabaseWrapper(base.DatabaseWrapper):
    SchemaEditorClass = DatabaseSchemaEditor
