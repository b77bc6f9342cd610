"""Seed 001's task mutations (``myapp/graphql.py``)."""

import time

import graphene

from rail_tasks_graphql import task_mutation


def fetch_data(dataset_id):
    time.sleep(0.3)
    return list(range(len(dataset_id) + 3))


def process_data(data):
    time.sleep(0.3)
    return sum(data)


def create_report(processed):
    time.sleep(0.3)
    return f"/reports/report-{processed}.pdf"


@task_mutation(name="generate_report", track_progress=True)
def generate_report(root, info, dataset_id: str):
    """
    Generate a report asynchronously.

    Args:
        dataset_id: The dataset identifier.

    Returns:
        Task result.
    """
    # Update progress
    info.context.task.update_progress(25, "Fetching data...")
    data = fetch_data(dataset_id)

    info.context.task.update_progress(50, "Processing...")
    processed = process_data(data)

    info.context.task.update_progress(75, "Generating file...")
    file_path = create_report(processed)

    info.context.task.update_progress(100, "Complete")
    return {"ok": True, "file_path": file_path}


@task_mutation(
    name="process_order",
    queue="orders",
    max_retries=5,
    retry_delay=60,
    timeout=300,
    track_progress=True,
)
def process_order(root, info, order_id: str):
    """
    Process an order asynchronously.
    """
    return {"ok": True, "status": "processed", "order_id": order_id}


class TaskMutations(graphene.ObjectType):
    generate_report = generate_report
    process_order = process_order
