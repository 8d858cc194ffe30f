"""gunicorn for Duban: `.venv/bin/gunicorn -c deploy/gunicorn.conf.py 'web:create_app()'`.

DUBAN_BIND (0.0.0.0:8000) and DUBAN_WORKERS (2 per core) set the address and the workers;
the workers never run the scheduler (run `duban scheduler` beside them). prometheus-client
counts in multiprocess mode: each worker writes its figures to files under
PROMETHEUS_MULTIPROC_DIR (a fresh temporary directory made at each start unless given), a
scrape of `/metrics` on any worker adds them all up, and a worker that exits is marked dead
so that its gauges go with it.
"""
import multiprocessing
import os
import tempfile

bind = os.environ.get("DUBAN_BIND", "0.0.0.0:8000")
workers = int(os.environ.get("DUBAN_WORKERS") or 2 * multiprocessing.cpu_count())
timeout = 60
graceful_timeout = 30
accesslog = "-"

if not os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
    os.environ["PROMETHEUS_MULTIPROC_DIR"] = tempfile.mkdtemp(prefix="duban-metrics-")


def child_exit(server, worker):
    from prometheus_client import multiprocess

    multiprocess.mark_process_dead(worker.pid)


def post_worker_init(worker):
    from engine import logs

    logs.configure()  # DUBAN_LOG_FORMAT=json: one JSON object a line, with the request id
