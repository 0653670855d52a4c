"""Draw a state machine definition, optionally with the path one execution took.

Like the Step Functions console's graph view: states the execution visited are green, the state it
failed in is red, states it never reached are grey, and the transitions it took are bold with a
count when a loop ran them more than once.

Layout is Graphviz's (`dot`, via the `graphviz` package). Without the `dot` binary every render
falls back to `render_text`, so notebooks and reports still show the graph.
"""

from __future__ import annotations

import html
import json
import shutil
from collections import Counter
from dataclasses import dataclass, field
from typing import Any

TERMINAL_TYPES = ("Succeed", "Fail")
COLORS = {
    "succeeded": ("#e6f4ea", "#2e7d32"),
    "failed": ("#fdecea", "#c62828"),
    "caught": ("#fff4e5", "#ef6c00"),
    "running": ("#e3f2fd", "#1565c0"),
    "idle": ("#f5f5f5", "#9e9e9e"),
    "plain": ("#ffffff", "#424242"),
}


@dataclass(frozen=True)
class Edge:
    source: str
    target: str
    kind: str  # "next" | "choice" | "default" | "catch"
    label: str = ""


@dataclass
class StateGraph:
    start: str
    states: dict[str, dict[str, Any]]  # name -> state definition (top level and nested, by name)
    edges: list[Edge]
    parents: dict[str, str] = field(default_factory=dict)  # nested state -> its Map/Parallel


@dataclass
class Overlay:
    """What one execution did, read from its history events."""

    visits: Counter = field(default_factory=Counter)
    transitions: Counter = field(default_factory=Counter)
    caught: Counter = field(default_factory=Counter)  # transitions taken through a Catch
    failed_state: str | None = None
    caught_states: set[str] = field(default_factory=set)
    running_state: str | None = None
    status: str = "RUNNING"

    def state_status(self, name: str) -> str:
        if name == self.failed_state:
            return "failed"
        if name == self.running_state:
            return "running"
        if name in self.caught_states:
            return "caught"
        return "succeeded" if self.visits[name] else "idle"


def _load(definition: dict | str) -> dict:
    return json.loads(definition) if isinstance(definition, str) else definition


def build_graph(definition: dict | str) -> StateGraph:
    """Nodes and labelled edges of a definition, nested Parallel branches and Maps included."""
    machine = _load(definition)
    states: dict[str, dict] = {}
    edges: list[Edge] = []
    parents: dict[str, str] = {}

    def walk(block: dict, parent: str | None) -> None:
        for name, state in block.get("States", {}).items():
            states[name] = state
            if parent:
                parents[name] = parent
            if "Next" in state:
                edges.append(Edge(name, state["Next"], "next"))
            for i, rule in enumerate(state.get("Choices", []), start=1):
                if "Next" in rule:
                    edges.append(Edge(name, rule["Next"], "choice", _rule_label(rule, i)))
            if "Default" in state:
                edges.append(Edge(name, state["Default"], "default", "default"))
            for catcher in state.get("Catch", []):
                label = "catch " + ",".join(catcher.get("ErrorEquals", []))
                edges.append(Edge(name, catcher["Next"], "catch", label))
            for branch in state.get("Branches", []):
                walk(branch, name)
            processor = state.get("ItemProcessor") or state.get("Iterator")
            if processor:
                walk(processor, name)

    walk(machine, None)
    return StateGraph(machine.get("StartAt", ""), states, edges, parents)


def _rule_label(rule: dict, index: int) -> str:
    if "Condition" in rule:
        text = str(rule["Condition"]).strip("{}% ")
    else:
        text = _describe_rule(rule)
    return text if len(text) <= 48 else text[:45] + "..."


def _describe_rule(rule: dict) -> str:
    for combinator, joiner in (("And", " and "), ("Or", " or ")):
        if combinator in rule:
            return joiner.join(_describe_rule(r) for r in rule[combinator])
    if "Not" in rule:
        return "not " + _describe_rule(rule["Not"])
    variable = str(rule.get("Variable", "")).removeprefix("$.")
    for key, value in rule.items():
        if key not in ("Variable", "Next", "Comment", "Assign", "Output"):
            symbol = _OPERATORS.get(key.removesuffix("Path"), key)
            return f"{variable} {symbol} {value}"
    return variable


_OPERATORS = {
    **{f"{kind}Equals": "==" for kind in ("String", "Numeric", "Boolean", "Timestamp")},
    **{f"{kind}LessThan": "<" for kind in ("String", "Numeric", "Timestamp")},
    **{f"{kind}GreaterThan": ">" for kind in ("String", "Numeric", "Timestamp")},
    **{f"{kind}LessThanEquals": "<=" for kind in ("String", "Numeric", "Timestamp")},
    **{f"{kind}GreaterThanEquals": ">=" for kind in ("String", "Numeric", "Timestamp")},
    "StringMatches": "matches",
}


def overlay_from_history(events: list[dict]) -> Overlay:
    """Visits, transitions and the failed state, from get_execution_history-shaped events."""
    overlay = Overlay()
    previous: str | None = None
    open_states: list[str] = []
    last_failed_task: str | None = None
    for event in events:
        kind = event.get("type", "")
        if kind.endswith("StateEntered"):
            name = event["stateEnteredEventDetails"]["name"]
            overlay.visits[name] += 1
            if previous is not None:
                overlay.transitions[(previous, name)] += 1
            if last_failed_task and last_failed_task != name:
                overlay.caught_states.add(last_failed_task)
                if previous == last_failed_task:
                    overlay.caught[(previous, name)] += 1
                last_failed_task = None
            previous = name
            open_states.append(name)
        elif kind.endswith("StateExited"):
            name = event["stateExitedEventDetails"]["name"]
            if name in open_states:
                open_states.remove(name)
        elif kind in (
            "TaskFailed",
            "LambdaFunctionFailed",
            "TaskTimedOut",
            "LambdaFunctionTimedOut",
        ):
            last_failed_task = open_states[-1] if open_states else None
        elif kind in ("TaskScheduled", "LambdaFunctionScheduled", "TaskSucceeded"):
            last_failed_task = None  # a retry started, or the attempt succeeded
        elif kind in ("ExecutionSucceeded",):
            overlay.status = "SUCCEEDED"
        elif kind in ("ExecutionFailed", "ExecutionTimedOut", "ExecutionAborted"):
            overlay.status = kind.removeprefix("Execution").upper().replace("TIMEDOUT", "TIMED_OUT")
            if open_states:
                overlay.failed_state = open_states[-1]
            elif previous and _is_fail_state(events, previous):
                overlay.failed_state = previous
        elif kind == "ExecutionRedriven":
            overlay.failed_state = None
            overlay.status = "RUNNING"
    if overlay.status == "RUNNING" and open_states:
        overlay.running_state = open_states[-1]
    return overlay


def _is_fail_state(events: list[dict], name: str) -> bool:
    # A Fail state's exit is never recorded; the execution fails "in" it.
    return not any(
        e.get("type", "").endswith("StateExited") and e["stateExitedEventDetails"]["name"] == name
        for e in events[-3:]
    )


def dot_available() -> bool:
    return shutil.which("dot") is not None


def to_dot(definition: dict | str, history: list[dict] | None = None, *, title: str = ""):
    """A graphviz.Digraph of the definition, coloured by the execution's history when given."""
    import graphviz

    graph = build_graph(definition)
    overlay = overlay_from_history(history) if history is not None else None
    dot = graphviz.Digraph("state_machine", graph_attr={"rankdir": "TB", "fontname": "Helvetica"})
    dot.attr("node", shape="box", style="rounded,filled", fontname="Helvetica", fontsize="11")
    dot.attr("edge", fontname="Helvetica", fontsize="9")
    if title:
        dot.attr(label=title, labelloc="t", fontsize="14")
    dot.node(
        "__start",
        "Start",
        shape="circle",
        style="filled",
        fillcolor="#424242",
        fontcolor="white",
        fontsize="9",
    )
    dot.edge("__start", graph.start)
    clusters: dict[str, Any] = {}
    for name, state in graph.states.items():
        status = overlay.state_status(name) if overlay else "plain"
        fill, line = COLORS[status]
        label = f"{name}\n«{state.get('Type', '?')}»"
        if overlay and overlay.visits[name] > 1:
            label += f"  ×{overlay.visits[name]}"
        shape = "diamond" if state.get("Type") == "Choice" else "box"
        target = dot
        parent = graph.parents.get(name)
        if parent:
            target = clusters.setdefault(parent, graphviz.Digraph(f"cluster_{parent}"))
            target.attr(label=f"{parent} (inner)", style="dashed", color="#9e9e9e")
        target.node(
            name,
            label,
            fillcolor=fill,
            color=line,
            shape=shape,
            penwidth="2" if status != "idle" else "1",
        )
        if state.get("End") or state.get("Type") in TERMINAL_TYPES:
            end = f"__end_{name}"
            target.node(
                end, "", shape="doublecircle", width="0.15", style="filled", fillcolor="#424242"
            )
            target.edge(name, end)
    for cluster in clusters.values():
        dot.subgraph(cluster)
    for edge in graph.edges:
        taken = _taken(overlay, edge) if overlay else 0
        attrs = {"label": edge.label}
        if edge.kind == "catch":
            attrs.update(style="dashed", color="#ef6c00")
        if taken:
            attrs.update(color="#2e7d32", penwidth="2.5")
            if taken > 1:
                attrs["label"] = (edge.label + f"  ×{taken}").strip()
        elif overlay:
            attrs.setdefault("color", "#bdbdbd")
        dot.edge(edge.source, edge.target, **attrs)
    return dot


def _taken(overlay: Overlay, edge: Edge) -> int:
    """How often the execution took this edge; a Catch edge only counts caught transitions."""
    pair = (edge.source, edge.target)
    if edge.kind == "catch":
        return overlay.caught[pair]
    return overlay.transitions[pair] - overlay.caught[pair]


def render_text(definition: dict | str, history: list[dict] | None = None) -> str:
    """A plain-text rendering, used when Graphviz is absent: one line per state and its exits."""
    graph = build_graph(definition)
    overlay = overlay_from_history(history) if history is not None else None
    marks = {
        "succeeded": "✔",
        "failed": "✘",
        "caught": "!",
        "running": "▶",
        "idle": "·",
        "plain": " ",
    }
    outgoing: dict[str, list[Edge]] = {}
    for edge in graph.edges:
        outgoing.setdefault(edge.source, []).append(edge)
    lines = [f"start → {graph.start}"]
    for name, state in graph.states.items():
        status = overlay.state_status(name) if overlay else "plain"
        visits = f" ×{overlay.visits[name]}" if overlay and overlay.visits[name] > 1 else ""
        indent = "    " if name in graph.parents else ""
        lines.append(f"{indent}{marks[status]} {name} [{state.get('Type', '?')}]{visits}")
        for edge in outgoing.get(name, []):
            label = f" ({edge.label})" if edge.label else ""
            taken = "═>" if overlay and _taken(overlay, edge) else "->"
            lines.append(f"{indent}    {taken} {edge.target}{label}")
        if state.get("End") or state.get("Type") in TERMINAL_TYPES:
            lines.append(f"{indent}    -> end")
    return "\n".join(lines)


def render(
    definition: dict | str,
    history: list[dict] | None = None,
    *,
    format: str = "svg",
    title: str = "",
) -> str | bytes:
    """SVG text or PNG bytes; the text rendering when Graphviz's `dot` is not installed."""
    if format not in ("svg", "png", "text"):
        raise ValueError(f"format must be svg, png or text, not {format!r}")
    if format == "text" or not dot_available():
        return render_text(definition, history)
    data = to_dot(definition, history, title=title).pipe(format=format)
    return data.decode("utf-8") if format == "svg" else data


def svg_element(svg: str) -> str:
    """The <svg> element of an SVG document, without the XML prolog and doctype."""
    import re

    start = svg.find("<svg")
    element = svg[start:] if start >= 0 else svg
    # Scale to the page width (the viewBox keeps the aspect ratio) instead of overflowing it.
    return re.sub(
        r'<svg width="[^"]*" height="[^"]*"',
        '<svg width="100%" style="max-width: 1100px; height: auto"',
        element,
        count=1,
    )


class GraphView:
    """Displays itself in a notebook: SVG when Graphviz is there, text otherwise."""

    def __init__(self, definition: dict | str, history: list[dict] | None = None, title: str = ""):
        self.definition, self.history, self.title = definition, history, title

    def _svg(self) -> str:
        return str(render(self.definition, self.history, format="svg", title=self.title))

    def _repr_svg_(self) -> str | None:
        return self._svg() if dot_available() else None

    def _repr_html_(self) -> str:
        # Inline <svg> (not an <img>), so nbconvert's HTML keeps the graph searchable text.
        if dot_available():
            return f'<div class="opsbook-graph">{svg_element(self._svg())}</div>'
        return f"<pre>{html.escape(render_text(self.definition, self.history))}</pre>"

    def _repr_pretty_(self, printer, cycle) -> None:
        printer.text(render_text(self.definition, self.history))

    def __str__(self) -> str:
        return render_text(self.definition, self.history)
