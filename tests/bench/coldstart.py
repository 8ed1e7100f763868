"""Cold start: import time of each cloud's entry point per role, against what the role needs.

For each (cloud, role) a fresh interpreter (``python -c``) measures the CPU time of the
imports (``process_time`` around them, so interpreter start-up is excluded, like "minus an
empty interpreter"; CPU rather than wall time because the benchmark machine is shared and
imports of cached files are pure CPU work; wall medians are kept in the JSON):

* **module load**: ``import <entry module>`` with ``EVENTSUITE_CONSUMER``/``EVENTSUITE_ENDPOINT``
  set, which is what the platform does at init;
* **first invocation**: module load + the composition the first invocation runs (the cloud's
  cached bootstrap, offline: every client is lazy, nothing is contacted) + the role's handler
  module from the catalog + the SDK modules the role's ports touch on the happy path (they are
  imported on first use anyway, so they are charged to both sides);
* **needs**: only the libraries the role truly needs: ``cloudevents`` (envelope) and
  ``fastjsonschema`` (validation), the platform runtime library (``functions_framework`` on
  Google Cloud, ``azure.functions`` on Azure; nothing on Lambda, whose runtime is already up),
  the SDKs of the ports it uses (below) and Pillow for image roles.

The ratio first invocation / needs shows wasted imports; the biggest ones (modules imported by
the entry point but not by "needs", by ``-X importtime`` self time) are named in the note.
Assert-style checks: order roles import no PIL; image roles import no Pub/Sub or Event Grid
client; no entry point imports another cloud's SDK.
"""

from __future__ import annotations

import contextlib
import json
import subprocess
import sys
import time
from collections import defaultdict
from collections.abc import Iterator
from typing import Any

from tests.bench.common import ROOT, Row, check, child_env, median, ms, not_available, verdict

RATIO_TARGET = 1.5
COMMON_NEEDS = ["cloudevents.http", "fastjsonschema"]
RUNTIME_NEEDS = {"aws": [], "gcp": ["functions_framework"], "azure": ["azure.functions"]}
# SDK module per port kind and cloud (what the adapters import when the port is first used).
PORT_SDK = {
    "aws": dict.fromkeys(
        ("objects", "idempotency", "index", "orders", "publisher", "secrets"), "boto3"
    ),
    "gcp": {
        "objects": "google.cloud.storage",
        "idempotency": "google.cloud.firestore",
        "index": "google.cloud.firestore",
        "orders": "google.cloud.firestore",
        "publisher": "google.cloud.pubsub",
        "secrets": None,
    },
    "azure": {
        "objects": "azure.storage.blob",
        "idempotency": "azure.data.tables",
        "index": "azure.data.tables",
        "orders": "azure.data.tables",
        "publisher": "azure.eventgrid",
        "secrets": None,
    },
}
# Ports each role touches on the happy path (mail goes through smtplib: standard library).
ROLE_PORTS = {
    "thumbnailer": ("objects", "idempotency"),
    "indexer": ("objects", "idempotency", "index"),
    "payments": ("idempotency", "orders", "publisher"),
    "notifier": ("idempotency",),
    "orders_api": ("orders", "publisher"),
    "payment_webhook": ("publisher", "secrets"),
}
GROUP_PORTS = {
    "images": ("objects", "idempotency", "index"),
    "orders": ("idempotency", "orders", "publisher"),
}
IMAGE_NEEDS = ["PIL.Image"]
# Libraries a role's handler imports on its first use, like the ports' SDKs: the JPEG engine.
ROLE_LIBRARIES = {"thumbnailer": ("pyvips",)}
# What every client of a cloud's SDK imports when it is built, beyond the SDK's own import.
# Azure's SDKs import their HTTP transport (azure-core's default, requests) only then, where
# boto3 and the Google clients import theirs with the SDK; and deployed, every Azure client
# authenticates with the managed identity (azure.identity: Terraform gives the functions no
# keys), which the offline environment's connection strings would otherwise skip.
CLIENT_LIBRARIES = {"aws": (), "gcp": (), "azure": ("requests", "azure.identity")}
ENTRY_MODULES = {
    "aws": ("functions.aws.entrypoint", ROOT / "functions/aws/entrypoint.py"),
    "gcp": ("functions.gcp.main", ROOT / "functions/gcp/main.py"),
    "azure": ("functions.azure.function_app", ROOT / "functions/azure/function_app.py"),
}
# What a first invocation composes, per cloud (no network: clients are lazy).
BOOTSTRAP = {
    ("aws", "consumer"): "import functions.aws.entrypoint as e; e.queue_function()",
    ("aws", "endpoint"): "import functions.aws.entrypoint as e; e.http_function()",
    ("gcp", "consumer"): (
        "from functions.gcp import bootstrap as b; b.runtime(f'consumer:{ROLE}').consumer(ROLE)"
    ),
    ("gcp", "endpoint"): (
        "from functions.gcp import bootstrap as b; b.runtime(f'endpoint:{ROLE}').endpoint(ROLE)"
    ),
    ("azure", "consumer"): "from functions.azure import bootstrap as b; b.runtime().consumer(ROLE)",
    ("azure", "endpoint"): "from functions.azure import bootstrap as b; b.runtime().endpoint(ROLE)",
}
FORBIDDEN_IMAGES = ("google.cloud.pubsub", "google.cloud.pubsub_v1", "azure.eventgrid")
OTHER_CLOUDS = {
    "aws": ("google.cloud", "azure.storage", "azure.functions", "azure.data"),
    "gcp": ("boto3", "botocore", "azure.storage", "azure.functions"),
    "azure": ("boto3", "botocore", "google.cloud"),
}
# Placeholder configuration: every address is local, and nothing is contacted at bootstrap.
OFFLINE_ENV = {
    "AWS_DEFAULT_REGION": "us-east-1",
    "AWS_REGION": "us-east-1",
    "AWS_ACCESS_KEY_ID": "bench",
    "AWS_SECRET_ACCESS_KEY": "bench",
    "AWS_EC2_METADATA_DISABLED": "true",
    "AWS_ENDPOINT_URL": "http://127.0.0.1:9",
    "GOOGLE_CLOUD_PROJECT": "bench",
    "GCE_METADATA_HOST": "127.0.0.1:9",
    "GCE_METADATA_IP": "127.0.0.1:9",
    "NO_GCE_CHECK": "True",
    "AzureWebJobsStorage": "UseDevelopmentStorage=true",
    "EVENTSUITE_UPLOADS_BUCKET": "bench-uploads",
    "EVENTSUITE_THUMBNAILS_BUCKET": "bench-thumbs",
    "EVENTSUITE_CLAIMS_BUCKET": "bench-claims",
    "EVENTSUITE_MAIL_FROM": "bench@example.test",
    "EVENTSUITE_MAILER": "smtp",
    "EVENTSUITE_SMTP_HOST": "127.0.0.1",
    "EVENTSUITE_SMTP_PORT": "9",
    "EVENTSUITE_WEBHOOK_SECRET": "whsec_bench",
    "EVENTSUITE_EVENT_BUS": "bench-bus",
    "EVENTSUITE_INDEX_TABLE": "bench-index",
    "EVENTSUITE_IDEMPOTENCY_TABLE": "bench-idempotency",
    "EVENTSUITE_ORDERS_TABLE": "bench-orders",
    "EVENTSUITE_DLQ_URL": "http://127.0.0.1:9/000000000000/bench-dlq",
    "EVENTSUITE_GCP_PROJECT": "bench",
    "EVENTSUITE_EVENTS_TOPIC": "bench-events",
    "EVENTSUITE_DEAD_LETTER_TOPIC": "bench-dlq",
    # https: the Storage SDKs refuse a token credential over http, even for a client that
    # never connects (clients are built when the function first binds its handler).
    "EVENTSUITE_STORAGE_BLOB_URL": "https://127.0.0.1:9/devstoreaccount1",
    "EVENTSUITE_STORAGE_QUEUE_URL": "https://127.0.0.1:9/devstoreaccount1",
    "EVENTSUITE_STORAGE_TABLE_URL": "https://127.0.0.1:9/devstoreaccount1",
    "EVENTSUITE_EVENTGRID_ENDPOINT": "http://127.0.0.1:9/api/events",
}

_ENTRY_CHILD = """
import importlib, json, sys, time
START = set(sys.modules)  # e.g. namespace packages a .pth file created at start-up
ROLE = {role!r}
c0, w0 = time.process_time(), time.perf_counter()
importlib.import_module({module!r})
c1, w1 = time.process_time(), time.perf_counter()
problem = None
try:
    exec({bootstrap!r})
except Exception as exc:
    problem = f"{{type(exc).__name__}}: {{exc}}"[:160]
for name in {handlers!r}:
    importlib.import_module(name)
loaded = sorted(set(sys.modules) - START)
for name in {sdks!r}:
    importlib.import_module(name)
c3, w3 = time.process_time(), time.perf_counter()
catalog = None
if "shared.catalog" in sys.modules:  # what building the catalog costs, imports excluded
    from shared.catalog import default_catalog
    default_catalog.cache_clear()
    c4 = time.process_time()
    default_catalog()
    catalog = time.process_time() - c4
print(json.dumps({{"module": c1 - c0, "total": c3 - c0, "wall_module": w1 - w0,
                  "wall_total": w3 - w0, "problem": problem, "loaded": loaded,
                  "all": sorted(set(sys.modules) - START), "start": sorted(START),
                  "catalog": catalog}}))
"""

_NEEDS_CHILD = """
import importlib, json, sys, time
START = set(sys.modules)
c0, w0 = time.process_time(), time.perf_counter()
for name in {needs!r}:
    importlib.import_module(name)
print(json.dumps({{"total": time.process_time() - c0, "wall_total": time.perf_counter() - w0,
                  "all": sorted(set(sys.modules) - START)}}))
"""


def _roles() -> list[tuple[str, str, str, str]]:
    """(kind, name, group, handler module) for every catalog consumer and endpoint."""
    from shared.catalog import default_catalog

    catalog = default_catalog()
    roles = [
        ("consumer", c.name, c.group, c.handler.partition(":")[0])
        for c in catalog.consumers.values()
    ]
    roles += [
        ("endpoint", e.name, e.group, e.handler.partition(":")[0])
        for e in catalog.endpoints.values()
    ]
    return roles


def needs_for(cloud: str, name: str, group: str) -> tuple[list[str], list[str]]:
    """(all modules the role needs, the SDK part of them)."""
    ports = ROLE_PORTS.get(name, GROUP_PORTS.get(group, ()))
    sdks: list[str] = []
    for port in ports:
        module = PORT_SDK[cloud].get(port)
        if module and module not in sdks:
            sdks.append(module)
    sdks += [*CLIENT_LIBRARIES[cloud], *ROLE_LIBRARIES.get(name, ())]
    needs = COMMON_NEEDS + RUNTIME_NEEDS[cloud] + sdks + (IMAGE_NEEDS if group == "images" else [])
    return needs, sdks


def _run(code: str, env: dict[str, str], importtime: bool = False) -> tuple[dict[str, Any], str]:
    args = [sys.executable] + (["-X", "importtime"] if importtime else []) + ["-c", code]
    completed = subprocess.run(
        args, cwd=ROOT, env=env, capture_output=True, text=True, timeout=120, check=False
    )
    if completed.returncode != 0:
        tail = completed.stderr.strip().splitlines()[-2:]
        raise RuntimeError(" | ".join(tail) or f"exit {completed.returncode}")
    return json.loads(completed.stdout.strip().splitlines()[-1]), completed.stderr


def _package(module: str) -> str:
    parts = module.split(".")
    depth = 3 if parts[0] in ("google", "azure") and len(parts) > 2 else 1
    if (
        parts[0] == "azure"
        and len(parts) > 1
        and parts[1] in ("functions", "eventgrid", "core", "identity")
    ):
        depth = 2
    return ".".join(parts[:depth])


def _importtime_by_package(stderr: str, exclude: set[str]) -> list[tuple[str, float]]:
    """Self import time per top-level package for modules not in ``exclude``."""
    totals: dict[str, float] = defaultdict(float)
    for line in stderr.splitlines():
        if not line.startswith("import time:") or "|" not in line:
            continue
        fields = [f.strip() for f in line[len("import time:") :].split("|")]
        if not fields[0].isdigit():
            continue
        name = fields[2].strip()
        if name in exclude:
            continue
        totals[_package(name)] += int(fields[0]) / 1e6
    return sorted(totals.items(), key=lambda item: -item[1])


def run(*, repeats: int, log: Any) -> list[Row]:
    """Measure every (cloud, role); return table rows."""
    rows: list[Row] = []
    roles = _roles()
    needs_cache: dict[tuple[str, ...], tuple[float, set[str]]] = {}
    # Roles whose imports are identical (same entry, bootstrap kind, handler module and SDKs)
    # are measured once, e.g. the two image consumers on AWS.
    measured: dict[tuple[Any, ...], tuple[list[dict[str, Any]], dict[str, Any], str, str]] = {}
    for cloud, (module, path) in ENTRY_MODULES.items():
        if not path.exists():
            rows.append(
                not_available(
                    "cold start",
                    f"{cloud}: {module}",
                    f"{path.relative_to(ROOT)} does not exist yet",
                )
            )
            continue
        for kind, name, group, handler in roles:
            role_env = child_env(
                **OFFLINE_ENV,
                **{"EVENTSUITE_CONSUMER" if kind == "consumer" else "EVENTSUITE_ENDPOINT": name},
            )
            # Both sides from bytecode, like the installed SDKs: with PYTHONDONTWRITEBYTECODE
            # set, only the suite's own modules would be compiled anew in every timed run (the
            # runtime-client rows below measure the zips as shipped, without .pyc).
            role_env.pop("PYTHONDONTWRITEBYTECODE", None)
            needs, sdks = needs_for(cloud, name, group)
            key = tuple(needs)
            case = f"{cloud}: {module} [{name}]"
            same = (cloud, kind, group, handler, tuple(sdks), key)
            entry_code = _ENTRY_CHILD.format(
                role=name,
                module=module,
                handlers=[handler],
                bootstrap=BOOTSTRAP[(cloud, kind)],
                sdks=sdks,
            )
            needs_code = _NEEDS_CHILD.format(needs=needs)
            try:
                if same in measured:
                    samples, profile, stderr, twin = measured[same]
                else:
                    log(f"cold start: {case}")
                    _run(entry_code, role_env)  # writes the bytecode caches
                    profile, stderr = _run(entry_code, role_env, importtime=True)
                    fresh = key not in needs_cache
                    if fresh:
                        _run(needs_code, role_env)
                    samples, needs_samples = [], []
                    for _ in range(repeats):  # interleaved: drifting load hits both sides
                        samples.append(_run(entry_code, role_env)[0])
                        if fresh:
                            needs_samples.append(_run(needs_code, role_env)[0])
                    if fresh:
                        needs_cache[key] = (
                            median([n["total"] for n in needs_samples]),
                            set(needs_samples[0]["all"]),
                        )
                    measured[same] = (samples, profile, stderr, name)
                    twin = name
                needs_time, needs_modules = needs_cache[key]
            except Exception as exc:
                rows.append(not_available("cold start", case, f"could not import: {exc}"))
                continue
            rows.extend(
                _rows(
                    cloud,
                    case,
                    group,
                    samples,
                    profile,
                    stderr,
                    needs,
                    needs_time,
                    needs_modules,
                    twin if twin != name else None,
                )
            )
    rows.extend(lambda_runtime_rows(repeats=repeats, log=log))
    return rows


def _rows(
    cloud: str,
    case: str,
    group: str,
    samples: list[dict[str, Any]],
    profile: dict[str, Any],
    stderr: str,
    needs: list[str],
    needs_time: float,
    needs_modules: set[str],
    twin: str | None,
) -> list[Row]:
    module_time = median([s["module"] for s in samples])
    total = median([s["total"] for s in samples])
    ratio = total / needs_time if needs_time else float("inf")
    by_package = _importtime_by_package(stderr, needs_modules | set(profile["start"]))
    wasted = [
        (p, t) for p, t in by_package if not p.startswith(("shared", "functions")) and t >= 0.002
    ][:4]
    ours = sum(t for p, t in by_package if p.startswith(("shared", "functions")))
    note = f"module load alone {ms(module_time)}; needs = {', '.join(needs)}"
    if twin:
        note = f"same imports as [{twin}], measured once; " + note
    if wasted:
        note += "; extra imports: " + ", ".join(f"{p} {t * 1000:.0f} ms" for p, t in wasted)
    note += f"; own modules {ours * 1000:.0f} ms (-X importtime)"
    catalog = median([s["catalog"] for s in samples if s.get("catalog") is not None] or [0.0])
    if catalog:
        note += f"; building the catalog {ms(catalog)} of it"
    if profile["problem"]:
        note += f"; bootstrap not run offline ({profile['problem']}), handler imported instead"
    rows = [
        Row(
            "cold start",
            case,
            "first-invocation imports vs needs",
            ms(total),
            f"needs {ms(needs_time)}",
            f"{ratio:.2f}x",
            f"<= {RATIO_TARGET:g}x",
            verdict(ratio <= RATIO_TARGET),
            note,
            data={"total_s": total, "module_s": module_time, "needs_s": needs_time},
        )
    ]
    loaded = profile["loaded"]
    problems = []
    if group == "orders":
        problems += [m for m in loaded if m == "PIL" or m.startswith("PIL.")][:1]
    if group == "images":
        problems += [m for m in loaded if m.startswith(FORBIDDEN_IMAGES)][:2]
    problems += [m for m in profile["all"] if m.startswith(OTHER_CLOUDS[cloud])][:2]
    rule = "imports no PIL" if group == "orders" else "imports no Pub/Sub / Event Grid client"
    rows.append(
        Row(
            "cold start",
            case,
            f"{rule}; no other cloud's SDK",
            "clean" if not problems else "imports " + ", ".join(problems),
            target="none imported",
            verdict=check(not problems),
            note="checked after entry + bootstrap + handler (before the role's SDKs)"
            if not problems
            else "",
        )
    )
    return rows


# -- the real runtime: first invocation under awslambdaric -------------------------------------

LAMBDA_ORDER = {
    "customer": {"email": "bench@example.com", "name": "Bench"},
    "currency": "EUR",
    "items": [{"sku": "tea", "quantity": 2, "unit_price_minor": 450}],
}
SCHEDULED_EVENT = {  # EventBridge Scheduler's input to a Lambda target
    "version": "0",
    "id": "e6f3c0b5-0000-4000-8000-000000000000",
    "detail-type": "Scheduled Event",
    "source": "aws.scheduler",
    "account": "123456789012",
    "time": "2026-12-07T12:00:00Z",
    "region": "us-east-1",
    "resources": ["arn:aws:scheduler:us-east-1:123456789012:schedule/default/bench"],
    "detail": "{}",
}


def lambda_runtime_rows(*, repeats: int, log: Any) -> list[Row]:
    """Per Lambda function: a fresh ``python3.12 -m awslambdaric <handler>`` process on the
    unzipped package (only the zip and the runtime's awslambdaric + boto3 on the path, wired
    from Terraform: tests/runtimes), against a local Runtime API and moto, and its first
    real-shaped event; time from process start to the first response = init (interpreter,
    runtime client, handler module) + the first event (ports built, clients created, the work
    done against moto). Measured with the zip as shipped and with precompiled bytecode."""
    import contextlib
    import tempfile
    from pathlib import Path

    from tests.integration.aws.test_lambda_runtime import PLANNED_SMTP
    from tests.runtimes import packages, wiring
    from tests.support import free_port

    case = "aws: awslambdaric (Runtime API + moto)"
    smtp_port = free_port()  # the plan names a fixed port (cached plan); `resolve` swaps it in
    try:
        # Not `wiring.load`: without terraform it skips a test; here the row says why.
        wirings = wiring.from_plan(
            "aws", wiring.planned("aws", {"mailer": "smtp", "smtp": PLANNED_SMTP})
        )
        (version,) = {w.python_version for w in wirings.values()}
        python = packages.find_python(version)
        if python is None:
            return [not_available("cold start", case, f"no Python {version} interpreter")]
        runtime_dir = packages.aws_runtime_dir(version)
        archives = {
            g: packages.aws_local_zip(g, version) for g in {w.group for w in wirings.values()}
        }
    except Exception as exc:  # PyPI not reachable, no runtime: say so, never a made-up number
        return [not_available("cold start", case, f"cannot build the runtime: {exc}")]
    samples: dict[tuple[str, str], list[tuple[float, float]]] = defaultdict(list)
    with contextlib.ExitStack() as stack:
        stack.enter_context(_bench_aws_env())
        work = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="coldstart-rt-")))
        deployment = stack.enter_context(
            _lambda_stack(wirings, python, runtime_dir, work, smtp_port, log)
        )
        variants = {}
        for variant, precompile in (("as shipped", None), ("precompiled", python)):
            roots = {
                g: packages.unzip(
                    a, work / variant.replace(" ", "-") / g, precompile_with=precompile
                )
                for g, a in archives.items()
            }
            stack.callback(lambda r=roots: [packages.make_writable(p) for p in r.values()])
            variants[variant] = roots
        order = list(variants)
        for repeat in range(repeats):  # interleaved, alternating: drifting load hits both
            for variant in order if repeat % 2 == 0 else order[::-1]:
                for name, seconds in deployment.first_invocations(variants[variant]).items():
                    samples[(name, variant)].append(seconds)
    return _lambda_rows(samples, sorted(wirings, key=lambda n: (wirings[n].kind, n)), wirings)


def _lambda_rows(
    samples: dict[tuple[str, str], list[tuple[float, float, float]]],
    names: list[str],
    wirings: Any,
) -> list[Row]:
    rows = []
    for name in names:
        shipped, compiled = samples[(name, "as shipped")], samples[(name, "precompiled")]
        total = median([t for t, _, _ in shipped])
        handler = median([h for _, h, _ in shipped])
        cpu = median([c for _, _, c in shipped])
        total_pyc = median([t for t, _, _ in compiled])
        cpu_pyc = median([c for _, _, c in compiled])
        ratio = total_pyc / total if total else float("inf")
        rows.append(
            Row(
                "cold start",
                f"aws: awslambdaric [{name}]",
                "first invocation under the runtime client (process start -> first response)",
                ms(total),
                f"precompiled {ms(total_pyc)}",
                f"{ratio:.2f}x",
                "",
                "n/a",
                f"init {ms(total - handler)} + first event {ms(handler)} (wall, median of "
                f"{len(shipped)}); CPU of the process {ms(cpu)}, precompiled {ms(cpu_pyc)}; "
                f"{wirings[name].group} zip, {wirings[name].memory_mb} MB",
                data={
                    "total_s": total,
                    "init_s": total - handler,
                    "first_event_s": handler,
                    "precompiled_total_s": total_pyc,
                    "cpu_s": cpu,
                    "precompiled_cpu_s": cpu_pyc,
                },
            )
        )
    # CPU, not wall time, decides: compiling is CPU work, and the machine is shared.
    shipped = sum(r.data["cpu_s"] for r in rows)
    compiled = sum(r.data["precompiled_cpu_s"] for r in rows)
    if rows:
        gain = compiled < shipped * 0.9  # a tenth: below that, the shared machine's noise
        rows.append(
            Row(
                "cold start",
                "aws: awslambdaric [every function]",
                "precompiled bytecode in the zip: CPU of the first invocations, summed",
                ms(compiled),
                f"as shipped {ms(shipped)}",
                f"{compiled / shipped:.2f}x",
                "< 0.90x to ship bytecode",
                "n/a",
                "the zips ship no .pyc (Lambda's /var/task is read-only, so each cold start "
                "compiles what it imports in memory); "
                + (
                    "below 0.90x: a gain worth shipping"
                    if gain
                    else "no gain beyond a tenth: not shipped (boto3 and botocore, most of "
                    "what a first event imports, come with the runtime's own bytecode)"
                ),
                data={"shipped_s": shipped, "precompiled_s": compiled},
            )
        )
    return rows


def _cpu_seconds(pid: int) -> float:
    """User + system CPU of a running process so far (Linux ``/proc``; 0 elsewhere)."""
    import os
    from pathlib import Path

    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return 0.0
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


@contextlib.contextmanager
def _bench_aws_env() -> Iterator[None]:
    """Fake credentials for the bench's own clients (never a real account)."""
    from tests.emulators import fake_aws_env

    with fake_aws_env():
        yield


class _LambdaBench:
    """The moto stack and one fresh process per function and event."""

    def __init__(
        self,
        wirings: Any,
        python: str,
        runtime_dir: Any,
        work: Any,
        moto_url: str,
        smtp_port: int,
    ) -> None:
        from functions.aws.clients import AwsClients
        from tests.integration.aws.conftest import unique_prefix
        from tests.integration.aws.topology import create_topology

        self.wirings, self.python, self.runtime_dir, self.work = wirings, python, runtime_dir, work
        self.moto_url = moto_url
        self.clients = AwsClients(region="us-east-1", endpoint_url=moto_url)
        self.topology = create_topology(
            self.clients, unique_prefix("cold"), visibility_timeout_seconds=30
        )
        self.secret, self.smtp_port = "whsec_bench", smtp_port
        self.secrets = {
            reference: self.clients.secretsmanager.create_secret(
                Name=f"{self.topology.names.prefix}-{name}", SecretString=value
            )["ARN"]
            for reference, name, value in (
                ("aws_secretsmanager_secret.webhook.arn", "webhook", self.secret),
                ("aws_secretsmanager_secret.smtp[0].arn", "smtp-password", "unused"),
            )
        }

    def _start(self, name: str, roots: dict[str, Any]) -> Any:
        from tests.emulators import FAKE_AWS_ENV
        from tests.integration.aws.test_lambda_runtime import resolve
        from tests.runtimes.lambda_api import LambdaProcess

        function = self.wirings[name]
        return LambdaProcess(
            python=self.python,
            task_root=roots[function.group],
            runtime_dir=self.runtime_dir,
            handler=function.handler,
            function_name=f"{self.topology.names.prefix}-{name}",
            environment={
                **FAKE_AWS_ENV,
                "AWS_ENDPOINT_URL": self.moto_url,
                **resolve(function, self.topology, self.secrets, self.smtp_port),
            },
            memory_mb=function.memory_mb,
            timeout_seconds=function.timeout_seconds or 3,
            python_version=function.python_version,
            log=self.work / f"{name}-{time.monotonic_ns()}.log",
        )

    def _first(
        self, name: str, roots: dict[str, Any], event: Any
    ) -> tuple[tuple[float, float, float], Any]:
        process = self._start(name, roots)
        try:
            outcome = process.invoke(event)
            total = time.perf_counter() - process.started
            cpu = _cpu_seconds(process.process.pid)
            answer = outcome.body
            failed = isinstance(answer, dict) and (
                int(answer.get("statusCode", 200)) >= 300 or answer.get("batchItemFailures")
            )
            if not outcome.ok or failed:  # a number only for the path the event should take
                raise RuntimeError(f"{name}: {answer}\n{process.output()[-2000:]}")
            return (total, outcome.seconds, cpu), outcome.body
        finally:
            process.close()

    def _queued(self, consumer: str) -> Any:
        from tests.integration.aws.harness import sqs_record

        url = self.topology.queue_urls[consumer]
        for _ in range(50):
            messages = self.clients.sqs.receive_message(
                QueueUrl=url, MaxNumberOfMessages=10, WaitTimeSeconds=0, AttributeNames=["All"]
            ).get("Messages", [])
            if messages:
                arn = self.topology.queue_arns[consumer]
                for m in messages:
                    self.clients.sqs.delete_message(QueueUrl=url, ReceiptHandle=m["ReceiptHandle"])
                return {"Records": [sqs_record(m, arn, "us-east-1") for m in messages]}
            time.sleep(0.05)
        raise RuntimeError(f"nothing reached the {consumer} queue")

    def first_invocations(self, roots: dict[str, Any]) -> dict[str, tuple[float, float, float]]:
        """Every function's first invocation, in the order the scenario produces events."""
        import uuid

        from functions.local import samples
        from shared.orders.webhooks import SIGNATURE_HEADER, sign
        from tests.integration.aws.test_lambda_runtime import api_request

        found = {}
        order = api_request("POST", "/orders", LAMBDA_ORDER)
        order["headers"]["idempotency-key"] = uuid.uuid4().hex
        found["orders_api"], placed = self._first("orders_api", roots, order)
        order_id = json.loads(placed["body"])["order_id"]
        status = api_request(
            "GET",
            f"/orders/{order_id}",
            route="/orders/{order_id}",
            path_parameters={"order_id": order_id},
        )
        found["order_status"], _ = self._first("order_status", roots, status)
        found["payments"], _ = self._first("payments", roots, self._queued("payments"))
        found["notifier"], _ = self._first("notifier", roots, self._queued("notifier"))
        refund = {
            "id": f"evt_{uuid.uuid4().hex}",
            "type": "payment.refunded",
            "data": {"order_id": order_id, "amount_minor": 900, "currency": "EUR"},
        }
        webhook = api_request("POST", "/webhooks/payments", refund)
        webhook["headers"][SIGNATURE_HEADER.lower()] = sign(
            webhook["body"].encode(), self.secret, int(time.time())
        )
        found["payment_webhook"], _ = self._first("payment_webhook", roots, webhook)
        self.clients.s3.put_object(
            Bucket=self.topology.names.buckets["uploads"],
            Key=f"uploads/bench-{uuid.uuid4().hex[:8]}.jpg",
            Body=samples.jpeg_with_exif((1600, 1200), orientation=1),
        )
        for consumer in ("thumbnailer", "indexer"):
            found[consumer], _ = self._first(consumer, roots, self._queued(consumer))
        found["order_reconciler"], _ = self._first("order_reconciler", roots, SCHEDULED_EVENT)
        for consumer in self.topology.queue_urls:  # what the refund announced: not measured
            while self._depth(consumer):
                self._queued(consumer)
        return found

    def _depth(self, consumer: str) -> int:
        attributes = self.clients.sqs.get_queue_attributes(
            QueueUrl=self.topology.queue_urls[consumer],
            AttributeNames=["ApproximateNumberOfMessages"],
        )["Attributes"]
        return int(attributes["ApproximateNumberOfMessages"])


@contextlib.contextmanager
def _lambda_stack(
    wirings: Any, python: str, runtime_dir: Any, work: Any, smtp_port: int, log: Any
) -> Iterator[_LambdaBench]:
    from aiosmtpd.controller import Controller
    from moto.server import ThreadedMotoServer

    from tests.emulators import OneDynamoDBRequestAtATime
    from tests.support import SmtpRecorder

    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    assert server._server is not None
    server._server.app = OneDynamoDBRequestAtATime(server._server.app)
    host, port = server.get_host_and_port()
    mail = Controller(SmtpRecorder(), hostname="127.0.0.1", port=smtp_port)
    mail.start()
    try:
        log("cold start: Lambda functions under awslambdaric")
        yield _LambdaBench(wirings, python, runtime_dir, work, f"http://{host}:{port}", smtp_port)
    finally:
        mail.stop()
        server.stop()


if __name__ == "__main__":  # a quick look: python -m tests.bench.coldstart
    for row in run(repeats=3, log=lambda m: print(m, file=sys.stderr)):
        print(row.case, row.metric, row.value, row.baseline, row.ratio, row.verdict, row.note)
