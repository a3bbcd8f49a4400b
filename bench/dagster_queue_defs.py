"""Code location for bench_dagster_queue.py: one job with one trivial op.

The op does no work on purpose: the benchmark measures what the Dagster
daemon, its run queue, the default run launcher and the instance storage cost
per run, which every platform job pays on top of its own compute.
"""

from dagster import Definitions, OpExecutionContext, in_process_executor, job, op


@op
def touch(context: OpExecutionContext) -> str:
    return context.run_id


# in-process, as the platform's own Definitions (a subprocess per step would
# cost more than the step)
@job(executor_def=in_process_executor)
def queue_probe() -> None:
    touch()


defs = Definitions(jobs=[queue_probe])
