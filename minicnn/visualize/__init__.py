"""What deep ConvNets learn: receptive fields, Zeiler–Fergus top-k patches, and other views.

* :mod:`~minicnn.visualize.receptive_field` -- size r, jump j and start of every layer's field
  (1D/2D/3D), and the input box of one output position.
* :mod:`~minicnn.visualize.top_patches` -- stream a data set, keep the k best patches per unit.
* :mod:`~minicnn.visualize.sheet` -- draw them: a k-patch grid per unit, a row per layer.
* :mod:`~minicnn.visualize.views` -- first-layer filters, activation maps.
* :mod:`~minicnn.visualize.saliency` -- gradient of a score with respect to the input pixels.
* :mod:`~minicnn.visualize.maximize` -- activation maximisation by gradient ascent on the input.
* ``python -m minicnn.visualize`` -- the command line; ``demo.run_demo`` -- the tour's part
  (neither is imported here).

Every figure function returns a :class:`matplotlib.figure.Figure`.
"""

from .data import CLASSES, load_images, make_shape_images
from .layers import forward_to, get_layer, layer_names
from .maximize import maximize_activation, maximize_figure
from .receptive_field import LayerRF, format_table, receptive_field, receptive_fields
from .saliency import input_gradient, saliency, saliency_figure
from .sheet import top_patches_figure, top_patches_sheet
from .top_patches import TopK, TopPatches, extract_patch, top_patches
from .views import activation_maps_figure, activations, filters_figure

__all__ = [
    "CLASSES", "load_images", "make_shape_images", "forward_to", "get_layer", "layer_names",
    "maximize_activation", "maximize_figure", "LayerRF", "format_table", "receptive_field",
    "receptive_fields", "input_gradient", "saliency", "saliency_figure", "top_patches_figure",
    "top_patches_sheet", "TopK", "TopPatches", "extract_patch", "top_patches",
    "activation_maps_figure", "activations", "filters_figure",
]
