"""Python binding of m4cxr, the engine for the M4CXR chest X-ray multimodal LLM.

Quick start::

    import m4cxr
    with m4cxr.Model("M4CXR-TNNLS") as model, model.session() as session:
        for piece in session.report("chest.png", stream=True):
            print(piece, end="", flush=True)

Tasks
    :class:`Session` has one method per task of the library's task table
    (:func:`task_table`), generated from src/tasks/task_table.json at build time. Every
    task that brings its own images starts a NEW conversation (nothing of an earlier
    patient or question is in its prompt) unless called with
    ``continue_conversation=True``; :meth:`Session.chat` always continues. Generation
    options are keywords of each call (:class:`Generation`).

Ownership
    :class:`Model`, :class:`Session`, :class:`Image` and :class:`Stream` each own a C
    handle of libm4cxr. ``close()`` (or leaving a ``with`` block) releases it at once;
    garbage collection does otherwise. Any of them may be closed in any order, from any
    thread, at any time: sessions keep their model's weights and running tasks their
    images, and closing a session stops its unfinished stream. Results are plain
    immutable values.

Threading
    A model and its images may be used by any number of threads at once. A session is a
    conversation used by one thread at a time (starting a task while another one of the
    same session is unfinished raises :class:`BusyError`); give each thread its own
    session to run in parallel. The GIL is released while the engine loads weights,
    decodes images and generates, so sessions on different threads really overlap.
    ``Session.cancel()`` and ``Stream.cancel()`` may be called from any thread.

Errors
    Every failure of the C library raises an :class:`Error` subclass carrying ``status``
    (:class:`Status`) and the library's message (``m4cxr_last_error()``):
    :class:`InvalidArgumentError` and :class:`FormatError` are also ``ValueError``,
    :class:`FileError` is an ``OSError`` (:class:`NotFoundError` a ``FileNotFoundError``).
    Ctrl-C while a task runs cancels it (within one transformer layer) and raises
    ``KeyboardInterrupt``; the session stays usable.

Logging
    libm4cxr's messages (``m4cxr_set_log_callback``) go to the standard logger
    ``logging.getLogger("m4cxr")`` (:data:`logger`): model loading at INFO, task start and
    end at DEBUG, inputs adjusted (a clipped box) at WARNING, and every failure the
    library reports at ERROR (WARNING for busy/cancelled), with the text of the raised
    :class:`Error`. Only records the logger is enabled for are made. The package adds
    only a ``NullHandler``: configure ``logging`` to see them, e.g.
    ``logging.basicConfig(level=logging.INFO)``.
"""

from __future__ import annotations

import atexit
import enum
import json as _json
import logging
import operator
import os
import sys
import types
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Callable, Dict, List, Mapping, Optional, Sequence, Tuple, TypedDict, TypeVar, Union

from ._errors import (BusyError, CancelledError, Error, FileError, FormatError, InternalError, InvalidArgumentError,
                      InvalidHandleError, LimitError, ModelError, NotFoundError, OutOfMemoryError, Status,
                      UnsupportedError)
from . import _m4cxr
from . import _tasks

if TYPE_CHECKING:
    import numpy
    import PIL.Image

__all__ = [
    "Model", "ModelInfo", "Session", "Image", "Stream", "Piece", "Result", "Box", "Stats", "BoxQuestion",
    "Generation", "Token", "TokenAlternative", "task_table", "Status", "Error", "InvalidArgumentError", "FileError", "NotFoundError", "FormatError",
    "UnsupportedError", "LimitError", "OutOfMemoryError", "CancelledError", "BusyError", "ModelError",
    "InternalError", "InvalidHandleError", "logger", "__version__", "DicomInfo", "order_study",
]

if _m4cxr.abi_version() != _m4cxr.ABI_VERSION:
    raise ImportError(f"libm4cxr ABI {_m4cxr.abi_version()} does not match the binding's {_m4cxr.ABI_VERSION}")

__version__: str = _m4cxr.version()

#: The logger libm4cxr's messages go to (see "Logging" above).
logger = logging.getLogger("m4cxr")
logger.addHandler(logging.NullHandler())  # a library leaves handlers to the application
_LOG_LEVELS = (logging.DEBUG, logging.INFO, logging.WARNING, logging.ERROR)  # m4cxr_log_level -> logging


def _forward_log(level: int, message: str) -> None:
    """m4cxr_set_log_callback's handler: called on the Python thread that made the call
    (for a task on the main thread: the one waiting for it), with the GIL."""
    pylevel = _LOG_LEVELS[level]
    if logger.isEnabledFor(pylevel):  # cached by logging: cheap for disabled levels
        logger.log(pylevel, message)


# Installed for every level (the logger decides, and its level may change at any time);
# removed at exit, so no later call of the library runs Python code in a finalising
# interpreter.
_m4cxr.set_log_handler(_forward_log, 0)
atexit.register(_m4cxr.set_log_handler, None, 0)

ImageLike = Union["Image", str, "os.PathLike[str]", bytes, bytearray, memoryview, "numpy.ndarray", "PIL.Image.Image"]
BoxLike = Sequence[float]

_DTYPES = {"bfloat16": 0, "bf16": 0, "float32": 1, "fp32": 1, "int8": 2}
_GENERATION = {"max_new_tokens": operator.index, "do_sample": bool, "temperature": float, "top_k": operator.index,
               "top_p": float, "seed": operator.index, "continue_conversation": bool,
               "logprobs": operator.index, "constrained": bool}
_PIXELS = {(1, 1): 0, (2, 1): 1, (1, 3): 2, (2, 3): 3}  # (bytes per sample, channels) -> m4cxr_pixel_format


class Generation(TypedDict, total=False):
    """Options of one task call (``m4cxr_generation_options``), given as keywords of the
    call; omitted ones keep the C defaults. There are no session-wide options."""

    max_new_tokens: int  # per turn; default 500
    do_sample: bool      # default False: greedy, as the paper
    temperature: float   # sampling only; default 1
    top_k: int           # sampling only; 0 = off; default 50
    top_p: float         # sampling only; 1 = off
    seed: int
    continue_conversation: bool  # default False: a task with images starts a new conversation;
                                 # True: it continues the session's (chat always continues)
    logprobs: int  # K in 0..100: record every generated token's log-probability and its K
                   # most likely alternatives (Result.tokens); omitted/None = off (default)
    constrained: bool  # default False; True: answers with a fixed shape (findings, labels,
                       # boxes) always come out in upstream's format, so they always parse


def task_table() -> dict:
    """The task table built into the loaded libm4cxr (``m4cxr_task_table_json``): tasks,
    their arguments in positional order with types, counts and defaults."""
    return _json.loads(_m4cxr.task_table_json())


class BoxQuestion(enum.IntEnum):
    """What :meth:`Session.identify_region` asks about its box(es)."""

    FINDING = 0  # one box
    ORGAN = 1    # one or more boxes
    REGION = 2   # one box
    PHRASE = 3   # one or more boxes


@dataclass(frozen=True)
class DicomInfo:
    """What an :class:`Image` read from DICOM keeps (``m4cxr_image_get_dicom_field``):
    identifiers as in the file ("" when absent), ``view`` resolved as "PA", "AP",
    "LATERAL", "OTHER" or "" (unknown), and the ``conversion`` applied ("mimic_jpg",
    "voi", "min_max" or "color")."""

    study_instance_uid: str
    series_instance_uid: str
    sop_instance_uid: str
    patient_id: str
    view_position: str
    view: str
    study_date: str
    study_time: str
    modality: str
    transfer_syntax_uid: str
    conversion: str


_DICOM_CONVERSIONS = {"mimic_jpg": 0, "voi": 1, "min_max": 2}


@dataclass(frozen=True)
class ModelInfo:
    visual_tokens_per_image: int
    image_size: int
    vision_layers: int
    vision_hidden: int
    text_layers: int
    text_hidden: int
    vocab_size: int
    dtype: str
    device: str
    weight_bytes: int
    lora_pairs_merged: int


@dataclass(frozen=True)
class Box:
    """A box of a result: ``model`` in the model's 0-100 frame, ``pixels`` in original image
    pixels (x1, y1, x2, y2); ``image_index`` is the task image it refers to;
    ``probability`` the probability of the tokens that wrote the box's text (README
    "Confidence")."""

    label: str
    model: Tuple[int, int, int, int]
    pixels: Tuple[float, float, float, float]
    image_index: int
    probability: float = 0.0


@dataclass(frozen=True)
class Stats:
    prompt_tokens: int     # ids of the last turn's prompt
    prefilled_tokens: int  # ids actually run over all turns (the rest came from the KV cache)
    generated_tokens: int  # over all turns
    image_encode_ms: float
    prefill_ms: float
    decode_ms: float
    stopped_by_eos: bool   # the last turn ended on EOS
    cancelled: bool        # stopped by a cancel or by closing the stream


@dataclass(frozen=True)
class TokenAlternative:
    """One of the most likely tokens of a step: vocabulary ``id``, ``text`` (its
    SentencePiece piece, "\u2581" for a space, "<0x0A>" for a byte token) and ``logprob``
    (natural log of its probability under the model's distribution at that step)."""

    id: int
    text: str
    logprob: float


@dataclass(frozen=True)
class Token:
    """A generated token with ``logprob``: log_softmax, in fp32, of the raw logits the
    model produced for that step (before temperature, top-k and top-p); ``top`` holds the
    K most likely tokens of that step, most likely first (``logprobs=K``). ``text`` is the
    token's SentencePiece piece, not decoded text (see :class:`TokenAlternative`)."""

    id: int
    text: str
    logprob: float
    top: Tuple[TokenAlternative, ...]


@dataclass(frozen=True)
class Result:
    """What a task produced. ``text`` is the report for :meth:`Session.report`, else the
    (last) turn's text; ``turns`` the text of each user turn; ``json`` the C library's
    JSON document (everything here plus prompts, generated ids and a replay record)."""

    text: str
    turns: Tuple[str, ...]
    findings: Tuple[str, ...]
    boxes: Tuple[Box, ...]
    stats: Stats
    json: str
    # Per turn, the generated tokens with their log-probabilities when the call asked for
    # ``logprobs=K``; () otherwise (and when no token was generated).
    tokens: Tuple[Tuple[Token, ...], ...] = ()
    # {label: score in [0, 1]} for every candidate of a report's findings turn or of a
    # classification, in the question's order (README "Confidence"): for a label among
    # ``findings``, the probability of the tokens that wrote it; for another, the highest
    # probability the model gave to starting it where a label could start. Empty for
    # other tasks. Read-only.
    label_scores: Mapping[str, float] = field(default_factory=lambda: types.MappingProxyType({}))
    # The structured documents, made by the C library when the result was collected
    # (m4cxr_result_to_fhir / m4cxr_result_to_dicom_sr): see to_fhir() and to_dicom_sr().
    _fhir: str = field(default="", repr=False, compare=False)
    _dicom_sr: bytes = field(default=b"", repr=False, compare=False)

    @property
    def cancelled(self) -> bool:
        return self.stats.cancelled

    def to_fhir(self) -> str:
        """The result as a FHIR R4 Bundle (JSON text): a preliminary radiology
        DiagnosticReport (the text as conclusion and presented form; the DICOM study and
        patient by their identifiers when the images came from DICOM), one Observation per
        finding (present/absent, label score, boxes) and a Device naming the engine and
        model; marked AI-generated (security label AIAST). ``m4cxr_result_to_fhir``: issued
        when the result was collected; the same text on every call."""
        return self._fhir

    def to_dicom_sr(self) -> bytes:
        """The result as a DICOM Comprehensive SR Part-10 file: the source study and
        patient, the source instances as evidence, the text, one item per finding and the
        boxes as regions on the source image (``m4cxr_result_to_dicom_sr``); the same bytes
        (and SOP Instance UID) on every call, so storing it twice stores one instance."""
        return self._dicom_sr

    def to_dict(self) -> Dict[str, Any]:
        """The library's whole JSON document as a dict (prompts, ids, replay record)."""
        return dict(_json.loads(self.json))

    def to_record(self) -> Dict[str, Union[str, int, float, bool]]:
        """One flat row of plain values (a ``pandas.DataFrame`` of many results, a CSV line,
        ``json.dumps``): task, text, findings and box labels joined by "; ", boxes in
        pixels as JSON, token counts and timings."""
        doc = _json.loads(self.json)
        record: Dict[str, Union[str, int, float, bool]] = {
            "task": str(doc.get("task", "")),
            "text": self.text,
            "findings": "; ".join(self.findings),
            "box_labels": "; ".join(b.label for b in self.boxes),
            "boxes_pixels": _json.dumps([list(b.pixels) for b in self.boxes]),
        }
        record.update({k: v for k, v in vars(self.stats).items()})
        return record

    def __repr__(self) -> str:
        text = self.text if len(self.text) <= 60 else self.text[:57] + "..."
        return (f"Result(text={text!r}, findings={list(self.findings)!r}, boxes={len(self.boxes)}, "
                f"generated_tokens={self.stats.generated_tokens}, cancelled={self.stats.cancelled}"
                + (f", tokens={[len(t) for t in self.tokens]}" if self.tokens else "") + ")")

    @classmethod
    def _from(cls, d: Mapping[str, Any]) -> "Result":
        boxes = tuple(Box(label, tuple(m), tuple(p), i, prob)  # type: ignore[arg-type]
                      for label, m, p, i, prob in d["boxes"])
        tokens: Tuple[Tuple[Token, ...], ...] = ()
        if any(d.get("tokens", ())):  # the call asked for logprobs=K (and tokens were generated)
            tokens = tuple(tuple(Token(i, t, lp, tuple(TokenAlternative(*a[:3]) for a in top))
                                 for i, t, lp, top in turn) for turn in d["tokens"])
        scores = types.MappingProxyType({label: score for label, score, _ in d.get("label_scores", ())})
        return cls(d["text"], tuple(d["turns"]), tuple(d["findings"]), boxes, Stats(**d["stats"]), d["json"], tokens,
                   scores, d.get("fhir", ""), d.get("dicom_sr", b""))


class Piece(str):
    """A streamed piece of text (complete UTF-8); ``turn`` is the task's 0-based user turn
    that produced it (a report streams its findings in turn 0, the report in turn 1)."""

    turn: int

    def __new__(cls, text: str, turn: int) -> "Piece":
        piece = super().__new__(cls, text)
        piece.turn = turn
        return piece


_Self = TypeVar("_Self", bound="_Closing")


class _Closing:
    def __enter__(self: _Self) -> _Self:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:  # pragma: no cover - overridden
        raise NotImplementedError

    def __del__(self) -> None:
        try:
            self.close()
        except Exception:
            pass


class Model(_Closing):
    """A loaded checkpoint folder (config.json, *.safetensors, tokenizer.model).

    ``dtype``: "bfloat16" (default), "float32" or "int8" (decoder weights as int8, compute in
    bfloat16); ``device``: "cpu", or "cuda[:N]" with a
    CUDA libtorch; ``threads``: intra-op threads, 0 = all cores (a process-wide setting);
    ``adapter``: a PEFT adapter folder merged at load; ``progress``: called with the load
    fraction in [0, 1] on the loading thread; returning ``False`` aborts the load
    (:class:`CancelledError`) and an exception raised in it propagates;
    ``max_image_pixels``: larger images are refused (default 16384*16384);
    ``max_cached_images``: image embeddings each session keeps between tasks (default 8,
    0 = none).
    The model is immutable: any number of threads may use it at once.
    """

    def __init__(self, path: Union[str, "os.PathLike[str]"], dtype: str = "bfloat16", device: str = "cpu",
                 threads: int = 0, adapter: Union[str, "os.PathLike[str]", None] = None,
                 progress: Optional[Callable[[float], Optional[bool]]] = None,
                 max_image_pixels: Optional[int] = None, max_cached_images: Optional[int] = None) -> None:
        if dtype not in _DTYPES:
            raise InvalidArgumentError(f"unknown dtype {dtype!r} (use 'bfloat16', 'float32' or 'int8')")
        self.path = os.fsdecode(path)
        self._h = _m4cxr.Model(self.path, _DTYPES[dtype], device, threads,
                               None if adapter is None else os.fsdecode(adapter), max_image_pixels,
                               max_cached_images, progress)
        self.info = ModelInfo(**self._h.info())

    def session(self) -> "Session":
        """A new conversation on this model (see :class:`Session`)."""
        return Session(self)

    def image(self, source: ImageLike) -> "Image":
        """Decodes and preprocesses an image for this model (GIL released meanwhile).

        ``source``: a path; encoded bytes (PNG 8/16-bit, JPEG, BMP); a numpy array of
        uint8 or uint16 (native or byte-swapped), 2-D gray or H x W x 3 RGB (uint16 is
        mapped to 8 bits as round(v/257)); or a PIL image (16-bit gray kept as such,
        other modes but L/RGB converted to RGB like upstream). An :class:`Image` is
        returned as is.
        """
        if isinstance(source, Image):
            return source
        if isinstance(source, (str, os.PathLike)):
            path = os.fsdecode(source)
            return Image(_m4cxr.Image.from_file(self._h, path))
        if isinstance(source, (bytes, bytearray, memoryview)):
            if isinstance(source, memoryview) and not source.c_contiguous:
                source = source.tobytes()
            return Image(_m4cxr.Image.from_memory(self._h, source))
        pil = sys.modules.get("PIL.Image")
        if pil is not None and isinstance(source, pil.Image):
            source = _pil_pixels(source)
        if hasattr(source, "__array_interface__"):
            return Image(_pixels(self._h, source))
        raise TypeError(f"cannot make an image from {type(source).__name__}")

    def dicom(self, source: Union[str, "os.PathLike[str]", bytes, bytearray, memoryview],
              conversion: str = "mimic_jpg", allow_multiframe: bool = False, allow_any_modality: bool = False,
              allow_color: bool = False) -> "Image":
        """Reads a DICOM Part-10 chest radiograph (a path, or the file's bytes) and prepares
        it for this model (``m4cxr_image_from_dicom_file`` / ``_memory``, GIL released).

        ``conversion``: "mimic_jpg" (default: min-max to 8 bits, MONOCHROME1 inverted,
        histogram equalisation, as MIMIC-CXR-JPG, the training data, was made), "voi" (the
        file's window centre/width) or "min_max". Multi-frame objects, modalities other
        than CR/DX/RG and colour are refused (:class:`UnsupportedError`) unless the
        matching ``allow_*`` is set. Corrupt data raises :class:`FormatError`. The
        image's :attr:`Image.dicom` holds its identifiers and view.
        """
        if conversion not in _DICOM_CONVERSIONS:
            raise InvalidArgumentError(f"unknown DICOM conversion {conversion!r} (use {', '.join(_DICOM_CONVERSIONS)})")
        args = (_DICOM_CONVERSIONS[conversion], allow_multiframe, allow_any_modality, allow_color)
        if isinstance(source, (str, os.PathLike)):
            return Image(_m4cxr.Image.from_dicom_file(self._h, os.fsdecode(source), *args))
        if isinstance(source, (bytes, bytearray, memoryview)):
            if isinstance(source, memoryview) and not source.c_contiguous:
                source = source.tobytes()
            return Image(_m4cxr.Image.from_dicom_memory(self._h, source, *args))
        raise TypeError(f"cannot read DICOM from {type(source).__name__}")

    def trace(self, images: Union[ImageLike, Sequence[ImageLike]], prompt: str,
              out_dir: Union[str, "os.PathLike[str]"]) -> None:
        """Parity tracing (``m4cxr_trace``): runs one prompt from scratch and writes every
        stage as .npy into the existing folder ``out_dir`` (pixel_values, vision and
        abstractor stages, visual_tokens, prompt_ids, inputs_embeds, logits). ``prompt`` is
        the first user message without the system message, one "<image>" per image."""
        imgs = [self.image(i) for i in (images if isinstance(images, (list, tuple)) else [images])]
        self._h.trace([i._h for i in imgs], prompt, os.fsdecode(out_dir))

    def close(self) -> None:
        """Releases the model; its weights are freed once its sessions are closed too."""
        self._h.close()

    @property
    def closed(self) -> bool:
        return self._h.closed

    def __repr__(self) -> str:
        return f"<m4cxr.Model {self.path!r} {self.info.dtype} on {self.info.device}{' closed' if self.closed else ''}>"


def _pixels(model: Any, array: Any) -> Any:
    import numpy as np

    a = np.asarray(array)
    if a.ndim == 3 and a.shape[2] == 1:
        a = a[:, :, 0]
    if a.dtype.kind != "u" or a.itemsize > 2 or not (a.ndim == 2 or (a.ndim == 3 and a.shape[2] == 3)):
        raise InvalidArgumentError(f"pixels must be uint8/uint16, H x W or H x W x 3; got {a.dtype} {a.shape}")
    a = np.ascontiguousarray(a, dtype=a.dtype.newbyteorder("="))
    fmt = _PIXELS[(a.itemsize, 1 if a.ndim == 2 else 3)]
    return _m4cxr.Image.from_pixels(model, a, a.shape[1], a.shape[0], a.strides[0], fmt)


def _pil_pixels(img: "PIL.Image.Image") -> Any:
    import numpy as np

    if img.mode in ("L", "RGB") or img.mode.startswith("I;16"):
        return np.asarray(img)
    if img.mode == "I":  # Pillow opens 16-bit gray PNGs as 32-bit "I"
        a = np.asarray(img)
        if a.size and (a.min() < 0 or a.max() > 65535):
            raise InvalidArgumentError("32-bit PIL image with values outside 0..65535")
        return a.astype(np.uint16)
    return np.asarray(img.convert("RGB"))  # RGBA, P, LA, CMYK, 1: as upstream's .convert("RGB")


class Image(_Closing):
    """A decoded, preprocessed image: immutable, shareable between threads and sessions.

    Made by :meth:`Model.image`. ``size`` is the original (width, height); ``hash`` the
    hex SHA-256 of the decoded RGB pixels and size.
    """

    def __init__(self, handle: Any) -> None:
        self._h = handle
        self.size: Tuple[int, int] = tuple(handle.size)  # type: ignore[assignment]
        self.hash: str = handle.hash
        fields = handle.dicom_fields()
        #: Identifiers and view of an image read from DICOM (:meth:`Model.dicom`), else None.
        self.dicom: Optional[DicomInfo] = None if fields is None else DicomInfo(*fields)

    @property
    def width(self) -> int:
        return self.size[0]

    @property
    def height(self) -> int:
        return self.size[1]

    def to_model_box(self, pixels: BoxLike) -> Tuple[int, int, int, int]:
        """(x1, y1, x2, y2) in original pixels -> the model's 0-100 frame (upstream normalize_bbox)."""
        return tuple(self._h.to_model(tuple(pixels)))  # type: ignore[return-value]

    def to_pixel_box(self, model: Sequence[int]) -> Tuple[float, float, float, float]:
        """(x1, y1, x2, y2) in the 0-100 frame -> original pixels (upstream norm2origin_box)."""
        return tuple(self._h.to_pixels(tuple(model)))  # type: ignore[return-value]

    def close(self) -> None:
        self._h.close()

    @property
    def closed(self) -> bool:
        return self._h.closed

    def __repr__(self) -> str:
        return f"<m4cxr.Image {self.size[0]}x{self.size[1]} {self.hash[:12]}>"


def order_study(images: Sequence["Image"], prior: Sequence["Image"] = ()) -> Tuple[List["Image"], List["Image"]]:
    """Orders the views of one DICOM study for a report, PA, then AP, then lateral, then
    other and unknown views (given order within each), and the prior study's likewise
    (``m4cxr_dicom_order_study``). Raises :class:`InvalidArgumentError` unless ``images``
    is one study (one StudyInstanceUID and PatientID) read from DICOM, and ``prior``
    (if any) an earlier study of the same patient."""
    order, prior_order = _m4cxr.dicom_order_study([i._h for i in images], [i._h for i in prior])
    return [images[i] for i in order], [prior[i] for i in prior_order]


class Stream(_Closing):
    """A running task, pulled piece by piece (``m4cxr_task_next``, GIL released).

    Iterating yields :class:`Piece` strings; :meth:`result` then gives the
    :class:`Result`. Closing the stream (``close()``, leaving its ``with`` block, or
    dropping it, e.g. by breaking out of ``for piece in session.vqa(..., stream=True)``)
    cancels what is left: its result keeps what was produced, marked ``cancelled``.
    Iterate from one thread at a time; :meth:`cancel` works from any thread.
    """

    def __init__(self, task: Any, session: "Session") -> None:
        self._task = task
        self._session = session  # a task needs its session: a stream of a dropped session goes on

    def __iter__(self) -> "Stream":
        return self

    def __next__(self) -> Piece:
        item = self._task.next()
        if item is None:
            raise StopIteration
        return Piece(*item)

    def cancel(self) -> None:
        """Asks the task to stop soon (within one transformer layer); iteration then ends."""
        self._task.cancel()

    @property
    def done(self) -> bool:
        return self._task.done

    def result(self) -> Result:
        """Runs the task to its end (consuming the remaining pieces) and returns the result.
        Raises the task's error if it failed."""
        for _ in self:
            pass
        return Result._from(self._task.result())

    def close(self) -> None:
        """Cancels the task if unfinished and waits until it has stopped (unless another
        thread iterates it: that one sees the end)."""
        if self._task.done:
            return
        self._task.cancel()
        try:
            for _ in self:
                pass
        except Error:
            pass  # kept: result() raises it (BusyError: another thread finishes it)


class Session(_tasks.TaskMethods, _Closing):
    """A conversation with its KV cache and a cache of image embeddings. One thread at a
    time (a call while another thread uses the session raises :class:`BusyError`);
    :meth:`cancel` and :meth:`close` from any thread.

    The task methods (``report``, ``vqa``, ..., ``chat``; see :func:`task_table`) are
    generated from the library's task table: arguments in the table's order, optional ones
    defaulting to the table's defaults. Each also takes the keyword-only ``stream`` and the
    generation options of :class:`Generation`, and returns a :class:`Result`, or with
    ``stream=True`` a :class:`Stream` of the pieces.

    Conversations: a task that brings its own images starts a NEW conversation, unless
    called with ``continue_conversation=True`` (e.g. phrase grounding of a sentence of the
    report just written); :meth:`chat` always continues the conversation;
    :meth:`append_turn` restores an earlier turn. Images may be given as :class:`Image` or
    as anything :meth:`Model.image` accepts. Boxes go in and come out in original image
    pixels (x1, y1, x2, y2).
    """

    def __init__(self, model: Model) -> None:
        self._model = model
        self._h = _m4cxr.Session(model._h)

    def _img(self, image: ImageLike) -> Image:
        return self._model.image(image)

    def _imgs(self, images: Union[ImageLike, Sequence[ImageLike], None]) -> List[Image]:
        if images is None:
            return []
        return [self._img(i) for i in (images if isinstance(images, (list, tuple)) else [images])]

    def _task(self, task: str, values: Sequence[Any], stream: bool, gen: Mapping[str, Any]) -> Any:
        """Runs `task` of the table with the values of its arguments in table order: the
        body of every generated task method."""
        unknown = set(gen) - set(_GENERATION)
        if unknown:
            raise TypeError(f"unknown generation option(s): {', '.join(sorted(unknown))}")
        options = {k: _GENERATION[k](v) for k, v in gen.items() if v is not None}
        pairs: List[Tuple[str, Any]] = []
        for arg, value in zip(_tasks.TASKS[task]["args"], values):
            pairs += [(arg["name"], v) for v in self._arg_values(arg, value)]
        # Images made here from paths or arrays (alive in `pairs` until the task has started)
        # may be collected afterwards: the task keeps their pixels.
        handles = [(name, v._h if isinstance(v, Image) else v) for name, v in pairs]
        s = Stream(self._h.start(task, handles, options), self)
        del pairs
        if stream:
            return s
        try:
            return s.result()
        except BaseException:
            # Ctrl-C (KeyboardInterrupt) or any other exception: stop and release the task
            # now, so a traceback that keeps this frame alive does not keep the session busy.
            s.close()
            raise

    def _arg_values(self, arg: Mapping[str, Any], value: Any) -> List[Any]:
        """One argument's value(s) for m4cxr_task_args: image handles, strings, boxes, a flag.
        None (or nothing) for an optional argument leaves it to the library's default."""
        kind = arg["type"]
        if value is None and arg["optional"]:
            return []
        if kind == "image":
            return [self._img(value)]
        if kind == "images":
            return self._imgs(value)
        if kind == "text":
            return [value]
        if kind == "texts":
            return [value] if isinstance(value, str) else list(value)
        if kind == "flag":
            return [bool(value)]
        if kind == "choice":
            return [_choice(arg, value)]
        if kind == "boxes":
            seq = list(value)
            if seq and not hasattr(seq[0], "__len__"):
                seq = [seq]  # a single box
            return [tuple(float(x) for x in b) for b in seq]
        raise TypeError(f"argument type {kind!r} of {arg['name']!r} is unknown to this binding")

    def append_turn(self, user_text: str, answer: str, images: Union[ImageLike, Sequence[ImageLike]] = ()) -> None:
        """Appends a complete earlier turn without running the model (restores a stored
        conversation, or replays a dialogue with fixed earlier answers). ``user_text`` is
        the user message as upstream writes it, without the system message, with one
        "<image>" marker per image (e.g. "radiology image: <image> Which of the following
        findings are present ..."); ``answer`` the assistant's reply. The next
        :meth:`chat` (or a task with ``continue_conversation=True``) continues after it."""
        imgs = self._imgs(images)  # alive until the call returns
        self._h.append_turn(user_text, answer, [i._h for i in imgs])

    def clear_image_cache(self) -> None:
        """Drops the cached image embeddings (the conversation goes on; images are encoded
        again when a task needs them)."""
        self._h.clear_image_cache()

    def reset(self) -> None:
        """Forgets the conversation and drops the cached image embeddings (nothing of an
        earlier patient stays in the session)."""
        self._h.reset()

    def cancel(self) -> None:
        """Any thread: stops the running task of this session, if any."""
        self._h.cancel()

    def close(self) -> None:
        """Frees the session; an unfinished stream of it is stopped (its next step raises
        :class:`InvalidHandleError`). Any thread, any time."""
        self._h.close()

    @property
    def closed(self) -> bool:
        return self._h.closed

    def __repr__(self) -> str:
        return f"<m4cxr.Session{' closed' if self.closed else ''}>"


def _choice(arg: Mapping[str, Any], value: Any) -> str:
    """A choice argument as its name: a string (any case), an enum member named after a
    choice (e.g. :class:`BoxQuestion`), or an int indexing the table's choices (the C
    enum's values)."""
    choices = arg["choices"]
    if isinstance(value, enum.Enum):
        value = value.name
    if isinstance(value, str):
        if value.lower() in choices:
            return value.lower()
    elif isinstance(value, int) and not isinstance(value, bool) and 0 <= value < len(choices):
        return choices[value]
    raise InvalidArgumentError(f"unknown value {value!r} for {arg['name']} (one of {', '.join(choices)})")


from . import batch  # noqa: E402  (m4cxr.batch.run: worklists; m4cxr.dask needs python3-distributed, import it yourself)
