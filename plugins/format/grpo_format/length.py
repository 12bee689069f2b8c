"""``format.length``: 1.0 inside a target length window, a soft penalty outside it."""
import math

from . import _options as opt
from ._inputs import item
from ._units import measure

NAME = "format.length"
UNITS = ("chars", "tokens", "words")


class Length:
    """1.0 when ``min <= length <= max``; outside, the reward falls with the distance ``d``
    (in units) to the nearest bound and never goes below ``floor``:

    - ``shape="linear"``: ``max(floor, 1 - d / scale)``, so it reaches 0.0 at ``d == scale``;
    - ``shape="exponential"``: ``floor + (1 - floor) * exp(-d / scale)``, a smooth decay.

    ``scale`` defaults to the bound that was crossed (too long by ``max`` units scores 0.0 in
    linear shape); for a ``min`` of 0 or ``max`` of 0 it is 1.
    """

    def __init__(self, *, min=None, max=None, unit="chars", scale=None, floor=0.0, shape="linear"):
        # `min`/`max` mirror the config keys; the builtins are not needed in this method.
        self.low = opt.integer(NAME, "min", min, low=0, allow_none=True)
        self.high = opt.integer(NAME, "max", max, low=0, allow_none=True)
        if self.low is None and self.high is None:
            opt.fail(NAME, "min", "or 'max' is required (a length window needs at least one bound)")
        if self.low is not None and self.high is not None and self.low > self.high:
            opt.fail(NAME, "min", f"must be <= max, got min={self.low} > max={self.high}")
        self.unit = opt.choice(NAME, "unit", unit, UNITS)
        self.scale = opt.number(NAME, "scale", scale, allow_none=True)
        if self.scale is not None and self.scale <= 0:
            opt.fail(NAME, "scale", f"must be > 0, got {scale!r}")
        self.floor = opt.number(NAME, "floor", floor)
        if self.floor >= 1.0:
            opt.fail(NAME, "floor", f"must be < 1.0 (the reward inside the window), got {floor!r}")
        self.shape = opt.choice(NAME, "shape", shape, ("linear", "exponential"))

    def __call__(self, completions, completion_ids=None):
        return [self.score(measure(c, item(completion_ids, i), self.unit))
                for i, c in enumerate(completions)]

    def score(self, length):
        if length is None:
            return None
        if self.low is not None and length < self.low:
            distance, bound = self.low - length, self.low
        elif self.high is not None and length > self.high:
            distance, bound = length - self.high, self.high
        else:
            return 1.0
        scale = self.scale if self.scale is not None else float(bound or 1)
        if self.shape == "linear":
            value = 1.0 - distance / scale
            return value if value > self.floor else self.floor
        return self.floor + (1.0 - self.floor) * math.exp(-distance / scale)
