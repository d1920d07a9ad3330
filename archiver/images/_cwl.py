"""The container images of CWL documents: ``DockerRequirement.dockerPull``.

CWL is YAML (JSON being a subset), so the document is composed, not loaded, with PyYAML's safe
loader: the node tree keeps each scalar's line. A ``dockerPull`` is found wherever CWL allows a
DockerRequirement: in ``requirements`` or ``hints`` as a list item with ``class: DockerRequirement``
or as a map keyed ``DockerRequirement``, in any process of the file (packed ``$graph`` documents and
inline ``run:`` steps included). The tree is walked once per node, so aliases cannot make the walk
explode, and a document over :data:`MAX_NODES` nodes is not walked further.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from ._found import Occurrence

if TYPE_CHECKING:  # imported when a CWL file is scanned: worker processes start faster without it
    import yaml

__all__ = ["MAX_NODES", "scan_cwl"]

MAX_NODES = 200_000


def _walk(root: yaml.Node) -> list[yaml.MappingNode]:
    """Every mapping node under ``root``, each once."""
    import yaml

    seen: set[int] = set()
    stack: list[yaml.Node] = [root]
    mappings: list[yaml.MappingNode] = []
    while stack and len(seen) < MAX_NODES:
        node = stack.pop()
        if id(node) in seen:
            continue
        seen.add(id(node))
        if isinstance(node, yaml.MappingNode):
            mappings.append(node)
            for key, value in node.value:
                stack += [key, value]
        elif isinstance(node, yaml.SequenceNode):
            stack += node.value
    return mappings


def _scalar(node: yaml.Node, key: str) -> yaml.ScalarNode | None:
    import yaml

    if not isinstance(node, yaml.MappingNode):
        return None
    for k, v in node.value:
        if isinstance(k, yaml.ScalarNode) and k.value == key:
            return v if isinstance(v, yaml.ScalarNode) else None
    return None


def scan_cwl(path: str, text: str) -> list[Occurrence]:
    """Every ``dockerPull`` of the CWL document ``text``; a document that is not YAML: none.

    Raises ``ValueError`` naming the line when the text is not a YAML document.
    """
    import yaml

    try:
        root = yaml.compose(text, Loader=yaml.SafeLoader)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" at line {mark.line + 1}" if mark is not None else ""
        raise ValueError(f"{path} is not a YAML/JSON document{where}") from exc
    if root is None:
        return []
    found: list[Occurrence] = []
    for mapping in _walk(root):
        for key, value in mapping.value:
            requirement = None
            if isinstance(key, yaml.ScalarNode) and key.value == "DockerRequirement":
                requirement = value  # map form: {DockerRequirement: {dockerPull: ...}}
            elif (
                isinstance(key, yaml.ScalarNode)
                and key.value == "class"
                and isinstance(value, yaml.ScalarNode)
                and value.value == "DockerRequirement"
            ):
                requirement = mapping  # list form: - class: DockerRequirement
            if requirement is None:
                continue
            pull = _scalar(requirement, "dockerPull")
            if pull is None:
                continue
            line = pull.start_mark.line + 1
            image = str(pull.value).strip()
            if image:
                found.append(Occurrence(path, line, "cwl-docker-pull", image))
            else:
                found.append(
                    Occurrence.unresolvable(path, line, "cwl-docker-pull", "", "dockerPull is empty")
                )
    return sorted(set(found), key=lambda o: (o.line, o.image or ""))
