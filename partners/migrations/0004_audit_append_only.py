from django.db import migrations

# The access journal is append-only: the database refuses to edit or delete a
# record, whatever path tries. (A superuser can still disable the trigger: the
# hash chain is what detects that.)
GUARD = """
CREATE OR REPLACE FUNCTION partners_audit_append_only() RETURNS trigger AS $$
BEGIN
    RAISE EXCEPTION 'the access journal is append-only: % refused', TG_OP
        USING ERRCODE = 'insufficient_privilege';
END $$ LANGUAGE plpgsql;
CREATE TRIGGER partners_audit_append_only
    BEFORE UPDATE OR DELETE ON partners_auditrecord
    FOR EACH ROW EXECUTE FUNCTION partners_audit_append_only();
"""
UNGUARD = """
DROP TRIGGER IF EXISTS partners_audit_append_only ON partners_auditrecord;
DROP FUNCTION IF EXISTS partners_audit_append_only();
"""


class Migration(migrations.Migration):
    dependencies = [("partners", "0003_audit_journal")]
    operations = [migrations.RunSQL(GUARD, UNGUARD)]
