"""O(n) rolling moments without catastrophic cancellation.

Plain cumulative sums (``cumsum(x)[i] - cumsum(x)[i-w]``) lose every digit that
the running total has above the window's own variation: BTC at 60,000 with
0.1 ticks over a million points leaves nothing of a rolling variance. Here the
series is cut into blocks of length ``window``; every window is the tail of one
block plus the head of the next, so it only needs prefix/suffix sums *within* a
block, of values centred on that block's first value. The two halves are merged with
the pairwise update of Chan, Golub & LeVeque (1983). Cost: a handful of
vectorised cumsums, no Python loop over windows, error bounded by the block's
own spread rather than the series' level or length.

Causal bit for bit: the output at i is computed from x[..i] only (the centre is
a block's *first* finite value, the zero threshold is the window's own rounding
scale), so appending or changing later data never moves an earlier value, not
even in the last digit. Backtests rely on this to have no look-ahead at all.

Convention (same as pandas ``rolling(window)`` with ``min_periods=window``):
``out[i]`` covers ``x[i-window+1 : i+1]``; the first ``window-1`` outputs and
any window containing a non-finite value (NaN, +-inf) are NaN.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from quant_platform.analytics.errors import ArrayLike, as_1d, check_window, same_length, wrap_like

__all__ = [
    "rolling_corr",
    "rolling_cov",
    "rolling_mean",
    "rolling_std",
    "rolling_sum",
    "rolling_var",
]

_EPS = float(np.finfo(np.float64).eps)
# A second moment below this multiple of its rounding scale is indistinguishable
# from zero: report the window as constant instead of a noise-driven number.
_ZERO_TOL = 16.0 * _EPS


@dataclass(frozen=True, slots=True)
class _Blocked:
    """One series cut into blocks of `w`, centred per block, missing values zeroed."""

    z: np.ndarray  # (nb, w) values centred on `ref`, 0 where missing (for block heads)
    ref: np.ndarray  # (nb,) each block's first finite value
    zt: np.ndarray  # (nb, w) values centred on `ref_t`, 0 where missing (for block tails)
    ref_t: np.ndarray  # (nb,) each block's last finite value
    invalid: np.ndarray  # (n,) windows that are incomplete or hold a non-finite value

    def ref_a(self) -> np.ndarray:
        """Centre of part A (the previous block's tail) for windows ending in each block.

        A window that ends in block b holds the last value of block b-1 whenever it
        holds any of that block, and the first value of block b always: centring each
        part on a value inside the window keeps rounding at the window's own scale (a
        large value just before the window cannot swamp it).
        """
        return np.concatenate([self.ref[:1], self.ref_t[:-1]])


def _block(x: np.ndarray, w: int) -> _Blocked:
    n = x.size
    nb = max(1, -(-n // w))
    finite = np.isfinite(x)
    invalid = np.zeros(n, dtype=bool)
    invalid[: w - 1] = True
    if finite.all() and nb * w == n:  # fast path: no copies beyond the centring
        xb = x.reshape(nb, w)
        ref, ref_t = xb[:, 0].copy(), xb[:, -1].copy()
        return _Blocked(
            z=xb - ref[:, None], ref=ref, zt=xb - ref_t[:, None], ref_t=ref_t, invalid=invalid
        )
    padded = np.zeros(nb * w)
    padded[:n] = np.where(finite, x, 0.0)
    ok = np.zeros(nb * w, dtype=bool)
    ok[:n] = finite
    xb, okb = padded.reshape(nb, w), ok.reshape(nb, w)
    rows = np.arange(nb)
    first = np.argmax(okb, axis=1)  # first finite column (0 when none: all zeroed anyway)
    last = (w - 1) - np.argmax(okb[:, ::-1], axis=1)
    ref, ref_t = xb[rows, first], xb[rows, last]
    z = xb - ref[:, None]
    z[~okb] = 0.0
    zt = xb - ref_t[:, None]
    zt[~okb] = 0.0
    if not finite.all():
        bad_cum = np.concatenate([[0], np.cumsum(~finite, dtype=np.int64)])
        lo = np.maximum(np.arange(n) - w + 1, 0)
        invalid |= bad_cum[1:] - bad_cum[lo] > 0
    return _Blocked(z=z, ref=ref, zt=zt, ref_t=ref_t, invalid=invalid)


def _split_sums(zt: np.ndarray, z: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Sums over the two parts of each window ending at block b, column j.

    Part B is the head of block b (columns 0..j of `z`): a cumsum inside the block.
    Part A is the tail of block b-1 (columns j+1..w-1 of `zt`): a reversed cumsum,
    summed directly (no block-total-minus-head difference to cancel).
    """
    head = np.cumsum(z, axis=1)
    rev = np.cumsum(zt[:, ::-1], axis=1)[:, ::-1]  # rev[:, j] = sum of columns j..w-1
    part_a = np.zeros_like(z)
    part_a[1:, :-1] = rev[:-1, 1:]
    return part_a, head


def _weights(w: int) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Per-column counts of the two parts: n_A = w-1-j, n_B = j+1, merge factor, 1/n_A."""
    j = np.arange(w, dtype=np.float64)
    n_a = (w - 1) - j
    n_b = j + 1.0
    return n_a, n_b, n_a * n_b / w, 1.0 / np.maximum(n_a, 1.0)


@dataclass(frozen=True, slots=True)
class _Moments:
    b: _Blocked
    s_a: np.ndarray  # centred sums of the two parts
    s_b: np.ndarray
    d: np.ndarray  # mean(A) - mean(B)
    m2: np.ndarray  # (n,) sum of squared deviations, zeroed below rounding level

    def mean(self, n: int, w: int) -> np.ndarray:
        n_a = _weights(w)[0]
        ref_b = self.b.ref[:, None]
        dref = self.b.ref_a()[:, None] - ref_b
        total = n_a * dref
        total += self.s_a
        total += self.s_b
        total *= 1.0 / w
        total += ref_b
        return total.ravel()[:n]


def _moments(x: np.ndarray, w: int, b: _Blocked | None = None) -> _Moments:
    b = _block(x, w) if b is None else b
    _, n_b, f, inv_a = _weights(w)
    inv_b = 1.0 / n_b
    s_a, s_b = _split_sums(b.zt, b.z)
    q_a, q_b = _split_sums(np.square(b.zt), np.square(b.z))
    dref = b.ref_a()[:, None] - b.ref[:, None]
    # rounding scale of each window: its two parts' centred sums of squares + merge
    # term (the window's own data only, so the zero test stays causal). The merge
    # term is weighted by its own factor f = n_A*n_B/w, which is 0 when part A is
    # empty: then the previous block's last value (ref_a) lies outside the window,
    # and a large one must not scale the zero test of a near-constant window.
    thr = f * (dref * dref)
    thr += q_a
    thr += q_b
    thr *= _ZERO_TOL * w
    # d = mean(A) - mean(B) from the block centres plus the centred part means
    d = s_a * inv_a
    t = s_b * inv_b
    d -= t
    d += dref
    # within-part sums of squared deviations, then Chan's merge term
    np.multiply(s_a, s_a, out=t)
    t *= inv_a
    q_a -= t
    np.multiply(s_b, s_b, out=t)
    t *= inv_b
    q_b -= t
    q_a += q_b
    np.multiply(d, d, out=t)
    t *= f
    q_a += t
    np.putmask(q_a, q_a <= thr, 0.0)
    return _Moments(b=b, s_a=s_a, s_b=s_b, d=d, m2=q_a.ravel()[: x.size])


def _mask(out: np.ndarray, invalid: np.ndarray) -> np.ndarray:
    out = np.asarray(out, dtype=np.float64)
    out[invalid] = np.nan
    return out


def rolling_sum(x: ArrayLike, window: int) -> np.ndarray:
    """Rolling sum (block-centred, so large levels do not swamp small windows)."""
    w = check_window(window)
    arr = as_1d(x)
    b = _block(arr, w)
    n_a = _weights(w)[0]
    s_a, s_b = _split_sums(b.zt, b.z)
    ref_b = b.ref[:, None]
    ref_a = b.ref_a()[:, None]
    total = w * ref_b + n_a * (ref_a - ref_b) + s_a + s_b
    return wrap_like(_mask(total.ravel()[: arr.size], b.invalid), x)


def rolling_mean(x: ArrayLike, window: int) -> np.ndarray:
    """Rolling arithmetic mean."""
    w = check_window(window)
    arr = as_1d(x)
    m = _moments(arr, w)
    return wrap_like(_mask(m.mean(arr.size, w), m.b.invalid), x)


def rolling_var(x: ArrayLike, window: int, ddof: int = 1) -> np.ndarray:
    """Rolling variance with `ddof` (1 = sample variance, as pandas). NaN if window <= ddof.

    Exactly 0.0 for windows whose variance is below rounding level (constant windows).
    """
    w = check_window(window)
    arr = as_1d(x)
    m = _moments(arr, w)
    denom = w - ddof
    out = m.m2 / denom if denom > 0 else np.full(arr.size, np.nan)
    return wrap_like(_mask(out, m.b.invalid), x)


def rolling_std(x: ArrayLike, window: int, ddof: int = 1) -> np.ndarray:
    """Rolling standard deviation; see :func:`rolling_var`."""
    w = check_window(window)
    arr = as_1d(x)
    m = _moments(arr, w)
    denom = w - ddof
    out = np.sqrt(m.m2 / denom) if denom > 0 else np.full(arr.size, np.nan)
    return wrap_like(_mask(out, m.b.invalid), x)


def _cross(x: np.ndarray, y: np.ndarray, w: int) -> tuple[_Moments, _Moments, np.ndarray]:
    """Moments of x and y plus the co-moment sum((x-mx)(y-my)) per window."""
    bx, by = _block(x, w), _block(y, w)
    mx = _moments(x, w, bx)
    my = _moments(y, w, by)
    _, n_b, f, inv_a = _weights(w)
    p_a, p_b = _split_sums(bx.zt * by.zt, bx.z * by.z)
    t = mx.s_a * my.s_a
    t *= inv_a
    p_a -= t
    np.multiply(mx.s_b, my.s_b, out=t)
    t /= n_b
    p_b -= t
    p_a += p_b
    np.multiply(mx.d, my.d, out=t)
    t *= f
    p_a += t
    c = p_a
    invalid = bx.invalid | by.invalid
    return mx, my, _mask(c.ravel()[: x.size], invalid)


def rolling_cov(x: ArrayLike, y: ArrayLike, window: int, ddof: int = 1) -> np.ndarray:
    """Rolling covariance; NaN where either series has a non-finite value in the window."""
    w = check_window(window)
    ax, ay = as_1d(x, "x"), as_1d(y, "y")
    same_length(ax, ay, "x, y")
    _, _, c = _cross(ax, ay, w)
    denom = w - ddof
    out = c / denom if denom > 0 else np.full(ax.size, np.nan)
    return wrap_like(out, x)


def rolling_corr(x: ArrayLike, y: ArrayLike, window: int) -> np.ndarray:
    """Rolling Pearson correlation; NaN where either window is constant or non-finite."""
    w = check_window(window)
    ax, ay = as_1d(x, "x"), as_1d(y, "y")
    same_length(ax, ay, "x, y")
    mx, my, c = _cross(ax, ay, w)
    with np.errstate(invalid="ignore", divide="ignore"):
        denom = np.sqrt(mx.m2 * my.m2)
        out = np.where(denom > 0, c / np.where(denom > 0, denom, 1.0), np.nan)
    out = np.clip(out, -1.0, 1.0)
    return wrap_like(_mask(out, mx.b.invalid | my.b.invalid), x)


def rolling_mean_std(x: np.ndarray, w: int, ddof: int = 1) -> tuple[np.ndarray, np.ndarray]:
    """Mean and std from one pass (used by zscore); invalid windows are NaN in both."""
    m = _moments(x, w)
    denom = w - ddof
    std = np.sqrt(m.m2 / denom) if denom > 0 else np.full(x.size, np.nan)
    return _mask(m.mean(x.size, w), m.b.invalid), _mask(std, m.b.invalid)
