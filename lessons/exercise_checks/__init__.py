"""The checks of the lesson exercises.

Each ``check_<name>(fn)`` tests a learner's ``fn`` against values worked out by hand, central
finite differences, identities (the adjoint identity of a linear map, Euler's identity of a
piecewise-linear one) or a deliberately plain loop written here -- never against the minicnn
function that the exercise re-derives. A function whose code refers to minicnn, or to the
published solutions, is refused: the point is to write it.
It returns "correct", or raises with the first case that fails.
"""

from ._common import SWITCH, solutions_enabled  # noqa: F401
from .basics import *  # noqa: F401,F403
from .faces import *  # noqa: F401,F403
from .vision import *  # noqa: F401,F403
