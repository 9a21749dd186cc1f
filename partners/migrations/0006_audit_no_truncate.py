from django.db import migrations

# TRUNCATE fires no row trigger: without a statement-level one, the append-only guard of
# 0004 let `TRUNCATE partners_auditrecord` empty the journal in one statement. The journal's
# head gets the same treatment (its one row is updated, never deleted). A superuser can
# still switch triggers off: the anchors (partners/anchor.py) are what detect that.
GUARD = """
CREATE TRIGGER partners_audit_no_truncate
    BEFORE TRUNCATE ON partners_auditrecord
    FOR EACH STATEMENT EXECUTE FUNCTION partners_audit_append_only();
CREATE TRIGGER partners_audithead_no_delete
    BEFORE DELETE ON partners_audithead
    FOR EACH ROW EXECUTE FUNCTION partners_audit_append_only();
CREATE TRIGGER partners_audithead_no_truncate
    BEFORE TRUNCATE ON partners_audithead
    FOR EACH STATEMENT EXECUTE FUNCTION partners_audit_append_only();
"""
UNGUARD = """
DROP TRIGGER IF EXISTS partners_audit_no_truncate ON partners_auditrecord;
DROP TRIGGER IF EXISTS partners_audithead_no_delete ON partners_audithead;
DROP TRIGGER IF EXISTS partners_audithead_no_truncate ON partners_audithead;
"""


class Migration(migrations.Migration):
    dependencies = [("partners", "0005_sessions_recovery")]
    operations = [migrations.RunSQL(GUARD, UNGUARD)]
