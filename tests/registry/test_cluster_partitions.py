"""Unique keys claimed on several sides of partitions, healed in stages and in any order:
afterwards every node shows one winner, chosen by the deterministic rule, and every other
claimer was told exactly once."""

import pytest
from clusterkit import Claimer, connect_all, nodes, on, start_registry, until_view, until_within

import beamish
from beamish.cluster.transports import MemoryNetwork
from beamish.testing import refute_receive

pytestmark = [pytest.mark.anyio, pytest.mark.timeout(60)]

A, B, C = "a@test", "b@test", "c@test"

# Each scenario: steps, then the node whose claim must win (equal Lamport stamps go to the
# smaller pid, and a@ < b@ < c@; a claim made after seeing a stamp gets a larger one).
SCENARIOS = {
    "two sides": ([("split", [[A], [B, C]]), ("claim", A), ("claim", B), ("heal", None)], A),
    "three islands, claims in reverse": (
        [("split", [[A], [B], [C]]), ("claim", C), ("claim", B), ("claim", A), ("heal", None)],
        A,
    ),
    "staged heal": (
        [
            ("split", [[A], [B], [C]]),
            ("claim", B),
            ("claim", C),
            ("claim", A),
            ("heal", [[A, C], [B]]),  # A and C meet first, B later
            ("agree", ([A, C], A)),
            ("heal", None),
        ],
        A,
    ),
    "a later claim loses to an earlier one": (
        [
            ("split", [[A], [B, C]]),
            ("claim", B),
            ("heal", None),
            ("split", [[A, B], [C]]),
            ("claim", C),  # C saw B's stamp before the cut: its claim is later
            ("heal", None),
        ],
        B,
    ),
}


@pytest.fixture
def anyio_backend():
    return "asyncio"


async def _claim(key):
    return await Claimer.start("reg", key)


async def _exits(pid):
    return [exit.reason for exit in await beamish.call(pid, "exits")]


async def _quiet_then_exits(pid):
    await refute_receive(timeout=0.3)
    return await _exits(pid)


def _components(groups):
    return {node: group for group in groups for node in group}


# cut: connections break at once; silent: only heartbeats notice, the mesh's (0.2 s, four
# ticks) and the replication's down period, and the mesh re-forms after the heal; silent,
# unnoticed: the mesh's heartbeat (15 s) never fires, and the healed connections carry
# data again
@pytest.mark.parametrize(
    ("silent", "heartbeat"),
    [(False, 0.2), (True, 0.2), (True, 15.0)],
    ids=["cut", "silent", "silent-unnoticed"],
)
@pytest.mark.parametrize("scenario", list(SCENARIOS))
async def test_partitions_heal_to_one_winner_and_each_loser_is_told_once(
    scenario, silent, heartbeat
):
    """Whatever the order of cuts, claims and heals, the end is one winner everywhere."""
    steps, expected = SCENARIOS[scenario]
    net = MemoryNetwork()
    async with nodes(net.transport, [A, B, C], heartbeat=heartbeat) as started:
        await connect_all(started)
        await start_registry(started)
        claims = {}
        for op, arg in steps:
            if op == "split":
                for i, group in enumerate(arg):
                    for other in arg[i + 1 :]:
                        net.partition_groups(group, other, silent=silent)
                component = _components(arg)
                # each side stops showing the other side's claims (the down period)
                for node in started:
                    visible = {claims[n] for n in component[node] if n in claims}
                    await until_within({node: started[node]}, "k", visible)
            elif op == "claim":
                claims[arg] = await on(started[arg][0], _claim, "k")
            elif op == "agree":
                group, holder = arg
                await until_view({n: started[n] for n in group}, "k", {claims[holder]})
            else:
                net.heal()
                groups = arg or [[A, B, C]]
                for i, group in enumerate(groups):
                    for other in groups[i + 1 :]:
                        net.partition_groups(group, other, silent=silent)
                for group in groups:
                    await connect_all({n: started[n] for n in group})
        winner = claims[expected]
        await until_view(started, "k", {winner})
        for node, pid in claims.items():
            told = await on(started[node][0], _quiet_then_exits, pid)
            if node == expected:
                assert told == []
            else:  # once; naming the claim that beat it where it was told (maybe not ours)
                assert len(told) == 1, (node, told)
                assert told[0][:2] == ("name_conflict", "k"), told
                assert told[0][2] in claims.values(), told
                assert told[0][2] != pid, told
