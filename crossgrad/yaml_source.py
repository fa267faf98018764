"""Reading a YAML file safely, as YAML 1.2 reads numbers and booleans, with every value's position.

PyYAML follows YAML 1.1: `1e-3` is a string there, and `no` is False. Case files are read with
YAML 1.2's core rules instead (`1e-3` is a float, only true/false are booleans), with the safe
constructor (no Python tags), and with aliases bounded so that an alias bomb is refused quickly.
"""
import re
from dataclasses import dataclass

import yaml

# Beyond this many nodes, counting each alias as a copy of what it names, a document is refused.
MAX_NODES = 1_000_000

_FLOAT_1_2 = re.compile(r"""^(?:
    [-+]?(?:\.[0-9]+|[0-9]+(?:\.[0-9]*)?)(?:[eE][-+]?[0-9]+)?
  | [-+]?\.(?:inf|Inf|INF)
  | \.(?:nan|NaN|NAN))$""", re.X)
_INT_1_2 = re.compile(r"^(?:[-+]?[0-9]+|0o[0-7]+|0x[0-9a-fA-F]+)$")
_BOOL_1_2 = re.compile(r"^(?:true|True|TRUE|false|False|FALSE)$")
_NULL_1_2 = re.compile(r"^(?:~|null|Null|NULL|)$")


class CoreSchemaLoader(yaml.SafeLoader):
    """The safe loader with YAML 1.2's core schema for plain scalars."""


CoreSchemaLoader.yaml_implicit_resolvers = {}
for _tag, _pattern, _first in [
    ("tag:yaml.org,2002:bool", _BOOL_1_2, "tTfF"),
    ("tag:yaml.org,2002:int", _INT_1_2, "-+0123456789"),
    ("tag:yaml.org,2002:float", _FLOAT_1_2, "-+0123456789."),
    ("tag:yaml.org,2002:null", _NULL_1_2, ["~", "n", "N", ""]),
]:
    CoreSchemaLoader.add_implicit_resolver(_tag, _pattern, list(_first))


def _construct_int(loader, node):
    # YAML 1.2 ints: decimal, 0o octal, 0x hex (no YAML 1.1 sexagesimal or 0-prefixed octal)
    text = loader.construct_scalar(node)
    return int(text, 0) if text[:2] in ("0o", "0x") else int(text)


CoreSchemaLoader.add_constructor("tag:yaml.org,2002:int", _construct_int)


class YamlError(Exception):
    """The file is not a YAML document we read; line and column are 1-based."""

    def __init__(self, message, line=1, column=1):
        super().__init__(message)
        self.message, self.line, self.column = message, line, column


@dataclass(frozen=True)
class Document:
    """A parsed document, and the 1-based (line, column) of every value and of every mapping
    key, each keyed by the value's path (a tuple of keys and indices)."""

    value: object
    positions: dict
    key_positions: dict


def _expanded_size(node, sizes, open_nodes):
    """How many nodes the document has once aliases are expanded; refuses cycles."""
    key = id(node)
    if key in sizes:
        return sizes[key]
    if key in open_nodes:
        raise YamlError("an alias refers to a node that contains it",
                        node.start_mark.line + 1, node.start_mark.column + 1)
    open_nodes.add(key)
    if isinstance(node, yaml.MappingNode):
        children = [child for pair in node.value for child in pair]
    elif isinstance(node, yaml.SequenceNode):
        children = node.value
    else:
        children = []
    size = 1
    for child in children:
        size += _expanded_size(child, sizes, open_nodes)
        if size > MAX_NODES:
            raise YamlError(f"the document expands to more than {MAX_NODES:,} nodes "
                            "(aliases that repeat aliases?)",
                            node.start_mark.line + 1, node.start_mark.column + 1)
    open_nodes.discard(key)
    sizes[key] = size
    return size


def _place(mark):
    return mark.line + 1, mark.column + 1


def _positions(node, path, values, keys):
    """Record where each value and each key starts; refuse a key given twice in one mapping."""
    values[path] = _place(node.start_mark)
    if isinstance(node, yaml.MappingNode):
        for key_node, value_node in node.value:
            if not isinstance(key_node, yaml.ScalarNode):
                continue
            key = key_node.value
            if path + (key,) in keys:
                line, column = _place(key_node.start_mark)
                raise YamlError(f"the key {key!r} is given twice (first on line "
                                f"{keys[path + (key,)][0]})", line, column)
            keys[path + (key,)] = _place(key_node.start_mark)
            _positions(value_node, path + (key,), values, keys)
    elif isinstance(node, yaml.SequenceNode):
        for index, child in enumerate(node.value):
            _positions(child, path + (index,), values, keys)


def parse(raw):
    """Parse `raw` bytes as one YAML document. Raises YamlError with the place of the fault."""
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as error:
        line = raw[:error.start].count(b"\n") + 1
        column = error.start - (raw.rfind(b"\n", 0, error.start) + 1) + 1
        raise YamlError(f"not UTF-8 text (byte 0x{raw[error.start]:02x})", line, column) from None
    loader = CoreSchemaLoader(text)
    try:
        node = loader.get_single_node()
        if node is None:
            return Document(None, {(): (1, 1)}, {})
        _expanded_size(node, {}, set())
        values, keys = {}, {}
        _positions(node, (), values, keys)
        return Document(loader.construct_document(node), values, keys)
    except yaml.MarkedYAMLError as error:
        mark = error.problem_mark or error.context_mark
        problem = error.problem or error.context or "invalid YAML"
        raise YamlError(problem, mark.line + 1 if mark else 1,
                        mark.column + 1 if mark else 1) from None
    except yaml.YAMLError as error:
        raise YamlError(str(error).splitlines()[0]) from None
    finally:
        loader.dispose()
