"""Hypothesis drives cuts, claims and heals of a unique key across three nodes over the
in-memory network; whatever the sequence, once everything heals every node shows one
winner, the winner was never told, and every other claimer was told exactly once."""

import anyio
import pytest
from clusterkit import (
    Claimer,
    connect_all,
    nodes,
    on,
    start_registry,
    until_agreed,
    until_one_of,
    until_within,
)
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import beamish
from beamish.cluster.transports import MemoryNetwork
from beamish.testing import refute_receive

A, B, C = "a@test", "b@test", "c@test"
NODES = [A, B, C]

SPLITS = st.sampled_from(
    [[[A], [B, C]], [[B], [A, C]], [[C], [A, B]], [[A], [B], [C]]]
)
STEPS = st.lists(
    st.one_of(
        st.tuples(st.just("split"), SPLITS),
        st.tuples(st.just("claim"), st.sampled_from(NODES)),
        st.tuples(st.just("heal"), st.none()),
    ),
    min_size=1,
    max_size=6,
)


async def _claim(key):
    return await Claimer.start("reg", key)


async def _exits(pid):
    await refute_receive(timeout=0.2)
    return [exit.reason for exit in await beamish.call(pid, "exits")]


def _component_of(groups, node):
    return next(group for group in groups if node in group)


async def scenario(steps, silent):
    net = MemoryNetwork()
    async with nodes(net.transport, NODES, heartbeat=0.2) as started:  # silent: it notices
        await connect_all(started)
        await start_registry(started)
        groups = [NODES]
        claims = []  # (node, pid) in order; losers stay listed
        for op, arg in steps:
            if op == "split":
                net.heal()
                for i, group in enumerate(arg):
                    for other in arg[i + 1 :]:
                        net.partition_groups(group, other, silent=silent)
                groups = arg
                for group in groups:  # a side whose links an earlier cut broke meets again
                    await connect_all({n: started[n] for n in group})
                for node in NODES:
                    mine = {pid for n, pid in claims if n in _component_of(groups, node)}
                    await until_within({node: started[node]}, "k", mine)
            elif op == "claim":
                side = _component_of(groups, arg)
                if any(n in side for n, _ in claims):
                    continue  # the key is taken on this side: a claim would just fail
                pid = await on(started[arg][0], _claim, "k")
                claims.append((arg, pid))
                await until_one_of({n: started[n] for n in side}, "k", {pid})
            else:
                net.heal()
                groups = [NODES]
                await connect_all(started)
        net.heal()
        await connect_all(started)
        if not claims:
            return
        everyone = {pid for _, pid in claims}
        await until_one_of(started, "k", everyone)
        agreed = await until_agreed(started, "k")
        assert len(agreed) == 1, agreed
        assert agreed <= everyone, agreed
        [winner] = agreed
        for node, pid in claims:
            told = await on(started[node][0], _exits, pid)
            if pid == winner:
                assert told == []
            else:
                assert len(told) == 1, (node, told)
                assert told[0][:2] == ("name_conflict", "k")
                assert told[0][2] in everyone


@pytest.mark.timeout(300)
@settings(
    max_examples=12,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture],
)
@given(steps=STEPS, silent=st.booleans())
def test_any_sequence_of_cuts_claims_and_heals_ends_with_one_winner(steps, silent):
    """Any cuts, claims and heals end, after a full heal, with one winner everywhere and
    each loser told once."""
    anyio.run(scenario, steps, silent)
