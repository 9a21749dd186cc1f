from django.db import migrations

# The recordings' models now belong to the recordings app (its migration 0001 takes them into its
# state, same tables): they leave streaming's state only; no table is touched.


class Migration(migrations.Migration):

    dependencies = [
        ('streaming', '0007_recorder_nodes'),
        ('recordings', '0001_initial'),
    ]

    operations = [
        migrations.SeparateDatabaseAndState(
            state_operations=[
                # Those that point at others first.
                migrations.DeleteModel(name='LegalHold'),
                migrations.DeleteModel(name='DestructionRecord'),
                migrations.DeleteModel(name='Snapshot'),
                migrations.DeleteModel(name='Requisition'),
                migrations.DeleteModel(name='RecordingSegment'),
                migrations.DeleteModel(name='RecordingPlan'),
            ],
            database_operations=[],
        ),
    ]
