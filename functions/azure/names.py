"""Naming rules shared by the function app, host.json, the adapters and (by convention) Terraform.

Pure functions, no SDK: the module ``terraform/modules/azure-suite`` applies the same rules
(`<consumer>-events`, `<consumer>-events-poison`, tables ``metadataindex``/``idempotency``/
``orders``), and the tests check both sides against the catalog.
"""

from __future__ import annotations

import re

# App setting (or setting prefix) the queue triggers connect with. In Azure it is identity
# based (``AzureWebJobsStorage__accountName`` + ``__credential=managedidentity``); locally and
# against azurite it is a connection string.
STORAGE_CONNECTION = "AzureWebJobsStorage"

DEFAULT_TABLES = {"index": "metadataindex", "idempotency": "idempotency", "orders": "orders"}
INDEX_PARTITION = "images"

_QUEUE_NAME = re.compile(r"^[a-z0-9](?!.*--)[a-z0-9-]{1,61}[a-z0-9]$")
_FUNCTION_NAME = re.compile(r"^[A-Za-z][A-Za-z0-9_-]{0,127}$")


def queue_name(consumer: str) -> str:
    """The Storage queue that feeds ``consumer`` (Event Grid subscriptions write into it)."""
    return f"{consumer}-events"


def poison_queue_name(consumer: str) -> str:
    """Where the runtime (after maxDequeueCount) and our dead-letter sink park messages."""
    return f"{queue_name(consumer)}-poison"


def is_valid_queue_name(name: str) -> bool:
    """Azure Storage queue naming rules: 3-63 chars, lowercase letters, digits, single hyphens."""
    return bool(_QUEUE_NAME.match(name))


def is_valid_function_name(name: str) -> bool:
    """Azure Functions function-name rules."""
    return bool(_FUNCTION_NAME.match(name))


def timer_schedule(every_minutes: int) -> str:
    """The NCRONTAB expression (``{second} {minute} {hour} {day} {month} {day-of-week}``) of a
    timer that fires every ``every_minutes`` minutes, on the same marks every hour (or day).

    ``*/N`` restarts at every hour (or day) boundary, so only a divisor of 60 minutes, or a
    whole number of hours dividing 24, gives an even interval; anything else (7, 90) would
    silently leave a shorter gap at each boundary and is refused. Flex Consumption takes only
    NCRONTAB (a TimeSpan schedule needs an App Service plan).
    """
    if 1 <= every_minutes < 60 and 60 % every_minutes == 0:
        return f"0 */{every_minutes} * * * *"
    hours, rest = divmod(every_minutes, 60)
    if rest == 0 and hours == 24:
        return "0 0 0 * * *"
    if rest == 0 and 1 <= hours < 24 and 24 % hours == 0:
        return f"0 0 */{hours} * * *"
    raise ValueError(
        f"every {every_minutes} minutes cannot be an even NCRONTAB schedule: use a divisor of 60 "
        "minutes (1-30) or a whole number of hours dividing 24 (60, 120, 180, 240, 360, 480, "
        "720, 1440 minutes)"
    )


def route(path: str) -> str:
    """The HTTP trigger route for a catalog path (``/orders`` -> ``orders``)."""
    return path.strip("/")
