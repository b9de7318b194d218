"""The GitHub Actions workflows and the nightly wrapper script keep their contract.

The workflow files are parsed and checked for what operations rely on (schedule, inputs,
concurrency, secret handling, database hand-over, test matrix). The wrapper script is run for
real in a subprocess, with a stub standing in for the sync, to check its exit-code mapping.
"""

from __future__ import annotations

import configparser
import json
import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest
import yaml

ROOT = Path(__file__).resolve().parent.parent
WORKFLOWS = ROOT / ".github" / "workflows"
SYNC_WORKFLOW = WORKFLOWS / "sync-donations.yml"
TEST_WORKFLOW = WORKFLOWS / "test.yml"
NIGHTLY_SCRIPT = ROOT / ".github" / "scripts" / "nightly-sync.sh"


def load(path: Path) -> dict[Any, Any]:
    data = yaml.safe_load(path.read_text())
    assert isinstance(data, dict)
    return data


def triggers(workflow: dict[Any, Any]) -> dict[str, Any]:
    # YAML 1.1 (PyYAML) reads the bare key `on` as the boolean True.
    on = workflow.get("on", workflow.get(True))
    assert isinstance(on, dict), "the `on:` block should be a mapping"
    return dict(on)


def steps(workflow: dict[str, Any], job: str) -> list[dict[str, Any]]:
    return list(workflow["jobs"][job]["steps"])


def step_index(steps_: list[dict[str, Any]], predicate: Any, what: str) -> int:
    found = [i for i, step in enumerate(steps_) if predicate(step)]
    assert found, f"no step {what}"
    return found[0]


def uses(action: str) -> Any:
    return lambda step: str(step.get("uses", "")).startswith(f"{action}@")


def runs(fragment: str) -> Any:
    return lambda step: fragment in str(step.get("run", ""))


@pytest.fixture(scope="module")
def sync_wf() -> dict[str, Any]:
    return load(SYNC_WORKFLOW)


@pytest.fixture(scope="module")
def test_wf() -> dict[str, Any]:
    return load(TEST_WORKFLOW)


# --- sync-donations.yml ----------------------------------------------------------------------


def test_sync_runs_on_a_nightly_schedule(sync_wf: dict[str, Any]) -> None:
    schedule = triggers(sync_wf)["schedule"]
    assert len(schedule) == 1
    minute, hour, day, month, weekday = schedule[0]["cron"].split()
    assert (day, month, weekday) == ("*", "*", "*"), "once every day"
    # After the FEC's night, and before the 13:00-23:30 UTC window of long /schedules/ caching.
    assert minute.isdigit() and hour.isdigit()
    assert 6 <= int(hour) < 12


def test_sync_can_be_started_by_hand_with_cycles_and_full(sync_wf: dict[str, Any]) -> None:
    inputs = triggers(sync_wf)["workflow_dispatch"]["inputs"]
    assert inputs["cycles"]["type"] == "string"
    assert inputs["full"]["type"] == "boolean"
    assert inputs["full"]["default"] is False
    assert inputs["fresh"]["type"] == "boolean"


def test_sync_runs_never_overlap(sync_wf: dict[str, Any]) -> None:
    concurrency = sync_wf["concurrency"]
    assert concurrency["group"]
    assert "${{" not in concurrency["group"], "one fixed group: no two runs at all at once"
    assert concurrency["cancel-in-progress"] is False


def test_permissions_are_least_privilege(sync_wf: dict[str, Any], test_wf: dict[str, Any]) -> None:
    assert sync_wf["permissions"] == {}
    assert sync_wf["jobs"]["sync"]["permissions"] == {"contents": "read", "actions": "read"}
    assert test_wf["permissions"] == {}
    assert test_wf["jobs"]["test"]["permissions"] == {"contents": "read"}


@pytest.mark.parametrize("path", [SYNC_WORKFLOW, TEST_WORKFLOW], ids=lambda p: p.name)
def test_actions_are_pinned_and_checkout_keeps_no_credentials(path: Path) -> None:
    text = path.read_text()
    lines = [line for line in text.splitlines() if re.match(r"\s*(- )?uses:", line)]
    assert lines
    for line in lines:
        assert re.search(r"uses: [\w.-]+/[\w.-]+@[0-9a-f]{40} # v\d+\.\d+\.\d+$", line), line
    workflow = load(path)
    for job in workflow["jobs"].values():
        for step in job["steps"]:
            if uses("actions/checkout")(step):
                assert step["with"]["persist-credentials"] is False


@pytest.mark.parametrize("path", [SYNC_WORKFLOW, TEST_WORKFLOW], ids=lambda p: p.name)
def test_no_expression_is_expanded_inside_a_shell_script(path: Path) -> None:
    # Inputs, secrets and event data reach scripts through env: only (no template injection).
    for job in load(path)["jobs"].values():
        for step in job["steps"]:
            assert "${{" not in str(step.get("run", "")), step


def test_api_key_comes_from_the_secret_through_env(sync_wf: dict[str, Any]) -> None:
    sync_steps = steps(sync_wf, "sync")
    using_key = [s for s in sync_steps if "OPENFEC_API_KEY" in s.get("env", {})]
    assert len(using_key) == 1
    step = using_key[0]
    assert step["env"]["OPENFEC_API_KEY"] == "${{ secrets.OPENFEC_API_KEY }}"
    assert "nightly-sync.sh" in step["run"]
    assert "secrets." not in yaml.safe_dump(sync_wf["jobs"]["sync"].get("env", {}))


def test_database_is_restored_before_the_sync_and_always_saved(sync_wf: dict[str, Any]) -> None:
    job = sync_wf["jobs"]["sync"]
    sync_steps = steps(sync_wf, "sync")
    install = step_index(sync_steps, runs("make install"), "running make install")
    restore = step_index(sync_steps, uses("actions/download-artifact"), "restoring the database")
    sync = step_index(sync_steps, runs("nightly-sync.sh"), "running the sync")
    save = step_index(sync_steps, uses("actions/upload-artifact"), "saving the database")
    assert install < sync and restore < sync < save

    restore_with = sync_steps[restore]["with"]
    save_with = sync_steps[save]["with"]
    assert restore_with["name"] == save_with["name"] == job["env"]["ARTIFACT_NAME"]
    assert restore_with["run-id"] == "${{ steps.previous.outputs.run-id }}"
    assert restore_with["github-token"] == "${{ github.token }}"

    assert "always()" in sync_steps[save]["if"]
    db = job["env"]["DONATIONS_DB"]
    saved = save_with["path"].split()
    assert db in saved and f"{db}-wal" in saved
    assert job["env"]["SYNC_SUMMARY_FILE"] in saved
    assert Path(db).parent.as_posix() == restore_with["path"]


def test_sync_inputs_reach_the_script_through_env(sync_wf: dict[str, Any]) -> None:
    step = next(s for s in steps(sync_wf, "sync") if "nightly-sync.sh" in s.get("run", ""))
    assert "inputs.cycles" in step["env"]["SYNC_CYCLES"]
    assert step["env"]["SYNC_FULL"] == "${{ inputs.full }}"
    assert step["env"]["SYNC_MAX_WAIT"] == "${{ vars.SYNC_MAX_WAIT }}"  # empty: the default


# --- test.yml --------------------------------------------------------------------------------


def supported_pythons() -> list[str]:
    cfg = configparser.ConfigParser()
    cfg.read(ROOT / "setup.cfg")
    classifiers = cfg["metadata"]["classifiers"].split("\n")
    versions = [c.rsplit("::", 1)[1].strip() for c in classifiers
                if re.fullmatch(r"Programming Language :: Python :: 3\.\d+", c.strip())]
    assert versions
    return versions


def test_tests_run_on_push_and_pull_request(test_wf: dict[str, Any]) -> None:
    assert {"push", "pull_request"} <= set(triggers(test_wf))


def test_tests_lint_and_test_on_every_supported_python(test_wf: dict[str, Any]) -> None:
    job = test_wf["jobs"]["test"]
    assert job["strategy"]["matrix"]["python-version"] == supported_pythons()
    setup = next(s for s in job["steps"] if uses("actions/setup-python")(s))
    assert setup["with"]["python-version"] == "${{ matrix.python-version }}"
    commands = [s["run"].strip() for s in job["steps"] if "run" in s]
    assert commands == ["make install", "make lint", "make test"]


# --- nightly-sync.sh, run for real --------------------------------------------------------------

STUB = """\
import json, os, signal, sys, time
from pathlib import Path

with open(os.environ["STUB_ARGS_FILE"], "w") as f:
    json.dump(sys.argv[1:], f)
code = int(os.environ.get("STUB_EXIT", "0"))
ready = os.environ.get("STUB_READY_FILE")
if ready:
    received = []
    for signum in (signal.SIGINT, signal.SIGTERM):
        signal.signal(signum, lambda n, _frame: received.append(n))
    Path(ready).touch()
    deadline = time.monotonic() + 20
    while not received and time.monotonic() < deadline:
        time.sleep(0.01)
    code = {signal.SIGINT: 130, signal.SIGTERM: 143}.get(received[0], 1) if received else 1
print("sync progress goes to stderr", file=sys.stderr)
if not os.environ.get("STUB_SILENT"):
    print(json.dumps({"run_id": 7, "exit_code": code, "status": "stub"}))
sys.exit(code)
"""


class Nightly:
    def __init__(self, tmp_path: Path):
        self.tmp = tmp_path
        self.stub = tmp_path / "stub_sync.py"
        self.stub.write_text(STUB)
        self.args_file = tmp_path / "args.json"
        self.step_summary = tmp_path / "step_summary.md"
        self.summary_json = tmp_path / "data" / "sync-summary.json"

    def env(self, **extra: str) -> dict[str, str]:
        env = {k: v for k, v in os.environ.items()
               if not k.startswith(("GITHUB_", "SYNC_", "STUB_"))}
        env.update(SYNC_CMD=f"{sys.executable} {self.stub}",
                   STUB_ARGS_FILE=str(self.args_file),
                   GITHUB_STEP_SUMMARY=str(self.step_summary),
                   SYNC_SUMMARY_FILE=str(self.summary_json))
        env.update(extra)
        return env

    def run(self, **extra: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(["sh", str(NIGHTLY_SCRIPT)], env=self.env(**extra), cwd=self.tmp,
                              capture_output=True, text=True, timeout=60)

    def args(self) -> list[str]:
        result: list[str] = json.loads(self.args_file.read_text())
        return result


@pytest.fixture
def nightly(tmp_path: Path) -> Nightly:
    return Nightly(tmp_path)


@pytest.mark.parametrize(
    ("sync_exit", "script_exit"),
    [(0, 0), (75, 0), (1, 1), (2, 2), (130, 130), (143, 143)],
)
def test_exit_codes(nightly: Nightly, sync_exit: int, script_exit: int) -> None:
    proc = nightly.run(STUB_EXIT=str(sync_exit))
    assert proc.returncode == script_exit, proc.stderr
    if sync_exit == 75:
        assert "::notice" in proc.stdout
        assert "resumes" in proc.stdout
    else:
        assert "::notice" not in proc.stdout
    assert ("::error" in proc.stdout) is (script_exit != 0)

    summary = json.loads(nightly.summary_json.read_text())
    assert summary == {"run_id": 7, "exit_code": sync_exit, "status": "stub"}
    step_summary = nightly.step_summary.read_text()
    assert f"Exit code {sync_exit}" in step_summary
    assert nightly.summary_json.read_text().strip() in step_summary
    assert "sync progress goes to stderr" in proc.stderr


def test_step_summary_is_appended_to(nightly: Nightly) -> None:
    nightly.step_summary.write_text("Database restored from run 41.\n")
    assert nightly.run().returncode == 0
    text = nightly.step_summary.read_text()
    assert text.startswith("Database restored from run 41.\n")
    assert "## Donations sync" in text


def test_default_arguments(nightly: Nightly) -> None:
    assert nightly.run().returncode == 0
    assert nightly.args() == ["--batch-size", "100", "--max-wait", "3000", "--json"]


def test_cycles_and_full_become_flags(nightly: Nightly) -> None:
    proc = nightly.run(SYNC_CYCLES="2024, 2026,2022  2020", SYNC_FULL="true")
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert nightly.args() == ["--batch-size", "100", "--max-wait", "3000", "--json", "--cycle",
                              "2024", "--cycle", "2026", "--cycle", "2022", "--cycle", "2020",
                              "--full"]


def test_full_false_adds_nothing(nightly: Nightly) -> None:
    assert nightly.run(SYNC_FULL="false").returncode == 0
    assert "--full" not in nightly.args()


@pytest.mark.parametrize("cycles", ["2025", "24", "2024;rm", "*", "2024 abc"])
def test_bad_cycles_are_a_usage_error_before_any_sync(nightly: Nightly, cycles: str) -> None:
    proc = nightly.run(SYNC_CYCLES=cycles)
    assert proc.returncode == 2
    assert "::error::invalid cycle" in proc.stdout
    assert not nightly.args_file.exists()


def test_max_wait_can_be_set_and_must_be_seconds(nightly: Nightly) -> None:
    assert nightly.run(SYNC_MAX_WAIT="1200").returncode == 0
    assert nightly.args()[2:4] == ["--max-wait", "1200"]
    assert nightly.run(SYNC_MAX_WAIT="").returncode == 0  # an unset repository variable
    assert nightly.args()[2:4] == ["--max-wait", "3000"]
    nightly.args_file.unlink()
    proc = nightly.run(SYNC_MAX_WAIT="1h")
    assert proc.returncode == 2
    assert "::error::SYNC_MAX_WAIT must be a whole number of seconds, not '1h'" in proc.stdout
    assert not nightly.args_file.exists()


def test_the_nightly_wait_leaves_most_of_the_step_to_requests(
    sync_wf: dict[str, Any], nightly: Nightly
) -> None:
    # A 429's Retry-After has been seen up to 1,179 s: the job must be able to wait that out
    # twice, yet stop with 75 (a success) long before the step's timeout kills it (143).
    steps = sync_wf["jobs"]["sync"]["steps"]
    step_minutes = next(s["timeout-minutes"] for s in steps if s.get("id") == "sync")
    assert nightly.run().returncode == 0
    max_wait = int(nightly.args()[nightly.args().index("--max-wait") + 1])
    assert 2 * 1179 <= max_wait <= step_minutes * 60 / 2


def test_missing_json_summary_is_reported(nightly: Nightly) -> None:
    proc = nightly.run(STUB_EXIT="1", STUB_SILENT="1")
    assert proc.returncode == 1
    assert "printed no JSON summary" in nightly.step_summary.read_text()


def test_runs_without_a_step_summary(nightly: Nightly) -> None:
    env = nightly.env(STUB_EXIT="75")
    del env["GITHUB_STEP_SUMMARY"]
    proc = subprocess.run(["sh", str(NIGHTLY_SCRIPT)], env=env, cwd=nightly.tmp,
                          capture_output=True, text=True, timeout=60)
    assert proc.returncode == 0
    assert not nightly.step_summary.exists()
    assert json.loads(nightly.summary_json.read_text())["exit_code"] == 75


@pytest.mark.parametrize(("signum", "code"), [(signal.SIGTERM, 143), (signal.SIGINT, 130)])
def test_signals_are_passed_on_to_the_sync(nightly: Nightly, signum: int, code: int) -> None:
    # A cancelled or timed-out step signals the script only; the sync must still hear it.
    ready = nightly.tmp / "ready"
    # As on a runner, the script starts with SIGINT at its default: a suite started in the
    # background inherits it ignored, and a shell cannot trap a signal ignored on entry.
    with_default_sigint = [sys.executable, "-c", "import os, signal, sys; "
                           "signal.signal(signal.SIGINT, signal.SIG_DFL); "
                           "os.execvp(sys.argv[1], sys.argv[1:])"]
    proc = subprocess.Popen([*with_default_sigint, "sh", str(NIGHTLY_SCRIPT)],
                            env=nightly.env(STUB_READY_FILE=str(ready)), cwd=nightly.tmp,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        deadline = time.monotonic() + 20
        while not ready.exists() and time.monotonic() < deadline:
            time.sleep(0.01)
        assert ready.exists(), "the stub sync never started"
        proc.send_signal(signum)
        stdout, stderr = proc.communicate(timeout=30)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.communicate()
    assert proc.returncode == code, stdout + stderr
    assert json.loads(nightly.summary_json.read_text())["exit_code"] == code
    assert f"Exit code {code}" in nightly.step_summary.read_text()
