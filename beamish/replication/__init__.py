"""Owner-replicated state: one pure core that every replicated table of beamish rides on.

Each replica (one run of one server process on one node) *owns* its entries: only it
writes them. Every replica keeps a copy of every other's entries, learns their changes
from deltas and, after a loss or on first contact, from a transfer; it hides the entries
of a replica that went silent and forgets them after longer. This package is pure: no
event loop, no clock of its own (time is an argument), no I/O.
``beamish.cluster.Replicator`` ships it over the mesh.

>>> from beamish.replication import Replica, State
>>> alice, bob = State(Replica("a@h", 1)), State(Replica("b@h", 1))
>>> _ = bob.replica_up(alice.me)
>>> _ = alice.put(("room", "k"), {"online": True})
>>> delta, _ = alice.take_delta()
>>> [entry.value for entry in bob.merge(delta).diff.joins]
[{'online': True}]

Model
-----
- The state is ``{owner: (version, entries)}``. An owner's write bumps its version, so an
  owner's entries are a function of its version, and merging two copies keeps, per owner,
  the one with the higher version: a join-semilattice (commutative, associative,
  idempotent), property-tested in ``tests/replication``.
- Why not an observed-remove set with dot clouds (Phoenix.Tracker.State, DeltaCrdt)? Those
  let several writers add and remove one element concurrently. Here an element has one
  writer, its owner, so the causal context is one counter per owner: no dot cloud, no
  compaction, a delta applies in O(its size) and a gap is one comparison. The guarantees
  that matter (convergence under loss, duplication and reordering; deltas equal to full
  merges; deletions that do not come back) are the same.
- A :class:`Delta` holds the LAST change of each key an owner made in ``(start, end]``.
  A replica at version ``v`` applies it if ``start <= v < end``; if ``v >= end`` it is a
  duplicate (ignored); if ``v < start`` it is a *gap* (``Merged.gaps``): ask for a
  transfer, which sends a delta from the owner's change log or the owner's full state.
- Liveness is each replica's own view and is not replicated: ``replica_down`` hides an
  owner's entries (reported as leaves), ``replica_up`` shows them again (joins),
  ``replica_permdown`` deletes them. Updates from owners a replica does not know as up or
  down are ignored: a replica learns an owner from that owner's own heartbeat.
- A :class:`Replica` is ``(node, incarnation)``. A newer incarnation of a node (a restart)
  permanently downs the older one at once, and messages of the older one that arrive
  late are ignored: a restart is a new replica, never a resurrection. Incarnations are
  wall-clock microseconds (:func:`new_incarnation`).
- Diffs list leaves and joins; a changed value is both (apply leaves first).
- :class:`Gossip` is the protocol, as Phoenix.Tracker's shard: a heartbeat every
  ``broadcast_period`` carries the pending delta and the sender's clock (an empty one
  goes out after ``max_silent_periods`` quiet periods); a receiver behind the sender's
  clock, or with a gap, sends a ``transfer_req`` and gets a transfer; a peer silent for
  ``down_period`` is down, for ``permdown_period`` permanently down.
"""

from .._public import present_as as _present_as
from ._gossip import Gossip as Gossip
from ._gossip import ReplicationError as ReplicationError
from ._gossip import Step as Step
from ._gossip import clock_from_wire as clock_from_wire
from ._gossip import clock_to_wire as clock_to_wire
from ._gossip import delta_to_wire as delta_to_wire
from ._gossip import owner_state_to_wire as owner_state_to_wire
from ._gossip import update_from_wire as update_from_wire
from ._state import Delta as Delta
from ._state import Diff as Diff
from ._state import Entry as Entry
from ._state import Merged as Merged
from ._state import OwnerState as OwnerState
from ._state import Replica as Replica
from ._state import State as State
from ._state import Status as Status
from ._state import new_incarnation as new_incarnation
from ._state import no_diff as no_diff

_present_as(__name__, globals())
