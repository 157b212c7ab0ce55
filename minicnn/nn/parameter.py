"""``Parameter``: a Tensor that a Module learns.

Assigning a Parameter to a Module attribute registers it, so
``module.parameters()`` finds it and optimizers update it.
"""

from __future__ import annotations

from ..hints import ArrayLike
from ..tensor import Tensor

__all__ = ["Parameter"]


class Parameter(Tensor):
    """A leaf Tensor with ``requires_grad=True`` (by default) owned by a Module.

    ``Parameter(array)`` keeps the array's dtype (float lists become float32).
    """

    def __init__(self, data: Tensor | ArrayLike, requires_grad: bool = True) -> None:
        super().__init__(data, requires_grad=requires_grad)

    def __repr__(self):
        return "Parameter containing:\n" + super().__repr__()
