"""Independent pieces of work on forked worker processes.

Threads share one interpreter lock: on the bundled case about 0.45 s of
each whole-case solve is Python that holds it (building programs,
polishing, verifying, the result numbers), so a second thread only hides
HiGHS's own time behind it.  A forked process has its own interpreter and
inherits the loaded case as it is (copy-on-write, nothing pickled): each
process takes the next mineral from a shared queue when it is free, and
the workers send back their results, which are plain arrays and numbers.  Measured on the 2-core development
machine (``benchmarks/full_case.py``, each run a fresh process): the
bundled case's markets phase 0.48-0.54 s on two processes against
0.64-0.69 s on two threads, the whole case 0.71-0.79 s against
0.89-0.97 s (medians of four invocations).
What forking costs: every page of the inherited heap that a process
writes to afterwards is copied first (about 9 000 page faults in each
process, a few microseconds each on these virtual machines).

:func:`in_processes` is used only where forking is safe
(:func:`forking`): on Linux, from the main thread of a process that runs
no other Python thread.  A worker that dies leaves its unfinished items to
the parent, which solves them itself; an error in a worker is raised in
the parent as it would be in-process.
"""

from __future__ import annotations

import atexit
import os
import pickle
import queue as queue_module
import select
import signal
import sys
import threading
import traceback
import warnings

import numpy as np

from .errors import CaseError, MineqError

#: set to 0 to keep every solve in this process (threads only)
ENV = "MINEQ_PROCESSES"


def forking() -> bool:
    """May this process fork workers now?

    Only on Linux (macOS's system libraries are not fork-safe), from the
    main thread, when no other Python thread runs (a thread holding a lock
    at the fork would leave it held in the child: Dask's workers, a
    caller's thread pool), and unless ``MINEQ_PROCESSES=0``.
    """
    return (
        sys.platform.startswith("linux")
        and hasattr(os, "fork")
        and os.environ.get(ENV, "1") != "0"
        and threading.current_thread() is threading.main_thread()
        and threading.active_count() == 1
    )


#: the most entries the work queue holds: 4 bytes each, filled before the
#: fork, so they must fit in a pipe nobody reads yet; one page (4 KiB) is
#: what Linux gives every pipe, even to a user past pipe-user-pages-soft
QUEUE_ENTRIES = 1024


def _queue(weights: list[float]) -> tuple[int, list[list[int]]]:
    """The work queue of :func:`in_processes`: a pipe's read end holding
    one 4-byte entry per batch of positions, largest weights first, and
    the batches (one position each unless there are more than
    :data:`QUEUE_ENTRIES`).  Every process reads the next entry when it is
    free, so whoever is idle takes the next largest piece of work: the
    weights only order the queue, they need not predict the work well.
    (They did not: sharing the bundled case's units out in advance by
    these guesses gave one process 5.4 of 9.1 s of work.)  Pipe reads of
    4 bytes are atomic, so each entry goes to exactly one reader; the
    write end is closed before the fork, so an empty queue reads as its
    end."""
    order = sorted(range(len(weights)), key=lambda i: (-weights[i], i))
    size = -(-len(order) // QUEUE_ENTRIES) or 1
    batches = [order[k : k + size] for k in range(0, len(order), size)]
    r, w = os.pipe()
    data = memoryview(b"".join(j.to_bytes(4, "little") for j in range(len(batches))))
    try:
        while data:
            data = data[os.write(w, data):]
    except BaseException:
        os.close(r)
        raise
    finally:
        os.close(w)
    return r, batches


def _next(queue: int) -> int | None:
    """The next entry of the work queue, or None when it is empty."""
    got = os.read(queue, 4)
    return int.from_bytes(got, "little") if len(got) == 4 else None


#: workers that had not yet exited when their results were in: reaped later
_UNREAPED: list[int] = []


def _reap(block: bool) -> None:
    for pid in list(_UNREAPED):
        try:
            done, _ = os.waitpid(pid, 0 if block else os.WNOHANG)
        except ChildProcessError:
            done = pid
        if done:
            _UNREAPED.remove(pid)


atexit.register(_reap, True)


def in_processes(fn, items: list, workers: int, weights: list[float], ship, land, aside=None):
    """Yield ``(position, fn(item))`` for every item, in the order they
    finish, computed on ``workers`` processes: this one and ``workers - 1``
    forked from it (call only when :func:`forking` says so).

    Each process takes the next item from a shared queue when it is free
    (:func:`_queue`, largest ``weights`` first).  A worker sends
    ``ship(result)`` (any nesting of dicts, lists and tuples: its float
    arrays travel as one buffer, the rest pickled); ``land(position,
    shipped)`` makes the result again here.  The parent reads the workers'
    results between its own items.  ``aside``, (job, take), has the first
    worker run ``job()`` before it takes an item and this process call
    ``take(value)`` with what it returned: work the caller needs later,
    done beside the parent's share.  What a worker that died took and did
    not send, the parent solves at the end.
    """
    import fcntl  # Unix only, as forking is

    _reap(block=False)
    n = len(items)
    forks = max(0, min(workers, n) - 1)
    if aside is not None and forks < 1:
        aside = None  # no worker: the caller does the job when it needs it
    queue, batches = _queue(weights)
    children = []  # (pid, read fd)
    finished = False
    parent = os.getpid()
    done: set[int] = set()
    try:
        for k in range(forks):
            r, w = os.pipe()
            with warnings.catch_warnings():
                # Python 3.12+ warns of any thread at a fork; HiGHS's and
                # OpenBLAS's own are idle between solves, and the child
                # makes its own (see _child)
                warnings.filterwarnings("ignore", message=".*multi-threaded.*fork", category=DeprecationWarning)
                pid = os.fork()
            if pid == 0:  # pragma: no cover - runs in the child, reported through the pipe
                os.close(r)
                _child(fn, items, batches, queue, ship, w, aside[0] if aside is not None and k == 0 else None, parent)
            os.close(w)
            try:  # room for a few chains' results: a worker seldom waits for the parent to read
                fcntl.fcntl(r, getattr(fcntl, "F_SETPIPE_SZ", 1031), 1 << 20)
            except OSError:  # above the system's limit: the default pipe works, in smaller steps
                pass
            children.append((pid, r))
        inbox = {r: _Inbox(r) for _, r in children}

        def take(block: bool):
            while inbox:
                ready, _, _ = select.select(list(inbox), [], [], None if block else 0)
                if not ready:
                    return
                for r in ready:
                    for msg in inbox[r].read():
                        if msg is None:  # the worker died: what it took and did not send is solved below
                            del inbox[r]
                            break
                        kind, i, body = pickle.loads(msg)
                        if kind == "error":
                            raise body
                        if kind == "aside":
                            aside[1](body)
                        elif kind == "end":
                            del inbox[r]
                            break
                        else:
                            done.add(i)
                            yield i, land(i, unpack(body))

        while (j := _next(queue)) is not None:
            for i in batches[j]:
                done.add(i)
                yield i, fn(items[i])
                yield from take(block=False)
        yield from take(block=True)
        for i in range(n):
            if i not in done:
                yield i, fn(items[i])
        finished = True
    finally:
        os.close(queue)
        for pid, r in children:
            os.close(r)
            if not finished:  # an error or an interruption: stop the workers now
                try:
                    os.kill(pid, signal.SIGKILL)
                except ProcessLookupError:
                    pass
            _UNREAPED.append(pid)
        # a worker that sent everything is exiting; its exit (freeing its
        # copy of the heap) need not hold up the results
        _reap(block=not finished)


def _child(fn, items, batches, queue, ship, w, job=None, parent=None) -> None:  # pragma: no cover - runs in the child
    """A worker: solve the items of the ``queue``'s entries
    (:func:`_queue`) until it is empty and send each result, then run
    ``job`` and send its value; never returns.

    The work runs on a new thread: HiGHS keeps its task scheduler per
    thread, and the parent's scheduler threads do not exist here.  The
    worker ends with its parent (killed, say, by a job scheduler) instead
    of solving on for nobody.
    """
    code = 0
    try:
        import ctypes

        ctypes.CDLL(None, use_errno=True).prctl(1, int(signal.SIGKILL))  # PR_SET_PDEATHSIG
    except (OSError, AttributeError):  # not Linux's C library: the broken pipe ends it after its chain
        pass
    if parent is not None and os.getppid() != parent:  # the parent died before the line above
        os._exit(1)

    # results go out on a thread of their own: a pipe holds 1 MiB, the
    # parent reads between its own items, and a linked market's chain
    # takes it seconds; writing here, a worker whose results filled the
    # pipe stopped solving until then (a second of the bundled case's
    # three, measured)
    outbox: queue_module.SimpleQueue = queue_module.SimpleQueue()
    broken = threading.Event()

    def sender() -> None:
        while (data := outbox.get()) is not None:
            view = memoryview(data)
            try:
                while view:
                    view = view[os.write(w, view):]
            except OSError:  # the parent is gone or gave up
                broken.set()
                return

    def send(obj) -> None:
        if broken.is_set():
            raise BrokenPipeError("the parent stopped reading")
        body = pickle.dumps(obj, protocol=pickle.HIGHEST_PROTOCOL)
        outbox.put(len(body).to_bytes(8, "little") + body)

    def work() -> None:
        nonlocal code
        try:
            run()
        except BaseException:  # the pipe broke: the parent is gone or gave up
            code = 1

    def run() -> None:
        nonlocal code
        if job is not None:
            # first: the queue shares the rest out around it (at the end it
            # lengthened the country case's solve by its own time, about
            # 1 s: nobody was left to take its place).  Its value (the
            # case's JSON, megabytes) goes out by the sender thread, so a
            # full pipe holds that thread, not this worker
            try:
                send(("aside", -1, job()))
            except Exception:  # the parent does the job itself when it needs it
                pass
        for i in (i for j in iter(lambda: _next(queue), None) for i in batches[j]):
            try:
                out = ship(fn(items[i]))
            except (MineqError, CaseError) as err:  # the user's to read, as in-process
                send(("error", i, MineqError(str(err))))
                code = 1
                return
            except BaseException as err:  # a bug: its traceback, raised in the parent
                send(("error", i, RuntimeError(f"worker process {os.getpid()} failed:\n{''.join(traceback.format_exception(err))}")))
                code = 1
                return
            send(("done", i, pack(out)))
        send(("end", -1, None))

    try:
        signal.signal(signal.SIGINT, signal.SIG_DFL)  # Ctrl-C ends a worker at once; the parent cleans up
        out = threading.Thread(target=sender)
        out.start()
        t = threading.Thread(target=work)
        t.start()
        t.join()
        outbox.put(None)
        out.join()
        if broken.is_set():
            code = 1
    except BaseException:
        code = 1
    finally:
        os._exit(code)


class _Inbox:
    """Messages from one worker's pipe: an 8-byte length, then a pickle."""

    def __init__(self, fd: int):
        self.fd, self.buf = fd, bytearray()

    def read(self) -> list:
        """The messages complete after one read (call when the pipe is
        readable); None last when the worker closed it."""
        chunk = os.read(self.fd, 1 << 20)
        self.buf += chunk
        out, at, buf = [], 0, self.buf
        with memoryview(buf) as view:
            while len(buf) - at >= 8:
                n = int.from_bytes(view[at:at + 8], "little")
                if len(buf) - at < 8 + n:
                    break
                out.append(bytes(view[at + 8:at + 8 + n]))
                at += 8 + n
        del buf[:at]
        if not chunk:
            out.append(None)
        return out


class _Slot:
    """Where an array sat in a packed structure."""

    __slots__ = ("start", "shape")

    def __init__(self, start: int, shape: tuple):
        self.start, self.shape = start, shape

    def __reduce__(self):
        return (_Slot, (self.start, self.shape))


def _mapped(o, leaf):
    """``o`` with every element of its dicts, lists and tuples that is
    none of those replaced by ``leaf(element)``."""
    t = type(o)
    if t is dict:
        return {k: _mapped(v, leaf) for k, v in o.items()}
    if t is list:
        return [_mapped(v, leaf) for v in o]
    if t is tuple:
        return tuple(_mapped(v, leaf) for v in o)
    return leaf(o)


def pack(obj) -> tuple:
    """``obj`` as (skeleton, buffer): every float64 array inside its
    dicts, lists and tuples moved into one buffer.  Pickling thousands of
    small arrays one by one costs ten times more."""
    arrays: list[np.ndarray] = []
    size = [0]

    def strip(o):
        if type(o) is np.ndarray and o.dtype == np.float64:
            slot = _Slot(size[0], o.shape)
            arrays.append(o.ravel())
            size[0] += o.size
            return slot
        return o

    skeleton = _mapped(obj, strip)
    return skeleton, (np.concatenate(arrays) if arrays else np.zeros(0))


def unpack(packed: tuple):
    """The inverse of :func:`pack` (arrays are views of one buffer)."""
    skeleton, buf = packed

    def fill(o):
        if type(o) is _Slot:
            n = 1
            for d in o.shape:
                n *= d
            return buf[o.start:o.start + n].reshape(o.shape)
        return o

    return _mapped(skeleton, fill)
