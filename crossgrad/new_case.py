"""`crossgrad new`: a new case file, from a commented template or a copy of an existing case.

Either way the file starts with a `# yaml-language-server: $schema=…` line that points at
cases/schema.json, so that editors check and complete it as it is typed, and it validates as
written. An existing file is never overwritten.
"""
import json
import os
import re
from pathlib import Path

import yaml

from crossgrad.adapters import BACKENDS
from crossgrad.cases import case_files, load_case, read_case
from crossgrad.problem import DEFAULT_DTYPES, DTYPES
from crossgrad.reference import ACTIVATIONS, LOSSES, OPTIMIZERS, REDUCTIONS
from crossgrad.yaml_source import CoreSchemaLoader

CATALOGUE = Path("cases")
SCHEMA = CATALOGUE / "schema.json"
PLACEHOLDER = "TODO: say what this case probes and why"
_SCHEMA_LINE = re.compile(r"^# yaml-language-server: \$schema=.*\n?", re.M)
_BARE_NAME = re.compile(r"^[A-Za-z0-9_][A-Za-z0-9_.-]*$")

TEMPLATE = """\
# yaml-language-server: $schema={schema}
# A crossgrad case (the format: cases/README.md); check it with `crossgrad validate {path}`
description: {description}
network:
  layers:                          # input to output, one entry per layer
    - weights: [[0.5, -0.6], [0.1, -0.2], [0.1, 0.7]]   # fan_in × fan_out: z = x @ W (+ b)
      bias: [0.0, 0.0]             # optional: one number per output (fan_out)
      activation: sigmoid          # {activations}
    - weights: [[0.1], [-0.3]]     # one output is a column: [[w1], [w2]]
      activation: sigmoid
  # or, instead of layers, a network drawn from a seed:
  #   sizes: [3, 2, 1]             # the input width, then each layer's outputs
  #   activations: sigmoid         # one name, or one per layer
  #   seed: 1
inputs: [[0.5, 0.1, -0.2]]         # batch × fan_in; one record is [[...]]
targets: [[0.6]]                   # batch × outputs
# or, instead of inputs and targets: data: {{batch: 4, seed: 2}}
loss: half_squared_error           # {losses}
reduction: mean                    # {reductions}
learning_rate: 0.5                 # η > 0; Δw = −η·∂E/∂W
# training:                        # optional: train many steps and compare the trajectory
#   steps: 1000                    # full-batch updates on the inputs and targets
#   optimizer: sgd                 # {optimizers}
#   momentum: 0.9                  # momentum only
#   betas: [0.9, 0.999]            # adam only
#   eps: 1.0e-8                    # adam only
#   update: [weights, biases]      # what learns; [weights] keeps the biases fixed
#   record: [0, 1, 10, 100, 1000]  # steps compared (default 0, 1, 2, 5, 10, 20, … and the end)
# expected:                        # golden values from outside, where there are some
#   source: where the numbers come from
#   weight_deltas: [[[...]], [[...]]]   # one matrix per layer, null where not given
#   losses: {{0: 0.0216, 1000: 0.0001}}  # training only: the loss after k updates
# dtypes: [{dtypes}]           # of {all_dtypes}
# backends: [{backends}]
"""


class NewCaseError(Exception):
    """The file cannot be written; the message says why, in one line."""


def target_path(name):
    """Where `crossgrad new NAME` writes: cases/NAME.yaml for a bare name; a path ending in
    .yaml or .yml as it is, wherever it points (that suffix says it is meant as a file); any
    other path with the suffix added, which must stay inside cases/. Raises NewCaseError."""
    if name.endswith((".yaml", ".yml")):
        return Path(name)
    if "/" not in name and os.sep not in name:
        if not _BARE_NAME.match(name):
            raise NewCaseError(f"{name!r} is not a case name (letters, digits, _ . -)")
        return CATALOGUE / f"{name}.yaml"
    path = Path(f"{name}.yaml")
    if not path.resolve().is_relative_to(CATALOGUE.resolve()):
        raise NewCaseError(f"{name!r} leaves {CATALOGUE}/; to write a case file elsewhere on "
                           f"purpose, give its path with the suffix: {path}")
    if not _BARE_NAME.match(path.stem):
        raise NewCaseError(f"{path.stem!r} is not a case name (letters, digits, _ . -)")
    return path


def schema_line(path):
    """The editor's line for a file at `path`: cases/schema.json, relative to that file."""
    relative = os.path.relpath(SCHEMA.resolve(), Path(path).resolve().parent)
    return f"# yaml-language-server: $schema={Path(relative).as_posix()}\n"


def template(path):
    """The commented template's text for a file at `path`."""
    return TEMPLATE.format(
        schema=schema_line(path)[len("# yaml-language-server: $schema="):].strip(), path=path,
        description=json.dumps(PLACEHOLDER), activations=" | ".join(ACTIVATIONS),
        losses=" | ".join(LOSSES), reductions=" | ".join(REDUCTIONS),
        optimizers=" | ".join(OPTIMIZERS),
        dtypes=", ".join(DEFAULT_DTYPES), all_dtypes=", ".join(DTYPES),
        backends=", ".join(BACKENDS))


def copy_of(existing, path):
    """The text of the case file `existing`, comments and all, with the schema line for `path`
    and a placeholder for its description. Raises InvalidCase if `existing` is not valid."""
    load_case(existing)
    text = _SCHEMA_LINE.sub("", Path(existing).read_text(encoding="utf-8").lstrip("\ufeff"))
    for key_node, value_node in yaml.compose(text, Loader=CoreSchemaLoader).value:
        if key_node.value == "description":
            start, end = value_node.start_mark.index, value_node.end_mark.index
            ending = text[start:end][len(text[start:end].rstrip()):]  # a block scalar's \n
            placeholder = json.dumps(f"{PLACEHOLDER} (copied from {existing})",
                                     ensure_ascii=False)
            text = text[:start] + placeholder + ending + text[end:]
    return schema_line(path) + text


def write_new(name, existing=None):
    """Write the new case file for `name` (see target_path); returns its path. Raises
    NewCaseError if it exists or its name is taken, InvalidCase if `existing` is not valid."""
    path = target_path(name)
    text = template(path) if existing is None else copy_of(existing, path)
    if path.exists():
        raise NewCaseError(f"{path} already exists; crossgrad new does not overwrite")
    if CATALOGUE.is_dir() and path.resolve().is_relative_to(CATALOGUE.resolve()):
        for other in case_files([CATALOGUE]):
            if other.stem == path.stem:
                raise NewCaseError(f"the case name {path.stem!r} is already taken by {other}")
    read_case(path, text.encode("utf-8"))  # it validates, or this raises InvalidCase
    path.parent.mkdir(parents=True, exist_ok=True)
    try:
        with open(path, "x", encoding="utf-8") as file:
            file.write(text)
    except FileExistsError:
        raise NewCaseError(f"{path} already exists; crossgrad new does not overwrite") from None
    return path
