"""Reading a YAML file safely, as YAML 1.2 reads numbers and booleans, with every value's position.

PyYAML follows YAML 1.1: `1e-3` is a string there, and `no` is False. Case files are read with
YAML 1.2's core rules instead (`1e-3` is a float, only true/false are booleans), with the safe
constructor (no Python tags, and none of YAML 1.1's timestamps, sets, binaries or merge keys),
with nesting and aliases bounded so that an alias bomb or a deep nest is refused quickly, and
with every failure, whatever PyYAML raises, as one YamlError with a line and a column.
"""
import re
from dataclasses import dataclass

import yaml

# Beyond this many nodes, counting each alias as a copy of what it names, a document is refused.
MAX_NODES = 1_000_000
# Deeper nesting than this (a case needs 5 levels) is refused before Python's recursion limit.
MAX_DEPTH = 64

_FLOAT_1_2 = re.compile(r"""^(?:
    [-+]?(?:\.[0-9]+|[0-9]+(?:\.[0-9]*)?)(?:[eE][-+]?[0-9]+)?
  | [-+]?\.(?:inf|Inf|INF)
  | \.(?:nan|NaN|NAN))$""", re.X)
_INT_1_2 = re.compile(r"^(?:[-+]?[0-9]+|0o[0-7]+|0x[0-9a-fA-F]+)$")
_BOOL_1_2 = re.compile(r"^(?:true|True|TRUE|false|False|FALSE)$")
_NULL_1_2 = re.compile(r"^(?:~|null|Null|NULL|)$")


class CoreSchemaLoader(yaml.SafeLoader):
    """The safe loader with YAML 1.2's core schema for plain scalars, and bounded nesting."""

    _depth = 0

    def compose_node(self, parent, index):
        self._depth += 1
        try:
            if self._depth > MAX_DEPTH:
                raise yaml.composer.ComposerError(
                    None, None, f"the document nests deeper than {MAX_DEPTH} levels",
                    self.peek_event().start_mark)
            return super().compose_node(parent, index)
        finally:
            self._depth -= 1

    def construct_object(self, node, deep=False):
        """PyYAML's constructors raise ValueError and others on bad explicitly tagged scalars
        (`!!int x`, `!!float x`); each becomes a ConstructorError at the node."""
        try:
            return super().construct_object(node, deep)
        except (ValueError, TypeError, KeyError, AttributeError, OverflowError) as error:
            text = node.value if isinstance(node, yaml.ScalarNode) else ""
            shown = repr(text if len(text) <= 40 else text[:40] + "…")
            reason = str(error).split(";")[0].splitlines()[0] if str(error) else type(error).__name__
            raise yaml.constructor.ConstructorError(
                None, None, f"cannot read {shown} as {node.tag.rsplit(':', 1)[-1]}: {reason}",
                node.start_mark) from None

    def construct_undefined(self, node):
        tag = node.tag.replace("tag:yaml.org,2002:", "!!", 1)
        raise yaml.constructor.ConstructorError(
            None, None, f"the tag {tag} is refused: a case holds only mappings, lists, strings, "
            "numbers, true, false and null", node.start_mark)

    def flatten_mapping(self, node):
        for key_node, _ in node.value:
            if key_node.tag == "tag:yaml.org,2002:merge":
                raise yaml.constructor.ConstructorError(
                    None, None, "merge keys (<<) are not part of YAML 1.2; write the keys out",
                    key_node.start_mark)


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


def _construct_bool(loader, node):
    # YAML 1.2 booleans, also under an explicit !!bool tag (no yes/no/on/off)
    text = loader.construct_scalar(node)
    if not _BOOL_1_2.match(text):
        raise ValueError("only true and false are booleans")
    return text.lower() == "true"


def _construct_str(loader, node):
    # an escape such as "\ud800" gives a lone surrogate, which no UTF-8 file or report can hold
    text = loader.construct_scalar(node)
    try:
        text.encode("utf-8")
    except UnicodeEncodeError as error:
        raise ValueError(f"an unpaired surrogate \\u{ord(text[error.start]):04x}") from None
    return text


CoreSchemaLoader.add_constructor("tag:yaml.org,2002:int", _construct_int)
CoreSchemaLoader.add_constructor("tag:yaml.org,2002:bool", _construct_bool)
CoreSchemaLoader.add_constructor("tag:yaml.org,2002:str", _construct_str)
for _tag in ("binary", "timestamp", "omap", "pairs", "set"):  # YAML 1.1 types, not core schema
    CoreSchemaLoader.add_constructor(f"tag:yaml.org,2002:{_tag}",
                                     CoreSchemaLoader.construct_undefined)
CoreSchemaLoader.add_constructor(None, CoreSchemaLoader.construct_undefined)  # !!python/..., !x


try:  # PyYAML built with libyaml (every wheel on PyPI is)
    from yaml.cyaml import CParser as _CParser
except ImportError:  # pragma: no cover - a source build without libyaml reads in pure Python
    _CParser = None


class _LibyamlEventsLoader(CoreSchemaLoader, *((_CParser,) if _CParser else ())):
    """CoreSchemaLoader with its events scanned and parsed by libyaml (C) instead of PyYAML's
    Python scanner and parser, about three quarters of the time a case takes to read. Nodes are
    still composed (with the depth bound), resolved and constructed by the Python classes above,
    so a document reads to the same values at the same places. `parse` uses it only for plain
    printable ASCII, where the two scanners accept the same text, and reads again with the pure
    loader on any error, so every message is the pure loader's."""

    if _CParser:
        check_event, peek_event = _CParser.check_event, _CParser.peek_event
        get_event, dispose = _CParser.get_event, _CParser.dispose

    def __init__(self, text):
        _CParser.__init__(self, text)
        yaml.composer.Composer.__init__(self)
        yaml.constructor.SafeConstructor.__init__(self)
        yaml.resolver.Resolver.__init__(self)


# Text that libyaml and PyYAML scan alike: printable ASCII lines (no tab, no \r, no control).
_PLAIN_ASCII = re.compile(r"[ -~\n]*\Z")


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


def _expanded_size(node, sizes, open_nodes, depth=1):
    """(nodes, height) of `node` once aliases are expanded, memoised in `sizes` by node; refuses
    cycles, more than MAX_NODES nodes, and nesting deeper than MAX_DEPTH through aliases."""
    key = id(node)
    place = node.start_mark.line + 1, node.start_mark.column + 1
    if key in open_nodes:
        raise YamlError("an alias refers to a node that contains it", *place)
    size, height = sizes.get(key, (1, 1))
    if depth + height - 1 > MAX_DEPTH:
        raise YamlError(f"the document nests deeper than {MAX_DEPTH} levels once its aliases "
                        "are expanded", *place)
    if key in sizes:
        return sizes[key]
    open_nodes.add(key)
    if isinstance(node, yaml.MappingNode):
        children = [child for pair in node.value for child in pair]
    elif isinstance(node, yaml.SequenceNode):
        children = node.value
    else:
        children = []
    for child in children:
        child_size, child_height = _expanded_size(child, sizes, open_nodes, depth + 1)
        size, height = size + child_size, max(height, child_height + 1)
        if size > MAX_NODES:
            raise YamlError(f"the document expands to more than {MAX_NODES:,} nodes "
                            "(aliases that repeat aliases?)", *place)
    open_nodes.discard(key)
    sizes[key] = size, height
    return size, height


def _place(mark):
    return mark.line + 1, mark.column + 1


def _positions(node, path, values, keys, seen):
    """Record where each value and each key starts; refuse a key given twice in one mapping.
    A node that aliases repeat is walked once: a problem inside a repeat is placed where the
    repeated node itself starts (at its anchor)."""
    values[path] = _place(node.start_mark)
    if id(node) in seen:
        return
    seen.add(id(node))
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
            _positions(value_node, path + (key,), values, keys, seen)
    elif isinstance(node, yaml.SequenceNode):
        for index, child in enumerate(node.value):
            _positions(child, path + (index,), values, keys, seen)


# Line breaks to PyYAML (YAML 1.1) that editors and YAML 1.2 do not count: refused, so that
# every line number is the one an editor shows.
_ODD_BREAK = re.compile("[\x85\u2028\u2029]|\r(?!\n)")


def _place_in(text, index):
    """The 1-based line and column of text[index], counting lines by \\n."""
    before = text[:index]
    return before.count("\n") + 1, index - (before.rfind("\n") + 1) + 1


def _reader_error(error, text):
    """A ReaderError (a character YAML does not allow) at its line and column."""
    return YamlError(f"the character U+{error.character:04X} is not allowed in YAML "
                     f"({error.reason})", *_place_in(text, error.position))


def parse(raw):
    """Parse `raw` bytes as one YAML document. Raises YamlError with the place of the fault."""
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as error:
        line = raw[:error.start].count(b"\n") + 1
        column = error.start - (raw.rfind(b"\n", 0, error.start) + 1) + 1
        raise YamlError(f"not UTF-8 text (byte 0x{raw[error.start]:02x})", line, column) from None
    odd = _ODD_BREAK.search(text)
    if odd:
        code = ord(odd.group())
        message = ("a carriage return (\\r) without a newline; save the file with \\n or "
                   "\\r\\n line endings" if odd.group() == "\r" else
                   f"the character U+{code:04X} is a line break to YAML 1.1 readers but not to "
                   f"editors; inside a double-quoted string write it as \\u{code:04x}")
        raise YamlError(message, *_place_in(text, odd.start()))
    if _CParser and _PLAIN_ASCII.match(text):
        try:
            return _read(_LibyamlEventsLoader, text)
        except Exception:  # noqa: BLE001 - the pure loader reads it again and says why
            pass
    return _read(CoreSchemaLoader, text)


def _read(loader_class, text):
    """The Document in `text`, read by `loader_class`; YamlError with the place of the fault."""
    loader = None
    try:
        loader = loader_class(text)
        node = loader.get_single_node()
        if node is None:
            return Document(None, {(): (1, 1)}, {})
        _expanded_size(node, {}, set())
        values, keys = {}, {}
        _positions(node, (), values, keys, set())
        return Document(loader.construct_document(node), values, keys)
    except yaml.reader.ReaderError as error:
        raise _reader_error(error, text) from None
    except yaml.MarkedYAMLError as error:
        mark = error.problem_mark or error.context_mark
        problem = error.problem or error.context or "invalid YAML"
        if error.problem and (error.context or "").startswith("expected a single document"):
            problem = "a case file holds one YAML document, but another starts here"
        if "'\\t'" in problem:
            problem += " (YAML indents with spaces, never tabs)"
        raise YamlError(problem, mark.line + 1 if mark else 1,
                        mark.column + 1 if mark else 1) from None
    except yaml.YAMLError as error:
        raise YamlError(str(error).splitlines()[0]) from None
    finally:
        if loader is not None:
            loader.dispose()
