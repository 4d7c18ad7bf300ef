"""Rasa's prediction graph run node after node, in an order worked out once per target.

Every message runs the model's graph twice (NLU, then the policies), and ``DaskGraphRunner``
does three things each time: it walks the schema's needs recursively to find the nodes a
target depends on (without remembering a node it has seen), builds a dask task graph from
them, and hands that to dask's synchronous scheduler, which orders the tasks, keeps
reference counts and calls each node. In the serving process that was about 6 % of Rasa's
CPU per web chat turn (issue 15's py-spy profile). The graph is fixed once the model is
loaded, so here the order of each target's nodes is worked out on first use and the nodes
are called in it: the same nodes, called once each with the same arguments (the outputs of
the nodes they need, or the run's inputs), the same results, Rasa's own errors.
Installed by nlu/rasa_run.py for the serving process; training keeps Rasa's runner.
"""
from __future__ import annotations

from typing import Any

from rasa.engine.exceptions import GraphRunError
from rasa.engine.runner.dask import DaskGraphRunner


class InOrderGraphRunner(DaskGraphRunner):
    """``DaskGraphRunner`` (its nodes, made the same way), run without dask."""

    def _order(self, targets: tuple[str, ...]) -> tuple[tuple[str, tuple[str, ...]], ...]:
        """(node, the names it needs) for every node ``targets`` depend on, each after the
        nodes it needs; worked out once per runner and targets."""
        orders = self.__dict__.setdefault("_orders", {})
        if targets not in orders:
            orders[targets] = self._work_out_order(targets)
        return orders[targets]

    def _work_out_order(self, targets: tuple[str, ...]) -> tuple[tuple[str, tuple[str, ...]], ...]:
        nodes = self._graph_schema.nodes
        ordered: dict[str, tuple[str, ...]] = {}

        def visit(name: str) -> None:
            if name in ordered or name not in nodes:  # done, or an input placeholder
                return
            needs = tuple(nodes[name].needs.values())
            for needed in needs:
                visit(needed)
            ordered[name] = needs

        for target in targets:
            visit(target)
        return tuple(ordered.items())

    def run(self, inputs: dict[str, Any] | None = None,
            targets: list[str] | None = None) -> dict[str, Any]:
        run_targets = list(targets) if targets else self._graph_schema.target_names
        order = self._order(tuple(run_targets))
        values: dict[str, Any] = {}
        for name, value in (inputs or {}).items():
            if isinstance(value, str) and any(value == node for node, _ in order):
                raise GraphRunError(
                    f"Input value '{value}' clashes with a node name. Make sure that none "
                    f"of the input names passed to the `run` method are the same as node "
                    f"names in the graph schema.")
            values[name] = (name, value)  # what a node is handed: (name, output)
        try:
            for node, needs in order:
                if node in values:
                    continue  # an input given under a node's name replaces it, as in dask
                # a name that is neither a node nor an input reaches the node as it is
                values[node] = self._instantiated_nodes[node](*(values.get(n, n)
                                                                for n in needs))
        except RuntimeError as error:
            raise GraphRunError("Error running runner.") from error
        # each output is (node name, value): Rasa's runner returns dict() of them
        return dict(values[target] for target in run_targets)


def install() -> None:
    import rasa.core.processor

    rasa.core.processor.DaskGraphRunner = InOrderGraphRunner
