"""Worklists: run a JSON-lines manifest of studies into a JSON-lines results file, as
``m4cxr batch`` does, resumable.

Each manifest line is one JSON object::

    {"id": "s1", "task": "report", "images": ["front.png", "lateral.png"]}
    {"id": "s2", "task": "ground", "image": "cxr.png", "phrase": "left pleural effusion"}
    {"id": "s3", "task": "identify", "image": "cxr.png", "box": [120, 340, 560, 900], "what": "region"}

``task`` is one of the CLI's task commands (``report``, ``classify``, ``ground``,
``detect``, ``identify``, ``vqa``, ...) and the other keys are that command's options
without the dashes, as the task table names them (``cli``): ``"phrase"``,
``"prior_report"``, a list under the plural for a repeatable option (``"images"``,
``"prior_images"``, ``"boxes"``), and the generation options ``max_new_tokens``,
``temperature``, ``top_p``, ``top_k``, ``seed``, ``logprobs``, ``constrained``. The
command's task is chosen among its tasks as the CLI chooses it (the one whose required
options are all given and that knows every given one). Relative paths are relative to
the manifest's folder.

Each output line is the task's JSON result (the library's ``m4cxr_result_json``) with
``"id"``, ``"line"`` (the manifest line number) and ``"images"``, or
``{"id", "line", "error"}`` for a line that could not run (broken JSON, unknown task,
unreadable image, ...; ``"id"`` is null when the line has no usable id). Lines are
appended whole, each by one ``os.write`` on an ``O_APPEND`` file, so a crash or
``kill -9`` loses at most the items in flight and never leaves half a line; running
again skips the ids (and id-less error lines) already in the output, and cuts off a
partial last line left by an older writer (its item is redone).
"""

from __future__ import annotations

import json
import os
import pathlib
import sys
import threading
import time
from dataclasses import dataclass, field
from typing import Any, Callable, Dict, Iterable, List, Optional, Sequence, Set, Tuple, Union

import m4cxr

__all__ = ["Item", "ManifestError", "Output", "Progress", "Summary", "parse_line", "read_manifest", "run", "run_item",
           "default_concurrency", "memory_concurrency", "GENERATION_KEYS", "check_generation", "pending"]

PathLike = Union[str, "os.PathLike[str]"]

#: Manifest keys that are generation options (with how each is read); every other key
#: is a task option of the task table.
GENERATION_KEYS: Dict[str, Callable[[Any], Any]] = {
    "max_new_tokens": int, "temperature": float, "top_p": float, "top_k": int, "seed": int,
    "logprobs": int, "constrained": bool,
}
_SAMPLING = ("temperature", "top_p", "top_k", "seed")  # any of them turns sampling on, as in the CLI


class ManifestError(ValueError):
    """A manifest line that cannot become a task call (the message says why)."""


@dataclass
class Item:
    """One manifest line: ``task`` (the table's task name) and ``args`` (its argument
    names -> values) ready for :meth:`m4cxr.Session` task methods, ``generation`` the
    generation keywords; ``error`` set instead when the line cannot run."""

    line: int
    id: Union[str, int, None]
    task: str = ""
    args: Dict[str, Any] = field(default_factory=dict)
    generation: Dict[str, Any] = field(default_factory=dict)
    images: List[str] = field(default_factory=list)
    error: str = ""
    conversation: str = "fresh"  # the table's: "continue" for a task that continues the session's

    def error_record(self) -> Dict[str, Any]:
        """The output line of an item that failed."""
        return {"id": self.id, "line": self.line, "error": self.error}


def _table_options() -> Dict[str, Set[str]]:
    """Every task option of the table (its CLI flag) -> the types it has."""
    out: Dict[str, Set[str]] = {}
    for t in m4cxr.task_table()["tasks"]:
        for a in t["args"]:
            out.setdefault(a["cli"], set()).add(a["type"])
    return out


_LIST_TYPES = {"images", "boxes", "texts"}


def _flag_of(key: str, options: Dict[str, Set[str]]) -> Tuple[str, bool]:
    """The CLI flag a manifest key names, and whether the key is the plural of a
    repeatable option ("images" -> --image, "boxes" -> --box)."""
    dashed = key.replace("_", "-")
    if "--" + dashed in options:
        return "--" + dashed, False
    for cut in (1, 2):
        if len(dashed) > cut and dashed.endswith("s"):
            singular = "--" + dashed[:-cut]
            if singular in options and options[singular] & _LIST_TYPES:
                return singular, True
    raise ManifestError(f'unknown key "{key}" (the task command\'s options without dashes, or a generation option)')


def _is_box(v: Any) -> bool:
    return isinstance(v, list) and len(v) == 4 and all(isinstance(x, (int, float)) and not isinstance(x, bool)
                                                       for x in v)


def _values(key: str, v: Any, types: Set[str], plural: bool) -> List[Any]:
    """A key's value(s) as the CLI would receive them, one per occurrence of the flag."""
    if "flag" in types:
        if not isinstance(v, bool):
            raise ManifestError(f'"{key}" expects true or false')
        return [True] if v else []
    if "boxes" in types:
        boxes = [v] if _is_box(v) else v
        if not isinstance(boxes, list) or not boxes or not all(_is_box(b) for b in boxes):
            raise ManifestError(f'"{key}" expects boxes [x1, y1, x2, y2] of 4 numbers, got {json.dumps(v)}')
        return [tuple(float(x) for x in b) for b in boxes]
    if isinstance(v, list):
        if not plural and not types & _LIST_TYPES:
            raise ManifestError(f'"{key}" takes one value, not a list')
        if not v:
            raise ManifestError(f'"{key}" is an empty list')
        items = v
    elif plural:
        raise ManifestError(f'"{key}" expects a list')
    else:
        items = [v]
    out = []
    for x in items:
        if isinstance(x, bool) or not isinstance(x, (str, int, float)):
            raise ManifestError(f'"{key}" expects a string or a number, got {json.dumps(x)}')
        text = x if isinstance(x, str) else json.dumps(x)
        if "\0" in text:
            raise ManifestError(f'"{key}" holds a NUL character')
        if "texts" in types and "," in text:
            raise ManifestError(f'"{key}": {text!r} holds a comma; give the names as a list')
        out.append(text)
    return out


def _pick(command: str, given: Dict[str, List[Any]]) -> Dict[str, Any]:
    """The task of `command` the given flags select, as the CLI's pick_task."""
    needs = []
    for t in m4cxr.task_table()["tasks"]:
        if t["cli"]["command"] != command:
            continue
        known = {a["cli"] for a in t["args"]}
        required = [a["cli"] for a in t["args"] if "default" not in a and "cli_default" not in a]
        select = t["cli"].get("select")
        ok = all(f in given for f in required) and all(f in known for f in given) and (not select or select in given)
        if ok:
            return dict(t)
        needs.append(f"{t['name']}: " + " ".join(required + ([select] if select else [])))
    raise ManifestError(f"{command} needs the options of one of its tasks: " + "; ".join(needs))


def _text_or_file(flag: str, value: str, base: pathlib.Path) -> str:
    """A cli_file_or_text value: the file's text when it names a file, else the text."""
    p = pathlib.Path(value)
    p = p if p.is_absolute() else base / p
    if " " not in value and p.is_file():
        return p.read_text()
    return value


def parse_line(text: str, line: int, base: PathLike = ".") -> Item:
    """One manifest line (1-based number `line`, paths relative to `base`) as an
    :class:`Item`; a line that cannot run comes back with ``error`` set (never raises)."""
    try:
        j = json.loads(text)
    except (ValueError, RecursionError) as e:  # RecursionError: nested too deep for Python's parser
        return Item(line, None, error=f"not a JSON line: {type(e).__name__}: {e}")
    if not isinstance(j, dict):
        return Item(line, None, error=f"a manifest line must be a JSON object, got {type(j).__name__}")
    ident = j.get("id")
    if not ((isinstance(ident, str) and ident) or (isinstance(ident, int) and not isinstance(ident, bool))):
        return Item(line, None, error='the line needs an "id": a non-empty string or an integer')
    item = Item(line, ident)
    try:
        _fill(item, j, pathlib.Path(base))
    except ManifestError as e:
        item.error = str(e)
    except (ValueError, TypeError, OSError) as e:
        item.error = f"{type(e).__name__}: {e}"
    return item


def _fill(item: Item, j: Dict[str, Any], base: pathlib.Path) -> None:
    command = j.get("task")
    if not isinstance(command, str):
        raise ManifestError('the line needs a "task" (a task command: report, classify, ...) as a string')
    table = m4cxr.task_table()["tasks"]
    if not any(t["cli"]["command"] == command for t in table):
        raise ManifestError(f"unknown task '{command}' (a task command of m4cxr --help)")
    options = _table_options()
    given: Dict[str, List[Any]] = {}
    for key, v in j.items():
        if key in ("id", "task"):
            continue
        if key in GENERATION_KEYS:
            if key == "constrained" and not isinstance(v, bool):
                raise ManifestError('"constrained" expects true or false')
            if key != "constrained" and (isinstance(v, bool) or not isinstance(v, (int, float))):
                raise ManifestError(f'"{key}" expects a number, got {json.dumps(v)}')
            if key in ("max_new_tokens", "top_k", "seed", "logprobs") and v != int(v):
                raise ManifestError(f'"{key}" expects an integer, got {json.dumps(v)}')
            item.generation[key] = GENERATION_KEYS[key](v)
            continue
        flag, plural = _flag_of(key, options)
        values = _values(key, v, options[flag], plural)
        if flag in given:
            raise ManifestError(f'"{key}" names an option given twice')
        if values:
            given[flag] = values
    if any(k in item.generation for k in _SAMPLING):
        item.generation["do_sample"] = True
    task = _pick(command, given)
    item.task = task["name"]
    item.conversation = task.get("conversation", "fresh")
    for a in task["args"]:
        if a["cli"] in given:
            values = given[a["cli"]]
        elif "cli_default" in a:
            values = [a["cli_default"]]
        else:
            continue  # the table's default
        kind = a["type"]
        if kind in ("image", "images"):
            values = [str(v if pathlib.Path(v).is_absolute() else base / v) for v in values]
            if a["cli"] == "--image":
                item.images = list(values)
        if kind not in ("images", "texts", "boxes") and len(values) > 1:
            raise ManifestError(f"{a['cli'][2:].replace('-', '_')} may be given once")
        if kind == "text" and a.get("cli_file_or_text"):
            values = [_text_or_file(a["cli"], values[0], base)]
        if kind == "flag":
            item.args[a["name"]] = True
        elif kind in ("images", "texts", "boxes"):
            item.args[a["name"]] = list(values)
        else:
            item.args[a["name"]] = values[0]


def read_manifest(path: PathLike) -> List[Item]:
    """Every non-blank line of the manifest as an :class:`Item` (relative paths against
    its folder); a second line with an id already seen is an error line with id None."""
    path = pathlib.Path(path)
    base = path.resolve().parent
    items: List[Item] = []
    first: Dict[str, int] = {}
    with open(path, encoding="utf-8", errors="replace") as f:
        for number, text in enumerate(f, 1):
            if not text.strip():
                continue
            item = parse_line(text, number, base)
            if item.id is not None:
                key = json.dumps(item.id)
                if key in first:
                    item = Item(number, None, error=f"duplicate id {key} (first on line {first[key]})")
                else:
                    first[key] = number
            items.append(item)
    return items


class Output:
    """The results file: what it holds (ids, and lines of id-less errors), then appends
    of whole lines (one ``os.write`` each, any thread)."""

    def __init__(self, path: PathLike) -> None:
        self.path = pathlib.Path(path)
        self.ids: Set[str] = set()
        self.lines: Set[int] = set()
        self._lock = threading.Lock()
        self._cut_partial_line()
        if self.path.exists():
            with open(self.path, encoding="utf-8", errors="replace") as f:
                for text in f:
                    try:
                        j = json.loads(text)
                    except (ValueError, RecursionError):
                        print(f"m4cxr.batch: ignoring a line of {self.path} that is not JSON", file=sys.stderr)
                        continue
                    if not isinstance(j, dict):
                        continue
                    if j.get("id") is not None:
                        self.ids.add(json.dumps(j["id"]))
                    elif isinstance(j.get("line"), int):
                        self.lines.add(j["line"])
        self._fd = os.open(self.path, os.O_WRONLY | os.O_APPEND | os.O_CREAT | os.O_CLOEXEC, 0o644)

    def _cut_partial_line(self) -> None:
        if not self.path.is_file():
            return
        data = self.path.read_bytes()
        if not data or data.endswith(b"\n"):
            return
        keep = data.rfind(b"\n") + 1
        os.truncate(self.path, keep)
        print(f"m4cxr.batch: dropped a partial last line of {self.path} (its item is done again)", file=sys.stderr)

    def done(self, item: Item) -> bool:
        """Whether the output already has this item's line."""
        return json.dumps(item.id) in self.ids if item.id is not None else item.line in self.lines

    def append(self, record: Dict[str, Any]) -> None:
        """Writes one record as one complete line."""
        data = (json.dumps(record, ensure_ascii=False) + "\n").encode("utf-8")
        with self._lock:
            view = memoryview(data)
            while view:
                view = view[os.write(self._fd, view):]
            if record.get("id") is not None:
                self.ids.add(json.dumps(record["id"]))
            else:
                self.lines.add(int(record["line"]))

    def close(self) -> None:
        """Closes the file."""
        if self._fd >= 0:
            os.close(self._fd)
            self._fd = -1

    def __enter__(self) -> "Output":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


class Progress:
    """Progress on a stream (stderr): a bar with rate and ETA on a terminal, plain lines
    (at most one a second, and the last) otherwise."""

    def __init__(self, total: int, stream: Any = None) -> None:
        self.total, self.done, self.errors = total, 0, 0
        self.stream = stream if stream is not None else sys.stderr
        self.tty = bool(getattr(self.stream, "isatty", lambda: False)())
        self._start = time.monotonic()
        self._last = 0.0
        self._lock = threading.Lock()

    def item_done(self, error: bool) -> None:
        """Counts one finished item and shows the progress."""
        with self._lock:
            self.done += 1
            self.errors += int(error)
            now = time.monotonic()
            if not self.tty and self.done < self.total and now - self._last < 1.0:
                return
            self._last = now
            elapsed = now - self._start
            rate = self.done / elapsed if elapsed > 0 else 0.0
            left = round((self.total - self.done) / rate) if rate > 0 else 0
            eta = f"{left // 3600}:{left // 60 % 60:02}:{left % 60:02}"
            if self.tty:
                n = 30 * self.done // max(self.total, 1)
                self.stream.write(f"\r[{'#' * n}{' ' * (30 - n)}] {self.done}/{self.total}, {self.errors} errors, "
                                  f"{rate:.2f} items/s, ETA {eta} " + ("\n" if self.done == self.total else ""))
            else:
                self.stream.write(f"m4cxr batch: {self.done}/{self.total} done, {self.errors} errors, "
                                  f"{rate:.2f} items/s, ETA {eta}\n")
            self.stream.flush()


@dataclass
class Summary:
    """What a run did: items run (``ran``, of which ``errors`` are error lines, also
    counting broken manifest lines) and ``skipped`` (already in the output)."""

    ran: int
    errors: int
    skipped: int


def run_item(session: "m4cxr.Session", item: Item) -> Dict[str, Any]:
    """Runs one item on `session`: its output record (the result, or an error record)."""
    if item.error:
        return item.error_record()
    try:
        # Every item is its own study: a task that continues the conversation (ask/chat)
        # must not continue the previous item's, so the session is reset first.
        if item.conversation != "fresh":
            session.reset()
        result = getattr(session, item.task)(**item.args, **item.generation)
    except (m4cxr.Error, ValueError, TypeError, OSError) as e:
        return Item(item.line, item.id, error=str(e) or type(e).__name__).error_record()
    record: Dict[str, Any] = {"id": item.id, "line": item.line}
    record.update({k: v for k, v in json.loads(result.json).items() if k not in ("id", "line")})
    record["images"] = item.images
    return record


def check_generation(generation: Dict[str, Any]) -> None:
    """Raises TypeError for a generation option :func:`run` does not know."""
    for k in generation:
        if k not in GENERATION_KEYS:
            raise TypeError(f"unknown generation option {k!r} (one of {', '.join(GENERATION_KEYS)})")


def pending(items: List[Item], output: Output, generation: Dict[str, Any]) -> Tuple[List[Item], int, int]:
    """What a run still has to do: the items not yet in `output`, with a broken one's
    error line appended there at once, and the run's `generation` defaults under each
    item's own options (a sampling option among them turns sampling on). Returns the items
    to run, the error lines written and the items skipped. Any thread; `items` are updated."""
    left = [i for i in items if not output.done(i)]
    broken = [i for i in left if i.error]
    for i in broken:
        output.append(i.error_record())
    work = [i for i in left if not i.error]
    if generation:
        for i in work:
            i.generation = {**generation, **i.generation}
            if any(k in generation for k in _SAMPLING):
                i.generation["do_sample"] = True
    return work, len(broken), len(items) - len(left)


def default_concurrency() -> int:
    """Items at once when not given (then lowered by :func:`memory_concurrency`): the items'
    decoding shares the model's passes (batched decoding, up to 16 sessions a pass), and 8
    at once measured over 5x the throughput of one on a CPU. The same as the CLI's."""
    return 8


def memory_concurrency(n: int, model: "m4cxr.Model") -> int:
    """`n` lowered to what the free memory (MemAvailable) holds once the model is loaded:
    one full KV cache (4096 positions) plus 256 MiB of activations per item, as the CLI."""
    info = model.info
    per_item = 2 * info.text_layers * info.text_hidden * 4096 * (4 if info.dtype == "float32" else 2) + (256 << 20)
    try:
        with open("/proc/meminfo") as f:
            free = next(int(line.split()[1]) * 1024 for line in f if line.startswith("MemAvailable:"))
    except (OSError, StopIteration, ValueError, IndexError):
        return n
    return max(1, min(n, free // per_item))


def run(manifest: PathLike, out: PathLike, model: Union["m4cxr.Model", PathLike, None] = None,
        concurrency: Optional[int] = None, progress: Optional[bool] = True, dtype: str = "bfloat16",
        threads: Optional[int] = None, **generation: Any) -> Summary:
    """Runs every line of `manifest` not yet in `out` and appends its result line.

    `model`: a loaded :class:`m4cxr.Model` or a checkpoint folder (loaded with `dtype`
    and `threads`; default $M4CXR_MODEL). `concurrency`: items at once, each on its own
    session of the one model (default :func:`default_concurrency`). `generation`:
    default generation options of every item (max_new_tokens=..., ...), which a
    manifest line's own keys override. `progress`: show progress on stderr (False: quiet).
    """
    check_generation(generation)
    if concurrency is not None and concurrency < 1:
        raise ValueError("concurrency must be at least 1")
    items = read_manifest(manifest)
    with Output(out) as output:
        work, broken, skipped = pending(items, output, generation)
        if not work:
            return Summary(broken, broken, skipped)
        n = min(concurrency if concurrency is not None else default_concurrency(), len(work))
        own = not isinstance(model, m4cxr.Model)
        if isinstance(model, m4cxr.Model):
            loaded = model
        else:
            path = model if model is not None else os.environ.get("M4CXR_MODEL")
            if not path:
                raise ValueError("model: give a checkpoint folder or an m4cxr.Model (or set M4CXR_MODEL)")
            loaded = m4cxr.Model(path, dtype=dtype,
                                 threads=threads if threads is not None else 0)
        if concurrency is None:
            n = memory_concurrency(n, loaded)
        bar = Progress(len(work)) if progress else None
        errors = broken
        lock = threading.Lock()
        queue = iter(work)
        failure: List[BaseException] = []

        def worker() -> None:
            nonlocal errors
            try:
                with loaded.session() as session:
                    while not failure:
                        with lock:
                            item = next(queue, None)
                        if item is None:
                            return
                        record = run_item(session, item)
                        output.append(record)
                        with lock:
                            errors += "error" in record
                        if bar:
                            bar.item_done("error" in record)
            except BaseException as e:  # the output cannot be written, or the model failed: stop all
                failure.append(e)

        try:
            pool = [threading.Thread(target=worker, name=f"m4cxr-batch-{k}", daemon=True) for k in range(n)]
            for t in pool:
                t.start()
            for t in pool:
                t.join()
        finally:
            if own:
                loaded.close()
        if failure:
            raise failure[0]
        return Summary(len(work) + broken, errors, skipped)
