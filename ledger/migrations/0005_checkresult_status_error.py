"""CheckResult.status gains `error` (a data check that could not run): varchar(4) → (5).

PostgreSQL refuses to change the type of a column a view reads, so the reporting view
over check results is dropped and re-created around the change (the reporting role's default privileges cover the new one).
"""

from importlib import import_module

from django.db import migrations, models

VIEW = "ops_reporting.v1_check_results"
DEFINITION = import_module("ledger.migrations.0002_reporting_views").VIEWS["v1_check_results"]
CREATE = f"CREATE VIEW {VIEW} AS {DEFINITION.strip()};"
DROP = f"DROP VIEW IF EXISTS {VIEW};"


class Migration(migrations.Migration):
    dependencies = [("ledger", "0004_admin_token_scope")]

    operations = [
        migrations.RunSQL(DROP, reverse_sql=CREATE),
        migrations.AlterField(
            model_name="checkresult",
            name="status",
            field=models.CharField(
                choices=[("pass", "pass"), ("fail", "fail"), ("error", "error"), ("skip", "skip")],
                max_length=5,
            ),
        ),
        migrations.RunSQL(CREATE, reverse_sql=DROP),
    ]
