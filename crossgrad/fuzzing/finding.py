"""A finding written as a case file: explicit weights, inputs and targets, its training block
where it trains, and how it was found."""
import json
from pathlib import Path

from crossgrad.adapters import BACKENDS
from crossgrad.cases import load_case
from crossgrad.fuzzing.trajectory import training_lines


def _number(value):
    """The shortest text that reads back as the same float64 (YAML 1.2 reads 1e-05 too)."""
    return repr(float(value))


def _vector(values):
    return "[" + ", ".join(map(_number, values)) + "]"


def _matrix(rows):
    return "[" + ", ".join(_vector(row) for row in rows) + "]"


def file_name(signature, seed, index):
    parts = [signature.backend, signature.dtype, "trajectory" if signature.trajectory else "",
             signature.quantity or "run", signature.label,
             signature.layer.replace(" ", "_"), f"seed{seed}", f"draw{index}"]
    return "_".join(part for part in parts if part) + ".yaml"


def case_text(case, signature, description):
    """The YAML of a case that runs `case`'s problem (and its training) in the signature's dtype
    on its backend (a plug-in runs every case, so a plug-in's finding names numpy, the reference
    in that dtype)."""
    problem = case.problem
    backend = signature.backend if signature.backend in BACKENDS else "numpy"
    lines = [f"# Found by crossgrad fuzz; reproduce with: crossgrad report --cases <this file>",
             f"description: {json.dumps(description, ensure_ascii=False)}",
             "network:", "  layers:"]
    for layer in problem.layers:
        lines.append(f"    - weights: {_matrix(layer.weights)}")
        if layer.bias is not None:
            lines.append(f"      bias: {_vector(layer.bias)}")
        lines.append(f"      activation: {layer.activation}")
    lines += [f"inputs: {_matrix(problem.inputs)}", f"targets: {_matrix(problem.targets)}",
              f"loss: {problem.loss}", f"reduction: {problem.reduction}",
              f"learning_rate: {_number(problem.learning_rate)}",
              *training_lines(case.training, _number),
              f"dtypes: [{signature.dtype}]", f"backends: [{backend}]"]
    return "\n".join(lines) + "\n"


def write(folder, name, text):
    """Write `text` to folder/name and read it back as a case (InvalidCase if it is not one)."""
    path = Path(folder) / name
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding="utf-8")
    load_case(path)
    return path
