"""`ops_reporting.v2_latest_outcome_per_pipeline`: every pipeline with its latest outcome.

"A pipeline is failing" is its latest outcome (the newest success-or-failed run with a
start time; aborted and unfinished runs are no outcome), not its newest run:
`v1_latest_run_per_pipeline` keeps its meaning (a v1 view never changes) and this view
says the new rule. Its SQL is a frozen copy of `Pipeline.objects.with_latest_outcome()`
(migrations import no application code); tests/ledger/test_reporting.py checks that both
pick the same run on the same data.

Grants: the same as the v1 views'. The `reporting_role` command grants SELECT on every
view there, and its default privileges cover views that the same database user creates
later; a role set up by another user would miss this one, so the view is granted to
whoever may read `v1_latest_run_per_pipeline` as well.
"""

from django.db import migrations

VIEW = "ops_reporting.v2_latest_outcome_per_pipeline"

# An index probe per pipeline on ledger_run_pipe_started, reading back past unfinished
# and aborted runs to the newest outcome.
CREATE = f"""
CREATE VIEW {VIEW} AS
SELECT p.id AS pipeline_id,
       CASE WHEN p.namespace = '' THEN p.name ELSE p.namespace || '/' || p.name END AS pipeline,
       p.client_id, c.name AS client, p.owner,
       r.run_id, r.status, r.started_at, r.ended_at, r.duration_ms,
       r.error_type, r.error_message
FROM ledger_pipeline p
LEFT JOIN ledger_client c ON c.id = p.client_id
LEFT JOIN LATERAL (
    SELECT * FROM ledger_run lr
    WHERE lr.pipeline_id = p.id AND lr.status IN ('success', 'failed') AND lr.started_at IS NOT NULL
    ORDER BY lr.started_at DESC, lr.id DESC LIMIT 1
) r ON true
"""

# The owner's own privileges are not grants to copy; grantee 0 is PUBLIC.
GRANT = f"""
DO $$
DECLARE grantee text;
BEGIN
    FOR grantee IN
        SELECT CASE WHEN a.grantee = 0 THEN 'PUBLIC' ELSE a.grantee::regrole::text END
        FROM pg_class c, aclexplode(c.relacl) a
        WHERE c.oid = 'ops_reporting.v1_latest_run_per_pipeline'::regclass
          AND a.privilege_type = 'SELECT' AND a.grantee <> c.relowner
    LOOP
        EXECUTE format('GRANT SELECT ON {VIEW} TO %s', grantee);
    END LOOP;
END $$
"""


class Migration(migrations.Migration):
    dependencies = [("ledger", "0006_watermark_reset")]

    operations = [migrations.RunSQL([CREATE, GRANT], reverse_sql=[f"DROP VIEW IF EXISTS {VIEW}"])]
