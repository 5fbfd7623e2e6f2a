"""A change marker for the source-registry list cache (registry/api/objects.py).

Every statement that writes the tables a list row is made of (objects, their sources,
dependencies) bumps one counter in the same transaction, whatever wrote it: the ORM, a
bulk upsert, raw SQL, the admin. Statement-level, so a bulk write of 10,000 rows costs
one UPDATE. The row lock is held until the writer commits; registry writes are short
transactions with no outside I/O (discovery reads the catalog before its write phase).
"""

from django.db import migrations

FORWARD = """
CREATE TABLE registry_listversion (
    id smallint PRIMARY KEY CHECK (id = 1),
    version bigint NOT NULL
);
INSERT INTO registry_listversion (id, version) VALUES (1, 0);

CREATE FUNCTION registry_bump_listversion() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    UPDATE registry_listversion SET version = version + 1 WHERE id = 1;
    RETURN NULL;
END;
$$;

CREATE TRIGGER registry_object_listversion
    AFTER INSERT OR UPDATE OR DELETE OR TRUNCATE ON registry_registryobject
    FOR EACH STATEMENT EXECUTE FUNCTION registry_bump_listversion();
CREATE TRIGGER registry_source_listversion
    AFTER INSERT OR UPDATE OR DELETE OR TRUNCATE ON registry_source
    FOR EACH STATEMENT EXECUTE FUNCTION registry_bump_listversion();
CREATE TRIGGER registry_dependency_listversion
    AFTER INSERT OR UPDATE OR DELETE OR TRUNCATE ON registry_dependency
    FOR EACH STATEMENT EXECUTE FUNCTION registry_bump_listversion();
"""

BACKWARD = """
DROP TRIGGER registry_object_listversion ON registry_registryobject;
DROP TRIGGER registry_source_listversion ON registry_source;
DROP TRIGGER registry_dependency_listversion ON registry_dependency;
DROP FUNCTION registry_bump_listversion();
DROP TABLE registry_listversion;
"""


class Migration(migrations.Migration):
    dependencies = [("registry", "0003_default_inference_rules")]

    operations = [migrations.RunSQL(FORWARD, BACKWARD)]
