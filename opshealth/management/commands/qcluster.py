"""`manage.py qcluster`: django-q2's cluster, stopping within 10 s of SIGTERM (opshealth/cluster.py).

This command shadows django-q2's (opshealth is listed before django_q in INSTALLED_APPS).
"""

import os

from django_q.management.commands import qcluster

from opshealth.cluster import PromptCluster


class Command(qcluster.Command):
    def handle(self, *args, **options):
        # As django-q2's command does, with the cluster that stops promptly.
        if options.get("cluster_name"):
            os.environ["Q_CLUSTER_NAME"] = options["cluster_name"]
        cluster = PromptCluster()
        cluster.start()
        if options.get("run_once"):
            cluster.stop()
