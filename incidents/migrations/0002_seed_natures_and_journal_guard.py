from django.db import migrations

from incidents.choices import NATURES


def seed(apps, schema_editor):
    Nature = apps.get_model("incidents", "Nature")
    for code, label in NATURES:
        Nature.objects.get_or_create(code=code, defaults={"label": label})


# The main courante is append-only: the database itself refuses to edit or
# delete an entry, whatever path tries.
GUARD = """
CREATE OR REPLACE FUNCTION incidents_journal_append_only() RETURNS trigger AS $$
BEGIN
    RAISE EXCEPTION 'the main courante is append-only: % refused', TG_OP
        USING ERRCODE = 'insufficient_privilege';
END $$ LANGUAGE plpgsql;
CREATE TRIGGER incidents_journal_append_only
    BEFORE UPDATE OR DELETE ON incidents_journalentry
    FOR EACH ROW EXECUTE FUNCTION incidents_journal_append_only();
"""
UNGUARD = """
DROP TRIGGER IF EXISTS incidents_journal_append_only ON incidents_journalentry;
DROP FUNCTION IF EXISTS incidents_journal_append_only();
"""


class Migration(migrations.Migration):
    dependencies = [("incidents", "0001_initial")]
    operations = [
        migrations.RunPython(seed, migrations.RunPython.noop),
        migrations.RunSQL(GUARD, UNGUARD),
    ]
