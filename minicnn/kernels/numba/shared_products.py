"""Work sharing for the Winograd blocks' matrix products (:mod:`.winograd`).

Why: at 256 or more input channels each worker thread gets one block of tiles
(more blocks would make every block read all of ``U`` again, and thinner
products run slower in BLAS).  With one block per thread the threads cannot
even out by taking blocks, and on the development VM one core often runs
10-15 % slower than the other for a while: on the 8,256,14x14 layer one thread
was busy 4.1-4.7 ms while the other took 4.7-5.5, the faster one idle for the
difference.

How: a block's products are cut into chunks of transform cells: one large
chunk first, then a tail of small ones (:func:`chunks`).  The owner of a block
publishes its operands once its input tiles are transformed and takes chunks
from the front; a thread with nothing of its own left takes chunks of any
other published block from the *back*, so the owner's large chunk stays one
BLAS call (cutting every block into small chunks cost 6 % in the products and
idle time when the threads were even).  Before its output transform a thread
waits until every chunk of its own block is done, by whichever thread.

Nothing can wait forever: a thread waits only for chunks already being
computed (a chunk is taken and finished without waiting on anything), and a
chunk that raises still counts as done, so its block's owner goes on and the
error reaches the caller through :func:`.threads.run_jobs`.
"""

from __future__ import annotations

import threading


def chunks(cells, tail, size):
    """Cell ranges ``(x0, x1)`` covering ``range(cells)``: the first ``cells - tail`` cells as one chunk,
    then the last ``tail`` cells in chunks of ``size`` (all one chunk when ``tail`` is 0)."""
    tail = min(max(tail, 0), cells - 1)
    out = [(0, cells - tail)]
    out += [(x, min(x + size, cells)) for x in range(cells - tail, cells, size)]
    return out


class SharedProducts:
    """The products of ``n_blocks`` blocks of ``n_chunks`` chunks each; ``product(operands, k)`` computes
    chunk ``k`` of the block whose ``operands`` (whatever :meth:`run` was given) it gets."""

    def __init__(self, n_blocks, n_chunks, product):
        self.n_chunks, self.product = n_chunks, product
        self.operands = [None] * n_blocks
        self.front = [0] * n_blocks  # the owner's next chunk
        self.back = [n_chunks] * n_blocks  # one past the next chunk another thread may take
        self.done = [0] * n_blocks
        self.published = []  # blocks in the order their operands came
        self.cv = threading.Condition()

    def _next(self, own):
        """``(block, chunk)`` to compute next, or None: the own block's from the front, else another
        published block's from the back."""
        if self.front[own] < self.back[own]:
            self.front[own] += 1
            return own, self.front[own] - 1
        for blk in self.published:
            if self.front[blk] < self.back[blk]:
                self.back[blk] -= 1
                return blk, self.back[blk]
        return None

    def run(self, blk, operands):
        """Publish block ``blk``'s operands, compute chunks (its own, then others'), and return when
        all of ``blk``'s chunks are done."""
        with self.cv:
            self.operands[blk] = operands
            self.published.append(blk)
            self.cv.notify_all()
        while True:
            with self.cv:
                while True:
                    job = self._next(blk)
                    if job is not None or self.done[blk] == self.n_chunks:
                        break
                    self.cv.wait()  # own chunks in other hands and nothing else to take: until one is done
            if job is None:
                return
            target, k = job
            try:
                self.product(self.operands[target], k)
            finally:
                with self.cv:
                    self.done[target] += 1
                    self.cv.notify_all()
