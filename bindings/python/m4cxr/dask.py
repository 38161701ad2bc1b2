"""Worklists on many machines through Dask (Debian's ``python3-distributed``).

:func:`run` reads the manifest on the client (the format of :mod:`m4cxr.batch`), sends
each item as one task to the cluster, and writes each result, as it arrives, into the
same resumable JSON-lines output as :func:`m4cxr.batch.run`. Every worker loads the
model once (the worker plugin :class:`ModelPlugin`, run again on a restarted worker) and
keeps one session per worker thread. A worker that dies mid-run has its items rescheduled
on another worker by the scheduler; only the client writes, one line per item, so
nothing is lost and nothing is written twice.

Paths (model folder, images) must be readable on every worker at the same path (a
shared file system), and m4cxr must be importable there: :func:`run` puts this package's
folder on PYTHONPATH of the local workers it starts.
"""

from __future__ import annotations

import os
import pathlib
import threading
import uuid
from typing import Any, Dict, Optional, Union, cast

import distributed

import m4cxr
from m4cxr import batch

__all__ = ["ModelPlugin", "PLUGIN_NAME", "run", "run_on_worker"]

PathLike = Union[str, "os.PathLike[str]"]

#: The name the plugin is registered under on every worker.
PLUGIN_NAME = "m4cxr-model"


class ModelPlugin(distributed.WorkerPlugin):
    """Loads the model once per worker (``setup``) and gives each worker thread its own
    session (:meth:`session`)."""

    name = PLUGIN_NAME

    def __init__(self, model: str, dtype: str = "bfloat16", threads: int = 1) -> None:
        self.model_path, self.dtype, self.threads = model, dtype, threads
        self.model: Optional[m4cxr.Model] = None
        self._local = threading.local()

    def setup(self, worker: Any = None) -> None:
        """Loads the model on the worker."""
        self._local = threading.local()
        self.model = m4cxr.Model(self.model_path, dtype=self.dtype, threads=self.threads)

    def teardown(self, worker: Any = None) -> None:
        """Frees the model (and the sessions with it)."""
        if self.model is not None:
            self.model.close()
            self.model = None

    def session(self) -> m4cxr.Session:
        """This worker thread's session of the loaded model."""
        s = getattr(self._local, "session", None)
        if s is None or s.closed:
            assert self.model is not None, "the m4cxr worker plugin has not loaded the model"
            s = self._local.session = self.model.session()
        return s

    def __getstate__(self) -> Dict[str, Any]:  # sent to the workers without a model
        return {"model_path": self.model_path, "dtype": self.dtype, "threads": self.threads}

    def __setstate__(self, state: Dict[str, Any]) -> None:
        self.__dict__.update(state)
        self.model = None
        self._local = threading.local()


def run_on_worker(item: batch.Item) -> Dict[str, Any]:
    """The task of one item, on a worker: its output record."""
    plugin = cast(ModelPlugin, distributed.get_worker().plugins[PLUGIN_NAME])
    return batch.run_item(plugin.session(), item)


def _with_package_on_pythonpath() -> None:
    """Local worker processes inherit the environment: put the folder m4cxr is imported
    from on PYTHONPATH so they import the same package."""
    root = str(pathlib.Path(m4cxr.__file__).resolve().parent.parent)
    paths = [p for p in os.environ.get("PYTHONPATH", "").split(os.pathsep) if p]
    if root not in paths:
        os.environ["PYTHONPATH"] = os.pathsep.join([root] + paths)


def run(manifest: PathLike, out: PathLike, scheduler: Optional[str] = None, model: Optional[PathLike] = None,
        n_workers: int = 2, threads_per_worker: int = 1, dtype: str = "bfloat16", threads: int = 1,
        progress: bool = True, **generation: Any) -> batch.Summary:
    """Runs every line of `manifest` not yet in `out` on a Dask cluster.

    `scheduler`: the address of a running ``dask scheduler`` (``tcp://host:8786``); None
    starts a ``LocalCluster`` of `n_workers` processes with `threads_per_worker` threads.
    `model`: the checkpoint folder, at that path on every worker (default $M4CXR_MODEL),
    loaded with `dtype` and `threads` intra-op threads per worker. `generation`: default
    generation options of every item, as in :func:`m4cxr.batch.run`. An item whose task
    keeps killing workers (the scheduler gives up) is written as an error line.
    """
    batch.check_generation(generation)
    path = model if model is not None else os.environ.get("M4CXR_MODEL")
    if not path:
        raise ValueError("model: give the checkpoint folder (or set M4CXR_MODEL)")
    path = str(pathlib.Path(path).resolve())
    items = batch.read_manifest(manifest)
    cluster = None
    with batch.Output(out) as output:
        work, broken, skipped = batch.pending(items, output, generation)
        errors = broken
        if not work:
            return batch.Summary(errors, errors, skipped)
        if scheduler is None:
            _with_package_on_pythonpath()
            cluster = distributed.LocalCluster(n_workers=n_workers, threads_per_worker=threads_per_worker,
                                               processes=True, dashboard_address=None)
            scheduler = cluster.scheduler_address
        try:
            with distributed.Client(scheduler) as client:
                replies = client.register_worker_plugin(ModelPlugin(path, dtype, threads), name=PLUGIN_NAME)
                failed = {w: r for w, r in (replies or {}).items() if isinstance(r, dict) and r.get("status") != "OK"}
                if failed:  # e.g. no model at that path on a worker: stop before any item is recorded
                    worker, reply = next(iter(failed.items()))
                    raise RuntimeError(f"the m4cxr model could not be loaded on {len(failed)} worker(s), e.g. {worker}: "
                                       f"{reply.get('exception') or reply}")
                futures = {client.submit(run_on_worker, i, key=f"m4cxr-item-{i.line}-{uuid.uuid4().hex}"): i for i in work}
                bar = batch.Progress(len(work)) if progress else None
                for future in distributed.as_completed(futures):
                    item = futures.pop(future)
                    try:
                        record = future.result()
                    except Exception as e:  # e.g. KilledWorker: the item killed every worker it ran on
                        record = batch.Item(item.line, item.id, error=f"{type(e).__name__}: {e}").error_record()
                    output.append(record)
                    errors += "error" in record
                    if bar:
                        bar.item_done("error" in record)
        finally:
            if cluster is not None:
                cluster.close()
        return batch.Summary(len(work) + broken, errors, skipped)
