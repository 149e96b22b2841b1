"""The Celery app the scale-out tests start workers on (``celery -A <this module>``).

Read from the environment the test sets for the worker: ``CK_SCALE_BROKER``
(the broker URL), ``CK_SCALE_QUEUE`` (a queue of the test's own, so nothing
else's messages reach it) and ``CK_SCALE_FACTORY`` (the kit factory, by
default the recorder of :mod:`tests.integration.scale_kits`).
"""

from __future__ import annotations

import os
from typing import Final

from celery import Celery

import campaignkit.celery

BROKER: Final = "CK_SCALE_BROKER"
QUEUE: Final = "CK_SCALE_QUEUE"
FACTORY: Final = "CK_SCALE_FACTORY"

app = Celery("campaignkit_tests", broker=os.environ.get(BROKER, "memory://"))
app.conf.task_default_queue = os.environ.get(QUEUE, "campaignkit-tests")
app.conf.broker_connection_retry_on_startup = True
shards = campaignkit.celery.register(
    app, os.environ.get(FACTORY, "tests.integration.scale_kits:make_recorder")
)
