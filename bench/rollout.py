"""Benchmark: wall time of a team's image rollout on the process backend, against the ideal.

For each team size N (a leader and N-1 workers) and each ``maxUnavailable``
M: apply the team on image v1 and reconcile it until every member runs, apply
v2, reconcile (which creates the rollout), then time the rollout from its
first look to Done. Looks are made back to back by calling what the Celery
task ``advance_rollout`` calls, pausing ``--poll`` seconds between them (the
task's countdown, ``HICLAW_ROLLOUT_POLL_SECONDS``, in production). The save
timeout is 0 (no agent here acknowledges; its wait is not what is measured).
"Ready" is played by the bench: before every look it sends, for each new
instance that runs, a heartbeat authenticated with that instance's token
(the API's token check and heartbeat service, without HTTP) — what the
instance's agent sends first.

The ideal is ``ceil(N / M) x (start + ready + stop)``, the three measured per
member on the same backend before the rollout (create a spare instance and
wait until it runs; report once with its token; after a second, delete it),
median over 4 members.
Because the leader goes alone after every worker, the best any rollout can
do is ``(ceil((N-1) / M) + 1) x (start + ready + stop)``: printed too.

Run from the repository root::

    .venv/bin/python bench/rollout.py --database-url postgres://hiclaw:hiclaw@127.0.0.1:5432/hiclaw_bench
    .venv/bin/python bench/rollout.py --sizes 4 16 --max-unavailable 1 2 --runs 3
    .venv/bin/python bench/rollout.py --backend docker    # the test image tagged v1 and v2; dockerd must answer
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import math
import statistics
import tempfile
import time
import uuid
from pathlib import Path

from environment import DEFAULT_DATABASE_URL, configure, unwind_on_sigterm

V1, V2 = "bench/agent:v1", "bench/agent:v2"
STEADY_SECONDS = 1.0
SAMPLES = 4  # members whose start + ready + stop is measured


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[4, 16], help="members per team (leader included)")
    parser.add_argument("--max-unavailable", type=int, nargs="+", default=[1, 2])
    parser.add_argument("--runs", type=int, default=3, help="rollouts per combination (median reported)")
    parser.add_argument("--poll", type=float, default=0.05, help="seconds between two looks at the rollout")
    parser.add_argument("--database-url", default=DEFAULT_DATABASE_URL, help="PostgreSQL; created when missing")
    parser.add_argument("--backend", choices=("process", "docker"), default="process")
    args = parser.parse_args()

    unwind_on_sigterm()
    bench_id = f"bench{uuid.uuid4().hex[:6]}"
    docker_env = {
        "HICLAW_CONTROLLER_ID": bench_id,
        "HICLAW_RESOURCE_PREFIX": f"{bench_id}-",
        "HICLAW_DOCKER_NETWORK": f"{bench_id}-net",
    }
    with tempfile.TemporaryDirectory(prefix="hiclaw-bench-rollout-") as data_dir:
        configure(
            Path(data_dir),
            args.database_url,
            HICLAW_BACKEND=args.backend,
            HICLAW_CONTROLLER_URL="http://127.0.0.1:9",  # the agents report nowhere: the bench reports
            HICLAW_ROLLOUT_SAVE_TIMEOUT_SECONDS="0",
            HICLAW_STORAGE_URL=f"file://{data_dir}/storage",
            HICLAW_MATRIX_URL="",
            HICLAW_GATEWAY_URL="",
            **(docker_env if args.backend == "docker" else {}),
        )
        if args.backend == "docker":
            use_docker(docker_env["HICLAW_DOCKER_NETWORK"])
        from controller.connections import default_connections
        from hiclaw_site.celery import app

        # Reconciles and looks the apply queues go nowhere: this script makes them itself.
        app.conf.broker_url = "memory://localhost/"
        connections = default_connections()
        try:
            print("| members | maxUnavailable | rollout (median) | ideal | ratio | ideal, leader last | ratio |")
            print("|---|---|---|---|---|---|---|")
            for size in args.sizes:
                for max_unavailable in args.max_unavailable:
                    bench(connections, size, max_unavailable, args.runs, args.poll)
        finally:
            clean_up(connections)
            if args.backend == "docker":
                connections.backend.client.networks.get(docker_env["HICLAW_DOCKER_NETWORK"]).remove()


def use_docker(network: str) -> None:
    """The test image tagged twice as v1 and v2 (one image ID, two names), and the network."""
    import docker

    from tests.services.docker import TEST_IMAGE, _import_test_image

    global V1, V2
    client = docker.from_env(version="auto", timeout=30)
    if not client.images.list(name=TEST_IMAGE):
        _import_test_image(client)
    repository = TEST_IMAGE.split(":")[0]
    for tag in ("rollout-v1", "rollout-v2"):
        client.images.get(TEST_IMAGE).tag(repository, tag)
    V1, V2 = f"{repository}:rollout-v1", f"{repository}:rollout-v2"
    client.networks.create(network, driver="bridge", check_duplicate=True)


def bench(connections, size: int, max_unavailable: int, runs: int, poll: float) -> None:
    walls, members = [], []
    for run in range(runs):
        team = f"bench-{size}-{max_unavailable}-{run}"
        bring_up(connections, team, size, max_unavailable, V1)
        members.append(per_member(connections, team))
        walls.append(roll(connections, team, size, max_unavailable, poll))
        clean_up(connections)
    wall, member = statistics.median(walls), statistics.median(members)
    ideal = math.ceil(size / max_unavailable) * member
    leader_last = (math.ceil((size - 1) / max_unavailable) + 1) * member
    print(
        f"| {size} | {max_unavailable} | {wall:.2f} s | {ideal:.2f} s | {wall / ideal:.2f} "
        f"| {leader_last:.2f} s | {wall / leader_last:.2f} |",
        flush=True,
    )


def team_yaml(team: str, size: int, max_unavailable: int, image: str) -> str:
    workers = ", ".join(f"{{name: {team}-w{i}, model: qwen}}" for i in range(size - 1))
    return (
        f"apiVersion: hiclaw.io/v1beta1\nkind: Team\nmetadata: {{name: {team}}}\nspec:\n"
        f"  image: {image}\n  upgrade: {{maxUnavailable: {max_unavailable}}}\n  debug: {{enabled: false}}\n"
        f"  leader: {{name: {team}-lead, model: qwen, permissions: {{maxWorkers: {size}}}}}\n"
        f"  workers: [{workers}]\n"
    )


def converge(connections, team: str) -> None:
    from controller import reconcilers
    from controller.models import Worker

    for _ in range(3):
        for name in Worker.objects.filter(team__name=team).values_list("name", flat=True):
            reconcilers.reconcile("Worker", name, connections=connections)


def bring_up(connections, team: str, size: int, max_unavailable: int, image: str) -> None:
    from controller.services.apply import apply_text

    apply_text(team_yaml(team, size, max_unavailable, image))
    converge(connections, team)


def token_of(connections, instance: str) -> str:
    """The token the backend gave ``instance`` (its environment), as its agent reads it."""
    backend = connections.backend
    if backend.name == "docker":
        env = backend.client.containers.get(instance).attrs["Config"]["Env"]
        return next(line.split("=", 1)[1] for line in env if line.startswith("HICLAW_AGENT_TOKEN="))
    record = json.loads((backend.state_dir / instance / "instance.json").read_text())
    return record["spec"]["env"]["HICLAW_AGENT_TOKEN"]


def report(token: str) -> None:
    """What ``POST /api/v1/heartbeats`` does with the new instance's first heartbeat."""
    from controller.policy import principal_for_token
    from controller.services.heartbeats import apply_reports, parse_report

    principal = principal_for_token(token)
    assert principal is not None
    apply_reports([parse_report(principal.name, {"state": "idle"})])


def per_member(connections, team: str) -> float:
    """start + ready + stop of one member's instance, median over the team's members."""
    from controller.models import AgentToken, Worker
    from controller.reconcilers.worker import WorkerReconciler

    reconciler, backend, times = WorkerReconciler(connections), connections.backend, []
    for worker in Worker.objects.filter(team__name=team).order_by("name")[:SAMPLES]:
        name = f"{worker.current_instance}-spare"
        identity, _ = reconciler.identity(worker)
        token, clear = AgentToken.mint(identity, worker.name, team=team)
        spec = dataclasses.replace(reconciler.instance_spec(worker, name, token=clear), image=V2)
        began = time.perf_counter()
        backend.create(spec)
        while not backend.status(name).running:
            time.sleep(0.005)
        report(clear)
        started = time.perf_counter() - began
        # Stopped once settled, as a rollout stops an old instance that has run for a while
        # (a reference worker stops more slowly once in its heartbeat loop than at birth).
        time.sleep(STEADY_SECONDS)
        began = time.perf_counter()
        backend.delete(name)
        times.append(started + time.perf_counter() - began)
        token.revoke()
    return statistics.median(times)


def roll(connections, team: str, size: int, max_unavailable: int, poll: float) -> float:
    from controller.models import RolloutStep, Upgrade, UpgradeTarget
    from controller.reconcilers import rollout
    from controller.services.apply import apply_text

    apply_text(team_yaml(team, size, max_unavailable, V2))
    converge(connections, team)
    upgrade = Upgrade.objects.get(kind="rollout", team=team)
    began = time.perf_counter()
    reported: set[str] = set()
    while True:
        for target in UpgradeTarget.objects.filter(upgrade=upgrade, state="running", step=RolloutStep.STARTING):
            if target.new_instance not in reported and connections.backend.status(target.new_instance).running:
                report(token_of(connections, target.new_instance))
                reported.add(target.new_instance)
        if rollout.advance(upgrade.pk, connections) is None:
            break
        time.sleep(poll)
    wall = time.perf_counter() - began
    upgrade.refresh_from_db()
    assert (upgrade.state, upgrade.progress()) == ("Done", (size, size)), (upgrade.state, upgrade.message)
    return wall


def clean_up(connections) -> None:
    from controller.models import Team, Upgrade, Worker

    for info in connections.backend.list():
        connections.backend.delete(info.name)
    Upgrade.objects.filter(team__startswith="bench-").delete()
    Worker.objects.filter(team__name__startswith="bench-").delete()
    Team.objects.filter(name__startswith="bench-").delete()


if __name__ == "__main__":
    main()
