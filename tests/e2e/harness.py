"""The whole system on one machine: moto server, Terraform, the Lambda's event source mapping.

- `MotoServer`: moto (with tests/e2e/moto_patches.py) as a separate process on loopback, a free
  port, a PID file, its log kept in the work folder; stopped by PID, even on failure.
- `Terraform`: runs one terraform command at a time in a copy of envs/local, streaming every
  output line (apply progress is visible), against the emulator.
- `LambdaRuntime`: the packaged zip extracted to a folder and imported in a child process with
  the function's environment as Terraform configured it (GetFunctionConfiguration), the
  emulator's endpoint and the function role's credentials.
- `EventSourceMappingConsumer`: plays the Lambda SQS poller with the mapping's batch size,
  batching window and ReportBatchItemFailures, the queue's visibility timeout and its redrive
  policy (the queue moves a message to the DLQ after maxReceiveCount receives, as SQS does).
"""

from __future__ import annotations

import base64
import contextlib
import hashlib
import json
import os
import select
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.request
import zipfile
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TextIO

import boto3
from botocore.config import Config

REPO = Path(__file__).resolve().parents[2]
HUB_ACCOUNT = "123456789012"
HUB_REGION = "us-east-1"
SPOKE_REGION = "eu-west-1"
REGIONS = (HUB_REGION, SPOKE_REGION)
WORKLOAD_ACCOUNTS = ("111111111111", "222222222222")
#: credentials of the hub account in moto (any key that is not an assumed role's is the default
#: account, 123456789012)
HUB_CREDENTIALS = {"aws_access_key_id": "testing", "aws_secret_access_key": "testing"}
OPERATOR_ROLE = "OrganizationAccountAccessRole"
BOTO_CONFIG = Config(retries={"max_attempts": 2, "mode": "standard"}, connect_timeout=5)

Printer = Callable[[str], None]


def _print(line: str) -> None:
    print(line, flush=True)


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def clean_aws_env() -> dict[str, str]:
    """The process environment without any AWS setting that could point at a real account."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("AWS_", "MOTO_"))}
    env.update(
        AWS_ACCESS_KEY_ID=HUB_CREDENTIALS["aws_access_key_id"],
        AWS_SECRET_ACCESS_KEY=HUB_CREDENTIALS["aws_secret_access_key"],
        AWS_DEFAULT_REGION=HUB_REGION,
        AWS_EC2_METADATA_DISABLED="true",
    )
    return env


# ------------------------------------------------------------------------------- moto server


class MotoServer:
    """moto in server mode, with the project's patches, as a child process on loopback."""

    def __init__(
        self,
        workdir: Path,
        port: int | None = None,
        echo: Printer = _print,
        extra_env: Mapping[str, str] | None = None,
    ) -> None:
        self.workdir = workdir
        self.extra_env = dict(extra_env or {})
        self.port = port or free_port()
        self.echo = echo
        self.pid_file = workdir / "moto.pid"
        self.log_file = workdir / "moto.log"
        self.journal_file = workdir / "journal.jsonl"
        self._process: subprocess.Popen[bytes] | None = None

    @property
    def endpoint(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self, timeout: float = 30.0) -> None:
        self.workdir.mkdir(parents=True, exist_ok=True)
        stop_stale(self.pid_file, "tests.e2e.moto_server")
        env = clean_aws_env()
        env["MOTO_E2E_JOURNAL"] = str(self.journal_file)
        env.update(self.extra_env)
        self.journal_file.write_text("")
        with self.log_file.open("ab") as log:
            self._process = subprocess.Popen(
                [sys.executable, "-m", "tests.e2e.moto_server", "--port", str(self.port)],
                cwd=REPO,
                env=env,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        self.pid_file.write_text(str(self._process.pid))
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self._process.poll() is not None:
                raise RuntimeError(f"moto server exited; see {self.log_file}")
            with contextlib.suppress(OSError):
                urllib.request.urlopen(f"{self.endpoint}/moto-api/", timeout=1).close()  # noqa: S310
                self.echo(f"moto server up at {self.endpoint} (pid {self._process.pid})")
                return
            time.sleep(0.2)
        self.stop()
        raise RuntimeError(f"moto server did not answer within {timeout}s; see {self.log_file}")

    def stop(self) -> None:
        if self._process is None:
            return
        stop_pid(self._process.pid, self._process)
        self._process = None
        self.pid_file.unlink(missing_ok=True)

    def __enter__(self) -> MotoServer:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    # -- what the patched services journaled (never a password)
    def journal(self) -> list[dict[str, Any]]:
        if not self.journal_file.exists():
            return []
        return [json.loads(line) for line in self.journal_file.read_text().splitlines() if line]


def stop_pid(pid: int, process: subprocess.Popen[Any] | None = None, grace: float = 5.0) -> None:
    """SIGTERM the process (group leader), then SIGKILL after `grace` seconds."""
    with contextlib.suppress(ProcessLookupError):
        os.kill(pid, signal.SIGTERM)
    deadline = time.monotonic() + grace
    while time.monotonic() < deadline:
        if process is not None:
            if process.poll() is not None:
                return
        elif not Path(f"/proc/{pid}").exists():
            return
        time.sleep(0.1)
    with contextlib.suppress(ProcessLookupError):
        os.kill(pid, signal.SIGKILL)
    if process is not None:
        process.wait(timeout=5)


def stop_stale(pid_file: Path, marker: str) -> None:
    """Stop the process a previous, interrupted run left behind (only if it is ours)."""
    if not pid_file.exists():
        return
    with contextlib.suppress(ValueError, OSError):
        pid = int(pid_file.read_text().strip())
        cmdline = Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode()
        if marker in cmdline:
            stop_pid(pid)
    pid_file.unlink(missing_ok=True)


# ------------------------------------------------------------------------------- sessions


class Aws:
    """boto3 sessions on the emulator: the hub's own, or an operator role in another account."""

    def __init__(self, endpoint: str) -> None:
        self.endpoint = endpoint
        self._sessions: dict[str, boto3.Session] = {}
        self._clients: dict[tuple[str, str, str], Any] = {}

    def session(self, account: str = HUB_ACCOUNT) -> boto3.Session:
        if account not in self._sessions:
            if account == HUB_ACCOUNT:
                self._sessions[account] = boto3.Session(**HUB_CREDENTIALS, region_name=HUB_REGION)
            else:
                sts = self.client("sts", HUB_ACCOUNT, HUB_REGION)
                creds = sts.assume_role(
                    RoleArn=f"arn:aws:iam::{account}:role/{OPERATOR_ROLE}",
                    RoleSessionName="e2e-operator",
                )["Credentials"]
                self._sessions[account] = boto3.Session(
                    aws_access_key_id=creds["AccessKeyId"],
                    aws_secret_access_key=creds["SecretAccessKey"],
                    aws_session_token=creds["SessionToken"],
                    region_name=HUB_REGION,
                )
        return self._sessions[account]

    def client(self, service: str, account: str = HUB_ACCOUNT, region: str = HUB_REGION) -> Any:
        """One client per service, account and Region, built on first use (callers ask per
        instance and per poll; building a client costs more than the call it makes)."""
        key = (service, account, region)
        if key not in self._clients:
            self._clients[key] = self.session(account).client(
                service, region_name=region, endpoint_url=self.endpoint, config=BOTO_CONFIG
            )
        return self._clients[key]


# ------------------------------------------------------------------------------- terraform


class TerraformError(RuntimeError):
    pass


@dataclass
class Terraform:
    """terraform in a private copy of envs/local (modules and scripts linked), one run at a time.

    Output lines are streamed to `echo` with the elapsed seconds, so a long apply shows its
    progress resource by resource; everything is kept in `workdir/terraform.log` as well.
    """

    workdir: Path
    variables: Mapping[str, str]
    echo: Printer = _print
    env_dir: Path = field(init=False)

    def __post_init__(self) -> None:
        self.env_dir = self.workdir / "tree" / "envs" / "local"

    def prepare(self) -> None:
        tree = self.workdir / "tree"
        if tree.exists():
            shutil.rmtree(tree)
        (tree / "envs").mkdir(parents=True)
        for name in ("modules", "scripts", "build", "lambda"):
            if (REPO / name).exists():
                (tree / name).symlink_to(REPO / name)
        shutil.copytree(
            REPO / "envs" / "local",
            self.env_dir,
            ignore=shutil.ignore_patterns(".terraform", "terraform.tfstate*", "*.tfvars"),
        )

    def _env(self) -> dict[str, str]:
        env = clean_aws_env()
        env.update(TF_IN_AUTOMATION="1", CHECKPOINT_DISABLE="1")
        mirror = Path("/opt/tf-plugins/registry.terraform.io")
        if mirror.is_dir():
            env["TF_CLI_CONFIG_FILE"] = str(REPO / "tools" / "terraform.rc")
        for key, value in self.variables.items():
            env[f"TF_VAR_{key}"] = value
        return env

    def run(
        self, *args: str, ok_codes: Sequence[int] = (0,), quiet: bool = False, label: str = ""
    ) -> tuple[int, str]:
        command = ["terraform", f"-chdir={self.env_dir}", *args]
        start = time.monotonic()
        lines: list[str] = []
        with (self.workdir / "terraform.log").open("a", encoding="utf-8") as log:
            log.write(f"\n$ {' '.join(command)}\n")
            process = subprocess.Popen(
                command,
                env=self._env(),
                stdout=subprocess.PIPE,
                stderr=subprocess.STDOUT,
                text=True,
                bufsize=1,
            )
            assert process.stdout is not None
            for line in process.stdout:
                lines.append(line)
                log.write(line)
                if not quiet and line.strip():
                    self.echo(
                        f"  [{label or args[0]} {time.monotonic() - start:6.1f}s] {line.rstrip()}"
                    )
            code = process.wait()
        if code not in ok_codes:
            tail = "".join(lines[-40:])
            raise TerraformError(f"terraform {' '.join(args)} exited {code}:\n{tail}")
        return code, "".join(lines)

    def init(self) -> None:
        self.run("init", "-input=false", "-no-color", quiet=True)

    def apply(self) -> float:
        start = time.monotonic()
        self.run("apply", "-auto-approve", "-input=false", "-no-color", "-parallelism=20")
        return time.monotonic() - start

    def plan_exit_code(self) -> tuple[int, float, str]:
        """`plan -detailed-exitcode`: 0 no changes, 2 changes."""
        start = time.monotonic()
        code, out = self.run(
            "plan", "-detailed-exitcode", "-input=false", "-no-color", ok_codes=(0, 2), label="plan"
        )
        return code, time.monotonic() - start, out

    def destroy(self) -> float:
        start = time.monotonic()
        self.run("destroy", "-auto-approve", "-input=false", "-no-color", "-parallelism=20")
        return time.monotonic() - start

    def outputs(self) -> dict[str, Any]:
        _, out = self.run("output", "-json", quiet=True)
        return {k: v["value"] for k, v in json.loads(out).items()}

    def show_json(self) -> str:
        _, out = self.run("show", "-json", "-no-color", quiet=True)
        return out

    @property
    def state_file(self) -> Path:
        return self.env_dir / "terraform.tfstate"


# ------------------------------------------------------------------------------- lambda


class LambdaRuntime:
    """The function's package and environment, running as a child process (one container)."""

    def __init__(
        self,
        aws: Aws,
        function_name: str,
        zip_path: Path,
        workdir: Path,
        region: str = HUB_REGION,
        *,
        netns_pid: int | None = None,
        layer_zips: tuple[Path, ...] = (),
    ) -> None:
        self.netns_pid = netns_pid
        self.layer_zips = layer_zips  # local zips of the function's layers, found by hash
        self.layer_dir = workdir / "opt"
        self.aws = aws
        self.function_name = function_name
        self.zip_path = zip_path
        self.workdir = workdir
        self.region = region
        self.log_file = workdir / "lambda.log"
        self.requests_file = workdir / "aws-requests.jsonl"
        self.code_dir = workdir / "task"
        self.config: dict[str, Any] = {}
        self._process: subprocess.Popen[str] | None = None
        self._reply: TextIO | None = None

    def start(self) -> None:
        lam = self.aws.client("lambda", HUB_ACCOUNT, self.region)
        self.config = lam.get_function_configuration(FunctionName=self.function_name)
        if self.code_dir.exists():
            shutil.rmtree(self.code_dir)
        with zipfile.ZipFile(self.zip_path) as archive:
            archive.extractall(self.code_dir)
        layers = self._extract_layers(lam)
        assumed = self.aws.client("sts").assume_role(
            RoleArn=self.config["Role"], RoleSessionName=self.function_name
        )
        creds = assumed["Credentials"]
        # Lambda's own variables, not the test process's: a variable of the machine running the
        # tests (POWERTOOLS_LOG_LEVEL, LOG_LEVEL, PYTHONPATH, ...) must not change the function
        # (https://docs.aws.amazon.com/lambda/latest/dg/configuration-envvars.html#configuration-envvars-runtime)
        env = {k: v for k, v in os.environ.items() if k in ("PATH", "HOME", "SYSTEMROOT")}
        env.update(
            LANG="en_US.UTF-8",
            TZ=":UTC",
            AWS_EC2_METADATA_DISABLED="true",
            AWS_EXECUTION_ENV="AWS_Lambda_python3.11",
            LAMBDA_TASK_ROOT=str(self.code_dir),
            _HANDLER=self.config["Handler"],
        )
        env.update(self.config.get("Environment", {}).get("Variables", {}))
        env.update(
            AWS_ENDPOINT_URL=self.aws.endpoint,
            AWS_ACCESS_KEY_ID=creds["AccessKeyId"],
            AWS_SECRET_ACCESS_KEY=creds["SecretAccessKey"],
            AWS_SESSION_TOKEN=creds["SessionToken"],
            AWS_REGION=self.region,
            AWS_DEFAULT_REGION=self.region,
            AWS_LAMBDA_FUNCTION_NAME=self.function_name,
            AWS_LAMBDA_FUNCTION_MEMORY_SIZE=str(self.config.get("MemorySize", 128)),
            PYTHONUNBUFFERED="1",
            # every AWS request the function makes, for the permissions proof (tests/iam)
            ADJOIN_IAM_RECORD=str(self.requests_file),
            ADJOIN_IAM_PRINCIPAL=assumed["AssumedRoleUser"]["Arn"],
        )
        read_fd, write_fd = os.pipe()
        log = self.log_file.open("a", encoding="utf-8")
        # in another network namespace (one that reaches the domain controllers) if asked
        prefix = ["nsenter", "-t", str(self.netns_pid), "-n", "--"] if self.netns_pid else []
        self._process = subprocess.Popen(
            [
                *prefix,
                sys.executable,
                str(Path(__file__).with_name("lambda_runtime.py")),
                "--code-dir",
                str(self.code_dir),
                "--handler",
                self.config["Handler"],
                "--reply-fd",
                str(write_fd),
                *(["--layer-dir", str(self.layer_dir)] if layers else []),
            ],
            env=env,
            stdin=subprocess.PIPE,
            stdout=log,
            stderr=subprocess.STDOUT,
            text=True,
            pass_fds=(write_fd,),
            start_new_session=True,
        )
        log.close()
        os.close(write_fd)
        self._reply = os.fdopen(read_fd, "r", encoding="utf-8")
        hello = self._read(timeout=60)
        if not hello.get("ready") or not str(hello.get("origin", "")).startswith(
            str(self.code_dir)
        ):
            raise RuntimeError(f"Lambda runtime did not load the package: {hello}")
        powertools = str(hello.get("modules", {}).get("aws_lambda_powertools", ""))
        if layers and not powertools.startswith(str(self.layer_dir)):
            raise RuntimeError(f"Powertools did not come from the function's layer: {hello}")

    def _extract_layers(self, lam: Any) -> list[str]:
        """Extract the function's layers to layer_dir (/opt), in their order, as Lambda does:
        each layer ARN is matched to a local zip by the CodeSha256 the emulator reports."""
        if self.layer_dir.exists():
            shutil.rmtree(self.layer_dir)
        arns = [layer["Arn"] for layer in self.config.get("Layers", [])]
        by_hash = {
            base64.b64encode(hashlib.sha256(path.read_bytes()).digest()).decode(): path
            for path in self.layer_zips
        }
        for arn in arns:
            # arn:aws:lambda:<region>:<account>:layer:<name>:<version>; the emulator lacks
            # GetLayerVersionByArn, GetLayerVersion answers the same
            name, version = arn.split(":")[6:8]
            digest = lam.get_layer_version(LayerName=name, VersionNumber=int(version))["Content"][
                "CodeSha256"
            ]
            if digest not in by_hash:
                raise RuntimeError(f"no local zip of layer {arn} (CodeSha256 {digest})")
            with zipfile.ZipFile(by_hash[digest]) as archive:
                archive.extractall(self.layer_dir)
        return arns

    def _read(self, timeout: float) -> dict[str, Any]:
        assert self._reply is not None and self._process is not None
        ready, _, _ = select.select([self._reply], [], [], timeout)
        if not ready:
            raise TimeoutError(f"function did not answer within {timeout:.0f}s")
        line = self._reply.readline()
        if not line:
            raise RuntimeError(
                f"Lambda runtime exited ({self._process.poll()}); see {self.log_file}"
            )
        return dict(json.loads(line))

    def invoke(self, event: dict[str, Any]) -> dict[str, Any]:
        """Invoke once; `{"result": ...}` or `{"error": ...}` (timeout restarts the container)."""
        assert self._process is not None and self._process.stdin is not None
        timeout = float(self.config.get("Timeout", 3))
        context = {
            "function_name": self.function_name,
            "function_arn": self.config.get("FunctionArn", ""),
            "memory_mb": self.config.get("MemorySize", 128),
            "timeout_s": timeout,
        }
        self._process.stdin.write(json.dumps({"event": event, "context": context}) + "\n")
        self._process.stdin.flush()
        try:
            return self._read(timeout=timeout + 5)
        except TimeoutError as exc:
            self.stop()
            self.start()
            return {"error": f"Task timed out: {exc}"}

    def stop(self) -> None:
        if self._process is not None:
            if self._process.stdin:
                with contextlib.suppress(OSError):
                    self._process.stdin.close()
            with contextlib.suppress(subprocess.TimeoutExpired):
                self._process.wait(timeout=5)
            if self._process.poll() is None:
                stop_pid(self._process.pid, self._process)
            self._process = None
        if self._reply is not None:
            self._reply.close()
            self._reply = None

    def logs(self) -> str:
        return self.log_file.read_text(encoding="utf-8") if self.log_file.exists() else ""


# ------------------------------------------------------------------------------- consumer


@dataclass
class ReceivedMessage:
    at: float
    message_id: str
    body: str
    receive_count: int
    batch: int


@dataclass
class Batch:
    number: int
    at: float
    message_ids: list[str]
    failures: list[str]
    error: str | None
    seconds: float


class EventSourceMappingConsumer:
    """Plays the Lambda SQS event source mapping Terraform created for the function."""

    def __init__(self, aws: Aws, runtime: LambdaRuntime, region: str = HUB_REGION) -> None:
        self.aws = aws
        self.runtime = runtime
        self.region = region
        self.sqs = aws.client("sqs", HUB_ACCOUNT, region)
        lam = aws.client("lambda", HUB_ACCOUNT, region)
        function_arn = runtime.config["FunctionArn"]
        mappings = [
            m
            for m in lam.list_event_source_mappings()["EventSourceMappings"]
            if m.get("FunctionArn") == function_arn
        ]
        if len(mappings) != 1:
            raise RuntimeError(f"expected one event source mapping, found {len(mappings)}")
        self.mapping = mappings[0]
        if self.mapping.get("State") != "Enabled":
            # a disabled mapping does not poll: neither does its stand-in
            raise RuntimeError(f"event source mapping {self.mapping['UUID']} is not enabled")
        self.queue_arn = self.mapping["EventSourceArn"]
        _, _, _, _, owner, name = self.queue_arn.split(":")
        self.queue_url = self.sqs.get_queue_url(QueueName=name, QueueOwnerAWSAccountId=owner)[
            "QueueUrl"
        ]
        attrs = self.sqs.get_queue_attributes(QueueUrl=self.queue_url, AttributeNames=["All"])[
            "Attributes"
        ]
        self.queue_attributes = attrs
        self.batch_size = int(self.mapping.get("BatchSize", 10))
        self.window = float(self.mapping.get("MaximumBatchingWindowInSeconds", 0) or 0)
        self.report_failures = "ReportBatchItemFailures" in (
            self.mapping.get("FunctionResponseTypes") or []
        )
        self.visibility_timeout = int(attrs.get("VisibilityTimeout", 30))
        redrive = json.loads(attrs.get("RedrivePolicy", "{}") or "{}")
        self.max_receive_count = int(redrive.get("maxReceiveCount", 0))
        self.dlq_arn = redrive.get("deadLetterTargetArn", "")
        self.received: list[ReceivedMessage] = []
        self.batches: list[Batch] = []

    def describe(self) -> str:
        return (
            f"batch size {self.batch_size}, window {self.window:g}s, "
            f"ReportBatchItemFailures={self.report_failures}, visibility timeout "
            f"{self.visibility_timeout}s, maxReceiveCount {self.max_receive_count}, "
            f"delay {self.queue_attributes.get('DelaySeconds')}s"
        )

    def _receive(self, limit: int, wait: int) -> list[dict[str, Any]]:
        return list(
            self.sqs.receive_message(
                QueueUrl=self.queue_url,
                MaxNumberOfMessages=max(1, min(10, limit)),
                WaitTimeSeconds=wait,
                AttributeNames=["All"],
                MessageAttributeNames=["All"],
            ).get("Messages", [])
        )

    def _record(self, message: dict[str, Any]) -> dict[str, Any]:
        attrs = message.get("Attributes", {})
        return {
            "messageId": message["MessageId"],
            "receiptHandle": message["ReceiptHandle"],
            "body": message["Body"],
            "attributes": {
                "ApproximateReceiveCount": attrs.get("ApproximateReceiveCount", "1"),
                "SentTimestamp": attrs.get("SentTimestamp", ""),
                "SenderId": attrs.get("SenderId", ""),
                "ApproximateFirstReceiveTimestamp": attrs.get(
                    "ApproximateFirstReceiveTimestamp", ""
                ),
            },
            "messageAttributes": {
                name: {
                    "stringValue": value.get("StringValue"),
                    "dataType": value.get("DataType", "String"),
                    "stringListValues": [],
                    "binaryListValues": [],
                }
                for name, value in (message.get("MessageAttributes") or {}).items()
            },
            "md5OfBody": message.get("MD5OfBody", ""),
            "eventSource": "aws:sqs",
            "eventSourceARN": self.queue_arn,
            "awsRegion": self.region,
        }

    def poll_once(self, wait: int = 1) -> Batch | None:
        """Gather one batch (batch size or batching window, whichever first) and invoke."""
        messages = self._receive(self.batch_size, wait)
        if not messages:
            return None
        deadline = time.monotonic() + self.window
        while len(messages) < self.batch_size and time.monotonic() < deadline:
            more = self._receive(self.batch_size - len(messages), 0)
            if more:
                messages += more
            else:
                time.sleep(0.2)
        number = len(self.batches) + 1
        now = time.time()
        for m in messages:
            self.received.append(
                ReceivedMessage(
                    now,
                    m["MessageId"],
                    m["Body"],
                    int(m.get("Attributes", {}).get("ApproximateReceiveCount", "1")),
                    number,
                )
            )
        start = time.monotonic()
        answer = self.runtime.invoke({"Records": [self._record(m) for m in messages]})
        seconds = time.monotonic() - start
        ids = [m["MessageId"] for m in messages]
        if "error" in answer:
            # the whole batch comes back after the visibility timeout, as with Lambda
            batch = Batch(number, now, ids, ids, str(answer["error"]), seconds)
        else:
            result = answer.get("result") or {}
            failed = [
                str(f.get("itemIdentifier"))
                for f in (result.get("batchItemFailures") or [])
                if self.report_failures
            ]
            for m in messages:
                if m["MessageId"] not in failed:
                    self.sqs.delete_message(
                        QueueUrl=self.queue_url, ReceiptHandle=m["ReceiptHandle"]
                    )
            batch = Batch(number, now, ids, failed, None, seconds)
        self.batches.append(batch)
        return batch

    def run_until(
        self, done: Callable[[], bool], timeout: float, on_batch: Callable[[Batch], None]
    ) -> bool:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if done():
                return True
            batch = self.poll_once(wait=1)
            if batch is not None:
                on_batch(batch)
        return done()

    def queue_counts(self) -> dict[str, int]:
        attrs = self.sqs.get_queue_attributes(
            QueueUrl=self.queue_url,
            AttributeNames=[
                "ApproximateNumberOfMessages",
                "ApproximateNumberOfMessagesNotVisible",
                "ApproximateNumberOfMessagesDelayed",
            ],
        )["Attributes"]
        return {
            k.replace("ApproximateNumberOfMessages", "") or "Visible": int(v)
            for k, v in attrs.items()
        }


# ------------------------------------------------------------------------------- netns relay

_CLONE_NEWNET = 0x40000000


class NetnsRelay:
    """Makes 127.0.0.1:<port> inside another network namespace reach 127.0.0.1:<port> here.

    The listening socket is created by a thread that has joined the namespace (setns), so it
    lives there; connections are accepted and forwarded from this namespace's threads. It lets
    the Lambda runtime, running in a namespace that can reach the Samba DC, use the emulator
    at the same endpoint URL as everyone else. Stopped with the harness (daemon threads).
    """

    def __init__(self, netns_pid: int, port: int) -> None:
        self.netns_pid = netns_pid
        self.port = port
        self._listener: socket.socket | None = None
        self._error: BaseException | None = None

    def _listen_inside(self) -> None:
        import ctypes

        try:
            libc = ctypes.CDLL(None, use_errno=True)
            with open(f"/proc/{self.netns_pid}/ns/net", "rb") as ns:
                if libc.setns(ns.fileno(), _CLONE_NEWNET) != 0:
                    raise OSError(ctypes.get_errno(), "setns")
            listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
            listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            listener.bind(("127.0.0.1", self.port))
            listener.listen(64)
            self._listener = listener
        except BaseException as exc:
            self._error = exc

    def start(self) -> None:
        import threading

        joiner = threading.Thread(target=self._listen_inside, name="netns-listen")
        joiner.start()
        joiner.join()
        if self._error or self._listener is None:
            raise RuntimeError(f"cannot listen in netns of pid {self.netns_pid}: {self._error}")
        threading.Thread(target=self._accept, name="netns-accept", daemon=True).start()

    def _accept(self) -> None:
        import threading

        assert self._listener is not None
        while True:
            try:
                inside, _ = self._listener.accept()
            except OSError:
                return
            try:
                outside = socket.create_connection(("127.0.0.1", self.port), timeout=10)
                outside.settimeout(None)
            except OSError:
                inside.close()
                continue
            for a, b in ((inside, outside), (outside, inside)):
                threading.Thread(target=_pump, args=(a, b), daemon=True).start()

    def stop(self) -> None:
        if self._listener is not None:
            with contextlib.suppress(OSError):
                self._listener.shutdown(socket.SHUT_RDWR)
            with contextlib.suppress(OSError):
                self._listener.close()
            self._listener = None


def _pump(source: socket.socket, sink: socket.socket) -> None:
    try:
        while data := source.recv(65536):
            sink.sendall(data)
    except OSError:
        pass
    finally:
        for s in (source, sink):
            with contextlib.suppress(OSError):
                s.shutdown(socket.SHUT_RDWR)
