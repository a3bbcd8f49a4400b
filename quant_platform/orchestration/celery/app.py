"""The Celery app `qp worker` serves: dagster-celery's step task on the platform's Redis.

dagster-celery's own default app talks to RabbitMQ; the platform already runs Redis,
so the app is built here with QP_REDIS_URL as both broker and result backend, and
every Celery key under QP_REDIS_PREFIX (so several platforms share one Redis). The
module-level `app` is what `celery -A quant_platform.orchestration.celery.app` loads.
"""

from __future__ import annotations

from dagster_celery.make_app import make_app
from dagster_celery.tasks import create_task

from quant_platform.config import get_settings
from quant_platform.orchestration.celery.executor import transport_options

_settings = get_settings()
app = make_app({"broker": _settings.redis_url, "backend": _settings.redis_url})
app.conf.update(transport_options(_settings.redis_prefix, _settings.celery_visibility_timeout_s))
# One step reserved per worker process, acknowledged when it ends: steps spread over
# the workers instead of queueing behind one, and a step whose worker dies stays
# unacknowledged, so another worker gets it after the visibility timeout. With
# --pool prefork a child killed mid-step is rejected and requeued at once.
app.conf.update(
    worker_prefetch_multiplier=1,
    task_acks_late=True,
    task_reject_on_worker_lost=True,
)
execute_plan = create_task(app)
