"""The case format's `training:` block and `expected.losses`, read into a Training (and golden
losses) or into one error line per problem, as cases.py reads the rest of a case."""
from crossgrad.case_reader import describe
from crossgrad.reference import OPTIMIZERS, Training
from crossgrad.reference.optimizers import PARTS

TRAINING_KEYS = ("steps", "optimizer", "momentum", "betas", "eps", "update", "record")
# the keys that belong to one optimizer only
OPTIMIZER_KEYS = {"momentum": "momentum", "betas": "adam", "eps": "adam"}
MAX_STEPS = 100_000
INVALID = object()  # a training block that is there but has errors of its own


def default_record(steps):
    """0, 1, then 2, 5, 10, 20, 50, … (1-2-5 per decade) below `steps`, then `steps`."""
    found, scale = {0, 1, steps}, 1
    while scale < steps:
        found.update(m * scale for m in (1, 2, 5) if m * scale < steps)
        scale *= 10
    return tuple(sorted(found))


def _alias(reader, where, key):
    """Let an integer key be named as itself (losses[1000]): the parser keys positions by its
    text."""
    for table in (reader.positions, reader.key_positions):
        if where + (str(key),) in table:
            table.setdefault(where + (key,), table[where + (str(key),)])


def _step(reader, where, value, steps, at_key=False):
    """A recorded step: a whole number from 0 to `steps`, or None after one error line (on the
    key's line with `at_key`, for a step that is a key)."""
    if isinstance(value, bool) or not isinstance(value, int):
        reader.error(where, f"expected a step (a whole number of updates), got {describe(value)}",
                     at_key)
        return None
    if value < 0:
        reader.error(where, f"step {value} is negative; steps count updates from 0 (before any)",
                     at_key)
        return None
    if value > steps:
        reader.error(where, f"step {value} is beyond training.steps ({steps})", at_key)
        return None
    return value


def _fraction(reader, where, value):
    number = reader.number(where, value)
    if number is not None and not 0 <= number < 1:
        reader.error(where, f"expected a number in [0, 1), got {number}")
        return None
    return number


def read_training(reader, value):
    """The Training of a case's `training:` block, or None after recording why."""
    where = ("training",)
    entry = reader.mapping(where, value, TRAINING_KEYS, required=("steps",))
    if entry is None:
        return None
    steps = reader.integer(where + ("steps",), entry["steps"], 1, MAX_STEPS, "steps")
    optimizer = reader.name(where + ("optimizer",), entry.get("optimizer", "sgd"), OPTIMIZERS,
                            "optimizer")
    found = {"steps": steps, "optimizer": optimizer}
    for key, owner in OPTIMIZER_KEYS.items():
        if key in entry and optimizer is not None and optimizer != owner:
            reader.error(where + (key,), f"{key} belongs to the {owner} optimizer, not "
                                         f"{optimizer}", at_key=True)
            found[key] = None
    if "momentum" in entry and "momentum" not in found:
        found["momentum"] = _fraction(reader, where + ("momentum",), entry["momentum"])
    if "betas" in entry and "betas" not in found:
        betas = entry["betas"]
        if not isinstance(betas, list) or len(betas) != 2:
            reader.error(where + ("betas",), f"expected [β1, β2], got {describe(betas)}")
            found["betas"] = None
        else:
            pair = tuple(_fraction(reader, where + ("betas", i), b) for i, b in enumerate(betas))
            found["betas"] = None if None in pair else pair
    if "eps" in entry and "eps" not in found:
        found["eps"] = reader.number(where + ("eps",), entry["eps"], positive=True)
    if "update" in entry:
        found["update"] = reader.names(where + ("update",), entry["update"], PARTS,
                                       "parameters")
    if "record" in entry and steps is not None:
        record = entry["record"]
        if not isinstance(record, list) or not record:
            reader.error(where + ("record",), f"expected a list of steps, got {describe(record)}")
            found["record"] = None
        else:
            chosen = [_step(reader, where + ("record", i), s, steps) for i, s in enumerate(record)]
            found["record"] = None if None in chosen else tuple(sorted(set(chosen)))
    if None in found.values():
        return None
    found.setdefault("record", default_record(steps))
    return Training(**found)


def read_losses(reader, value, training):
    """Golden losses {step: E after that many updates} as ((step, loss), …), or None after
    recording why; `training` is the case's Training (None: the case does not train;
    INVALID: its block has errors)."""
    where = ("expected", "losses")
    if training is INVALID:  # the training block's own errors say what is wrong
        return None
    if training is None:
        reader.error(where, "losses are a trajectory's; the case needs a training: block",
                     at_key=True)
        return None
    if not isinstance(value, dict) or not value:
        reader.error(where, f"expected a mapping {{step: loss}}, got {describe(value)}")
        return None
    losses = []
    for key, loss in value.items():
        _alias(reader, where, key)
        step = _step(reader, where + (key,), key, training.steps, at_key=True)
        number = reader.number(where + (key,), loss)
        losses.append(None if None in (step, number) else (step, number))
    return None if None in losses else tuple(sorted(losses))
