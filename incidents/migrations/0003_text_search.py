from django.contrib.postgres.operations import TrigramExtension
from django.db import migrations

# ?q= is an icontains, which PostgreSQL runs as UPPER(column::text) LIKE UPPER('%text%'):
# trigram indexes on exactly those expressions keep it off a full scan of the
# incidents (benchmarks/incidents.py).
FIELDS = ("reference", "description", "address")
CREATE = "".join(
    f'CREATE INDEX IF NOT EXISTS incident_{f}_trgm ON incidents_incident '
    f'USING gin ((UPPER("{f}"::text)) gin_trgm_ops);' for f in FIELDS)
DROP = "".join(f"DROP INDEX IF EXISTS incident_{f}_trgm;" for f in FIELDS)


class Migration(migrations.Migration):
    dependencies = [("incidents", "0002_seed_natures_and_journal_guard")]
    operations = [TrigramExtension(), migrations.RunSQL(CREATE, DROP)]
