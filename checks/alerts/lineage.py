"""Lineage-aware suppression: which incident an incident hangs under.

An incident on an object downstream (transitively, through the registry's edges) of an
object with an unresolved incident is attached to the nearest such incident (fewest
edges; the smaller incident id on a tie), so the inbox shows a tree: `raw.orders` →
`canon.orders` → the marts. Else, on an object of an unreachable source, it is attached
to that source's incident (or to none, with the reason alone).

One multi-source breadth-first walk from every object with an incident visits each
object and edge once. Objects upstream of each other (a loop) would hang under each
other: such a loop of attachments is broken at its oldest incident, which pages.
"""

from __future__ import annotations

from collections import defaultdict

from checks.alerts import queries


def suppressions(incident_objects: dict[int, int]) -> dict[int, tuple[int | None, str]]:
    """{incident id: object id} of the unresolved incidents on objects → {incident id:
    (suppressing incident id or None, reason)} for those that are suppressed."""
    roots: dict[int, tuple[int | None, str]] = {
        pk: (root, "upstream") for pk, root in nearest_upstream(incident_objects, queries.edges()).items()
    }
    unplaced = {pk: obj for pk, obj in incident_objects.items() if pk not in roots}
    if unplaced:
        for pk, root in queries.unreachable_roots(unplaced).items():
            roots[pk] = (root, "unreachable_source")
    return roots


def nearest_upstream(incident_objects: dict[int, int], edges: list[tuple[int, int]]) -> dict[int, int]:
    """{incident: object} and the (upstream, downstream) edges → {incident: the incident
    of its nearest strict ancestor object}."""
    by_object: dict[int, int] = {}  # an object's smallest incident id speaks for it
    for pk, obj in sorted(incident_objects.items()):
        by_object.setdefault(obj, pk)
    children = defaultdict(list)
    for up, down in edges:
        if up != down:
            children[up].append(down)
    label: dict[int, int] = {}  # object → the incident that reached it first
    frontier = sorted(((obj, pk) for obj, pk in by_object.items()), key=lambda item: item[1])
    expanded = set(by_object)  # the sources expand from the start, with their own incident
    while frontier:
        following = []
        for obj, root in frontier:
            for child in children[obj]:
                if child in label:
                    continue
                label[child] = root
                if child not in expanded:
                    expanded.add(child)
                    following.append((child, root))
        frontier = following
    attached = {pk: label[obj] for pk, obj in incident_objects.items() if obj in label}
    return _break_loops(attached)


def _break_loops(parent: dict[int, int]) -> dict[int, int]:
    """Each incident has at most one parent; a loop of parents loses its oldest member's."""
    parent = dict(parent)
    done: set[int] = set()
    for start in list(parent):
        path: list[int] = []
        seen: set[int] = set()
        node = start
        while node in parent and node not in done and node not in seen:
            seen.add(node)
            path.append(node)
            node = parent[node]
        if node in seen:  # a loop: from `node` around to itself
            loop = path[path.index(node) :]
            del parent[min(loop)]
        done.update(path)
    return parent
