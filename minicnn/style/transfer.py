"""Neural style transfer: optimise the pixels of G, the network stays fixed.

``J(G) = alpha J_content(C, G) + beta J_style(S, G) [+ tv_weight TV(G)]`` is
lowered by

* **Adam** (the course's choice): ``G := clip(G - lr * adam_direction, 0, 1)``
  after every step, so the pixels stay a valid image;
* **L-BFGS**: SciPy's ``minimize(method="L-BFGS-B")`` with bounds ``[0, 1]``
  on every pixel (the bounds keep the range valid; SciPy does the line search).

G starts as the content image (``init="content"``), as uniform noise
(``"noise"``), or as the course's mix ``noise_ratio * noise + (1 - noise_ratio) * C``
(``"mix"``, ratio 0.6). With ``scales > 1`` the problem is first solved on
smaller images (halving the size each time) and the upsampled result starts
the next, larger one (coarse to fine: large structures settle cheaply).

``device="cuda"`` moves the network and the images to the GPU. An Adam step
then stays on the device except for the three cost numbers of the progress bar
(one small copy per step). L-BFGS runs in SciPy on the host, so each of its
evaluations copies G to the device and the gradient back (one image each way).
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

import numpy as np
from PIL import Image
from tqdm import tqdm

from .. import cuda, optim
from ..autograd import no_grad
from ..backend import get_array_module, to_numpy
from ..tensor import Tensor, unwrap
from .costs import content_cost, gram_matrix, style_cost_from_gram, total_cost, total_variation
from .features import FeatureNetwork

if TYPE_CHECKING:  # matplotlib is imported only when a figure is drawn
    from matplotlib.figure import Figure

__all__ = ["style_transfer", "TransferResult", "Objective", "plot_costs", "resize_image"]

INITS = ("content", "noise", "mix")
# Adam's default step, in pixel units (images are in [0, 1]); the one value the CLI and the docs use.
# Each Adam step moves a pixel by about lr (by at most about 3.16 lr with the default betas).
ADAM_LR = 0.05
OPTIMIZERS = ("adam", "lbfgs")


@dataclass
class TransferResult:
    """What :func:`style_transfer` returns.

    ``image``: ``(3, H, W)`` float32 in ``[0, 1]``; ``history``: lists over the
    steps (``"step"``, ``"J"``, ``"J_content"``, ``"J_style"``, ``"scale"``),
    ``J`` being the total with ``alpha``, ``beta`` (and TV) applied.
    """

    image: np.ndarray
    history: dict = field(default_factory=dict)
    J_initial: float = float("nan")
    J_final: float = float("nan")
    J_content_final: float = float("nan")
    J_style_final: float = float("nan")
    seconds: float = 0.0
    settings: dict = field(default_factory=dict)

    def summary(self):
        """The JSON-able numbers the command line prints with ``--json``."""
        return {"J_initial": self.J_initial, "J_final": self.J_final,
                "J_content_final": self.J_content_final, "J_style_final": self.J_style_final,
                "J_reduction": self.J_initial / self.J_final if self.J_final > 0 else float("inf"),
                "seconds": round(self.seconds, 3), "size": list(self.image.shape[1:]),
                "steps": len(self.history.get("J", [])), **self.settings}

    def figure(self):
        return plot_costs(self.history, self.settings.get("alpha", 10), self.settings.get("beta", 40))


def resize_image(img, hw):
    """``(C, H, W)`` float image -> ``(C, *hw)`` (bicubic, per channel, clipped to [0, 1])."""
    if tuple(img.shape[1:]) == tuple(hw):
        return np.ascontiguousarray(img, dtype=np.float32)
    planes = [np.asarray(Image.fromarray(p.astype(np.float32), mode="F").resize((hw[1], hw[0]), Image.BICUBIC))
              for p in img]
    return np.clip(np.stack(planes), 0.0, 1.0).astype(np.float32)


class Objective:
    """``J`` and its pieces for one content/style pair at one image size.

    The content activations and the style Gram matrices are computed once
    here, so each evaluation costs one forward and one backward pass of G.
    """

    def __init__(self, network: FeatureNetwork, content: np.ndarray, style: np.ndarray, content_layer: str,
                 style_layers: Sequence[tuple[str, float]], alpha: float, beta: float, tv_weight: float = 0.0,
                 device: str = "cpu") -> None:
        self.network, self.alpha, self.beta, self.tv_weight = network, alpha, beta, tv_weight
        self.device = device
        self.content_layer, self.style_layers = content_layer, list(style_layers)
        self.layers = list(dict.fromkeys([content_layer] + [n for n, _ in self.style_layers]))
        network.check_layers(self.layers)
        with no_grad():
            # the targets stay on the device: they are compared with G's features every step
            self.target_content = network(Tensor(content[None]).to(device), [content_layer])[content_layer].data
            feats = network(Tensor(style[None]).to(device), [n for n, _ in self.style_layers])
            self.target_grams = {n: (gram_matrix(a).data, a.shape[2] * a.shape[3]) for n, a in feats.items()}

    def __call__(self, x: Tensor) -> tuple[Tensor, Tensor, Tensor]:
        """``x (1, 3, H, W)`` Tensor -> (J, J_content, J_style) scalar Tensors."""
        feats = self.network(x, self.layers)
        j_content = content_cost(self.target_content, feats[self.content_layer])
        j_style = None
        for name, lam in self.style_layers:
            gram, area = self.target_grams[name]
            term = style_cost_from_gram(gram, area, feats[name]) * float(lam)
            j_style = term if j_style is None else j_style + term
        j = total_cost(j_content, j_style, self.alpha, self.beta)
        if self.tv_weight:
            j = j + total_variation(x) * float(self.tv_weight)
        return j, j_content, j_style


def _initial_image(init, content, noise_ratio, rng):
    if init == "content":
        return content.copy()
    noise = rng.uniform(0.0, 1.0, content.shape).astype(np.float32)
    if init == "noise":
        return noise
    return (noise_ratio * noise + (1.0 - noise_ratio) * content).astype(np.float32)


def _scale_sizes(hw, scales):
    """Sizes from coarse to fine, halving each time (at least 16 pixels a side)."""
    sizes = []
    for k in range(scales - 1, -1, -1):
        f = 2 ** k
        sizes.append((max(16, round(hw[0] / f)), max(16, round(hw[1] / f))))
    return sizes


def style_transfer(content: np.ndarray, style: np.ndarray, network: FeatureNetwork | None = None, *,
                   steps: int = 200, alpha: float = 10.0, beta: float = 40.0, content_layer: str | None = None,
                   style_layers: Sequence[tuple[str, float]] | None = None, optimizer: str = "adam",
                   lr: float = ADAM_LR, init: str = "content", noise_ratio: float = 0.6, seed: int = 0,
                   tv_weight: float = 0.0, scales: int = 1, progress: bool = True,
                   device: str = "cpu") -> TransferResult:
    """Generate G with the content of ``content`` and the style of ``style``.

    content : ``(3, H, W)`` float array in ``[0, 1]``; G has its size.
    style : ``(3, H_s, W_s)`` float array in ``[0, 1]``; any size (Gram
        matrices are rescaled to G's area, see :func:`~minicnn.style.costs.style_cost_from_gram`),
        best about the size of ``content``.
    network : a :class:`~minicnn.style.features.FeatureNetwork`; default
        :class:`~minicnn.style.features.RandomMultiScale` (offline).
    content_layer, style_layers : a layer name, and ``[(name, lambda), ...]``;
        default: the network's.
    optimizer : ``"adam"`` (``lr`` in pixel units per step) or ``"lbfgs"``.
    steps : Adam steps, or L-BFGS iterations, in total over all ``scales``
        (each coarser scale gets ``steps // scales``, the finest the rest).
    init, noise_ratio, seed : the starting image (see the module docstring).
    tv_weight : weight of :func:`~minicnn.style.costs.total_variation` (0: off).
    progress : show a tqdm bar with J, J_content, J_style.
    device : ``"cpu"`` or ``"cuda"``; ``"cuda"`` moves ``network`` to the GPU
        in place (``Module.to``). The result is always a NumPy image.

    Returns a :class:`TransferResult`.
    """
    from .features import RandomMultiScale

    content = _check_image(content, "content")
    style = _check_image(style, "style")
    if optimizer not in OPTIMIZERS:
        raise ValueError(f"style_transfer: optimizer must be one of {OPTIMIZERS}, got {optimizer!r}")
    if init not in INITS:
        raise ValueError(f"style_transfer: init must be one of {INITS}, got {init!r}")
    if not (isinstance(steps, (int, np.integer)) and steps >= 1) or not (isinstance(scales, int) and scales >= 1):
        raise ValueError(f"style_transfer: steps and scales must be positive ints, "
                         f"got steps={steps!r}, scales={scales!r}")
    if not 0.0 <= noise_ratio <= 1.0:
        raise ValueError(f"style_transfer: noise_ratio must be in [0, 1], got {noise_ratio}")
    if device not in ("cpu", "cuda"):
        raise ValueError(f"style_transfer: device must be 'cpu' or 'cuda', got {device!r}")
    if device == "cuda":
        cuda.require("style_transfer(device='cuda')")
    network = RandomMultiScale() if network is None else network
    network.to(device)
    content_layer = content_layer or network.default_content_layer
    style_layers = list(style_layers or network.default_style_layers)
    style_layers = [(s, 1.0 / len(style_layers)) if isinstance(s, str) else tuple(s) for s in style_layers]

    rng = np.random.default_rng(seed)
    start = time.perf_counter()
    hw = content.shape[1:]
    sizes = _scale_sizes(hw, scales)
    per_scale = [steps // scales] * (scales - 1) + [steps - (steps // scales) * (scales - 1)]
    history = {"step": [], "J": [], "J_content": [], "J_style": [], "scale": []}
    bar = tqdm(total=steps, desc="style transfer", unit="step", **({} if progress else {"disable": True}))
    G = None
    last = None
    try:
        for k, (size, n_steps) in enumerate(zip(sizes, per_scale)):
            c_k = resize_image(content, size)
            s_hw = _fit(style.shape[1:], max(size))
            objective = Objective(network, c_k, resize_image(style, s_hw), content_layer, style_layers,
                                  alpha, beta, tv_weight, device)
            G = _initial_image(init, c_k, noise_ratio, rng) if G is None else resize_image(G, size)
            if n_steps == 0:
                continue
            run = _run_adam if optimizer == "adam" else _run_lbfgs
            G, last = run(objective, G, n_steps, lr, history, bar, scale=k)
    finally:
        bar.close()
    seconds = time.perf_counter() - start
    j, jc, js = last
    settings = dict(alpha=alpha, beta=beta, optimizer=optimizer, init=init, lr=lr, tv_weight=tv_weight,
                    scales=scales, content_layer=content_layer, style_layers=[list(p) for p in style_layers],
                    seed=seed)
    return TransferResult(image=G, history=history, J_initial=history["J"][0], J_final=j, J_content_final=jc,
                          J_style_final=js, seconds=seconds, settings=settings)


def _fit(hw, long_side):
    """(h, w) scaled so that the longer side is ``long_side``."""
    f = long_side / max(hw)
    return (max(16, round(hw[0] * f)), max(16, round(hw[1] * f)))


def _costs(j, jc, js):
    """The three scalar cost Tensors as Python floats, in one device-to-host copy."""
    xp = get_array_module(j.data)
    return tuple(float(v) for v in to_numpy(xp.stack([t.data.reshape(()) for t in (j, jc, js)])))


def _check_image(img, name):
    arr = to_numpy(unwrap(img))
    if arr.ndim != 3 or arr.shape[0] != 3:
        raise ValueError(f"style_transfer: {name} must be an RGB image (3, H, W), got shape {arr.shape}")
    if arr.dtype.kind != "f" or not np.isfinite(arr).all():
        raise ValueError(f"style_transfer: {name} must hold finite floats in [0, 1] (dtype {arr.dtype})")
    return np.clip(arr, 0.0, 1.0).astype(np.float32)


def _record(history, bar, scale, j, jc, js, advance=True):
    history["step"].append(len(history["J"]))
    history["J"].append(j)
    history["J_content"].append(jc)
    history["J_style"].append(js)
    history["scale"].append(scale)
    bar.set_postfix(J=f"{j:.4g}", J_content=f"{jc:.4g}", J_style=f"{js:.4g}", refresh=not advance)
    if advance:
        bar.update(1)


def _evaluate(objective, G, need_grad):
    """Costs (floats) of the host image ``G (3, H, W)``, and dJ/dG on the host when ``need_grad``."""
    x = Tensor(G[None], requires_grad=need_grad).to(objective.device)
    if not need_grad:
        with no_grad():
            j, jc, js = objective(x)
        return _costs(j, jc, js), None
    j, jc, js = objective(x)
    j.backward()
    return _costs(j, jc, js), to_numpy(x.grad[0])


def _run_adam(objective, G, steps, lr, history, bar, scale):
    """``steps`` Adam steps on the pixels, clipped to [0, 1]; returns (host G, final costs)."""
    x = Tensor(G[None].copy(), requires_grad=True).to(objective.device)
    xp = get_array_module(x.data)
    opt = optim.Adam([x], lr=lr)
    for _ in range(steps):
        opt.zero_grad()
        j, jc, js = objective(x)
        j.backward()
        _record(history, bar, scale, *_costs(j, jc, js))
        opt.step()
        xp.clip(x.data, 0.0, 1.0, out=x.data)  # keep a valid image
    G = to_numpy(x.data[0]).copy()
    final, _ = _evaluate(objective, G, need_grad=False)
    return G, final


def _run_lbfgs(objective, G, steps, lr, history, bar, scale):
    """SciPy L-BFGS-B on the pixels with bounds [0, 1]; ``lr`` is unused.

    SciPy works on host float64 vectors: on the GPU each evaluation copies G
    to the device and dJ/dG back (see :func:`_evaluate`).
    """
    from scipy.optimize import Bounds, minimize

    shape = G.shape
    latest = {}

    def fun(v):
        costs, grad = _evaluate(objective, v.reshape(shape).astype(np.float32), need_grad=True)
        if not latest:  # SciPy evaluates the starting point first: that is J_initial of this scale
            _record(history, bar, scale, *costs, advance=False)
        latest["costs"] = costs
        return costs[0], grad.astype(np.float64).ravel()

    def callback(*_):  # once per L-BFGS iteration (an iteration may evaluate J several times)
        _record(history, bar, scale, *latest["costs"])

    res = minimize(fun, G.astype(np.float64).ravel(), jac=True, method="L-BFGS-B", bounds=Bounds(0.0, 1.0),
                   callback=callback, options={"maxiter": steps, "maxfun": int(steps * 1.5) + 10})
    G = np.clip(res.x.reshape(shape), 0.0, 1.0).astype(np.float32)
    final, _ = _evaluate(objective, G, need_grad=False)
    return G, final


def plot_costs(history: dict[str, list], alpha: float = 10.0, beta: float = 40.0) -> Figure:
    """Figure of J, alpha J_content and beta J_style over the steps (log scale)."""
    from matplotlib.figure import Figure

    fig = Figure(figsize=(6, 3.6), dpi=100)
    ax = fig.add_subplot(1, 1, 1)
    steps = np.asarray(history["step"])

    def positive(values):  # a log axis cannot show 0 (J_content is 0 when G starts as C)
        v = np.asarray(values, dtype=float)
        return np.where(v > 0, v, np.nan)

    ax.semilogy(steps, positive(history["J"]), label="J (total)", lw=2)
    ax.semilogy(steps, positive(alpha * np.asarray(history["J_content"])), label=f"alpha J_content (alpha={alpha:g})")
    ax.semilogy(steps, positive(beta * np.asarray(history["J_style"])), label=f"beta J_style (beta={beta:g})")
    scales = np.asarray(history.get("scale", []))
    for i in np.flatnonzero(np.diff(scales)) + 1 if scales.size else []:
        ax.axvline(steps[i], color="0.7", ls="--", lw=1)
    ax.set_xlabel("step")
    ax.set_ylabel("cost")
    ax.set_title("Style transfer costs")
    ax.legend(fontsize=8)
    ax.grid(True, which="both", alpha=0.3)
    fig.tight_layout()
    return fig
