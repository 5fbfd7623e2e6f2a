"""The embedded server's database backend: PostgreSQL's, plus a restart.

When a new connection fails (the server crashed, or someone stopped it), the server is
started again from its data directory (`embedded.start` takes the data directory's lock,
finds the stale postmaster.pid and starts a fresh postmaster; a server that is running is
reused as it is) and the connection is tried once more, on the socket and port the server
now has. If the failure was something else, the second attempt fails as the first did.

Requests in flight when the server died fail (500 `database_error`); a persistent
connection is replaced at the next request (CONN_HEALTH_CHECKS), and that new connection
is the one that restarts the server.
"""

from __future__ import annotations

import logging

from django.conf import settings
from django.db.backends.postgresql import base

from opshealth import embedded

logger = logging.getLogger(__name__)


class DatabaseWrapper(base.DatabaseWrapper):
    def get_new_connection(self, conn_params):
        try:
            return super().get_new_connection(conn_params)
        except base.Database.OperationalError as exc:
            logger.warning("embedded PostgreSQL unreachable (%s): starting it", type(exc).__name__)
            server = embedded.start(settings.OPSHEALTH_DATA_DIR)
        self.settings_dict.update(HOST=server.socket_dir, PORT=str(server.port))
        return super().get_new_connection({**conn_params, "host": server.socket_dir, "port": server.port})
