"""Images with captions, for captioning.

An item is an image (``(3, S, S)`` float32 in [0, 1], resized to ``S``) and one or more
reference captions. Sources (:func:`load_captions`):

- ``"shapes"`` (embedded default, generated): one or two shapes (circle, square,
  triangle; six colours; small or large) on a noisy background, captioned by a small
  grammar — "a large red circle", "a small blue square left of a green triangle" — with
  two phrasings per image where the relation allows ("X left of Y" / "Y right of X").
  Captioning it needs what, which colour, how big and where.
- A directory holding images and a caption index, or the index file itself (images
  relative to its folder). An image may have several captions (several references).
  Images are read with Pillow (PNG, JPEG, ...). The index is one of:

  - ``captions.tsv`` / ``captions.txt`` (or any ``.tsv`` / ``.txt``): one line per caption,
    ``file<TAB>caption``; Flickr8k/30k's ``file.jpg#0`` names work as they are;
  - ``captions.csv`` (or any ``.csv``): a header naming an ``image`` (or ``file``) column and
    a ``caption`` column, as Kaggle's Flickr8k ``captions.txt`` is laid out;
  - ``captions.json`` (or any ``.json``): COCO's annotation layout, ``images`` with ``id``
    and ``file_name``, ``annotations`` with ``image_id`` and ``caption``.
"""

from __future__ import annotations

import random
import re
from collections import Counter
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ..errors import InputError
from .text import read_text_file
from .vocab import Vocab

__all__ = ["Captioned", "WordVocab", "load_captions", "read_image", "shape_images", "tokenize"]

COLOURS = {"red": (0.9, 0.1, 0.1), "green": (0.1, 0.75, 0.2), "blue": (0.15, 0.3, 0.95),
           "yellow": (0.95, 0.85, 0.1), "purple": (0.6, 0.2, 0.8), "white": (0.97, 0.97, 0.97)}
SHAPES = ("circle", "square", "triangle")


@dataclass
class Captioned:
    """An image ``(3, S, S)`` float32 and its reference captions (at least one)."""

    image: np.ndarray
    captions: list[str]


def tokenize(text: str) -> list[str]:
    """Lower-case words and punctuation marks."""
    return re.findall(r"[a-z0-9']+|[^\sa-z0-9']", text.lower())


class WordVocab(Vocab):
    """Words <-> ids with ``<pad>=0, <s>=1, </s>=2, <unk>=3``; words seen fewer than
    ``min_count`` times in the training captions become ``<unk>`` — the captioner's
    :class:`~rnnlab.data.vocab.Vocab` (lower-cased words and punctuation, :func:`tokenize`)."""

    SPECIALS = ["<pad>", "<s>", "</s>", "<unk>"]

    def __init__(self, words: list[str]):
        super().__init__("word", words, specials=self.SPECIALS, unk="<unk>", split=tokenize)

    @classmethod
    def build(cls, captions: list[str], min_count: int = 1) -> "WordVocab":
        counts = Counter(w for c in captions for w in tokenize(c))
        return cls(sorted(w for w, n in counts.items() if n >= min_count))

    @staticmethod
    def read(path: Path) -> Vocab:
        """A saved caption vocabulary (also the ``{"words": [...]}`` form of older runs)."""
        return Vocab.read(path, specials=WordVocab.SPECIALS, unk="<unk>", split=tokenize)


def _mask(kind: str, S: int, cx: float, cy: float, r: float) -> np.ndarray:
    y, x = np.mgrid[0:S, 0:S] + 0.5
    if kind == "circle":
        return (x - cx) ** 2 + (y - cy) ** 2 <= r * r
    if kind == "square":
        return (abs(x - cx) <= r * 0.85) & (abs(y - cy) <= r * 0.85)
    # an upward triangle: below its apex, inside both slanted sides, above its base
    top, base = cy - r, cy + r * 0.8
    half = (y - top) / (base - top) * r
    return (y >= top) & (y <= base) & (abs(x - cx) <= half)


def _describe(shape: dict) -> str:
    return f"{shape['size']} {shape['colour']} {shape['kind']}"


def shape_images(n: int, seed: int = 0, size: int = 32) -> list[Captioned]:
    """``n`` images of the embedded default (see the module docstring)."""
    rng = random.Random(seed)
    noise = np.random.default_rng(seed)
    out = []
    for _ in range(n):
        img = np.empty((size, size, 3), dtype=np.float32)
        img[:] = np.array([rng.uniform(0.0, 0.35)] * 3)  # a dark grey background
        img += noise.normal(0.0, 0.03, img.shape).astype(np.float32)
        shapes = []
        for _k in range(rng.choice((1, 2))):
            big = rng.random() < 0.5
            r = size * (rng.uniform(0.17, 0.22) if big else rng.uniform(0.08, 0.11))
            shapes.append({"kind": rng.choice(SHAPES), "colour": rng.choice(list(COLOURS)),
                           "size": "large" if big else "small", "r": r})
        if len(shapes) == 1:
            s = shapes[0]
            s["cx"], s["cy"] = rng.uniform(s["r"], size - s["r"]), rng.uniform(s["r"], size - s["r"])
            captions = [f"a {_describe(s)}"]
        else:
            a, b = shapes
            horizontal = rng.random() < 0.5
            # each whole shape in its own half along the relation's axis, so they never overlap
            for s, lo, hi in ((a, 0.0, 0.5), (b, 0.5, 1.0)):
                along = rng.uniform(lo * size + s["r"], max(lo * size + s["r"], hi * size - s["r"]))
                across = rng.uniform(s["r"], size - s["r"])
                s["cx"], s["cy"] = (along, across) if horizontal else (across, along)
            first, second = ("left of", "right of") if horizontal else ("above", "below")
            captions = [f"a {_describe(a)} {first} a {_describe(b)}", f"a {_describe(b)} {second} a {_describe(a)}"]
        for s in shapes:
            img[_mask(s["kind"], size, s["cx"], s["cy"], s["r"])] = COLOURS[s["colour"]]
        out.append(Captioned(np.clip(img, 0, 1).transpose(2, 0, 1).copy(), captions))
    return out


def read_image(path: Path, size: int) -> np.ndarray:
    from PIL import Image, UnidentifiedImageError

    try:
        with Image.open(path) as im:
            im = im.convert("RGB").resize((size, size), Image.BILINEAR)
            return (np.asarray(im, dtype=np.float32) / 255.0).transpose(2, 0, 1).copy()
    # (Pillow raises SyntaxError for broken PNG chunks)
    except (UnidentifiedImageError, OSError, SyntaxError, ValueError) as e:
        raise InputError(f"{path}: not an image Pillow can read ({e})") from None


INDEX_NAMES = ("captions.tsv", "captions.txt", "captions.csv", "captions.json")
INDEX_SUFFIXES = tuple(Path(n).suffix for n in INDEX_NAMES)


def _tsv_rows(index: Path, text: str) -> list[tuple[str, str, str]]:
    """``(where, file, caption)`` from ``file<TAB>caption`` lines."""
    rows = []
    for no, line in enumerate(text.splitlines(), 1):
        if not line.strip():
            continue
        name, sep, caption = line.partition("\t")
        if not sep or not caption.strip() or not name.strip():
            raise InputError(f"{index}, line {no}: expected 'file<TAB>caption', got {line[:60]!r}")
        rows.append((f"{index}, line {no}", name.strip(), caption.strip()))
    return rows


def _csv_rows(index: Path, text: str) -> list[tuple[str, str, str]]:
    """``(where, file, caption)`` from a CSV whose header names the image and caption columns."""
    import csv

    reader = csv.reader(text.splitlines())
    header = [h.strip().lower() for h in next(reader, [])]
    image_col = next((header.index(h) for h in ("image", "file", "filename", "file_name", "image_name") if h in header),
                     None)
    if image_col is None or "caption" not in header:
        raise InputError(f"{index}, line 1: expected a header with an 'image' (or 'file') column and a 'caption' "
                         f"column, got {header}")
    caption_col = header.index("caption")
    rows = []
    for no, fields in enumerate(reader, 2):
        if not fields or not "".join(fields).strip():
            continue
        if len(fields) <= max(image_col, caption_col) or not fields[caption_col].strip():
            raise InputError(f"{index}, line {no}: no caption (expected {len(header)} fields, got {len(fields)})")
        rows.append((f"{index}, line {no}", fields[image_col].strip(), fields[caption_col].strip()))
    return rows


def _coco_rows(index: Path, text: str) -> list[tuple[str, str, str]]:
    """``(where, file, caption)`` from COCO's caption annotations."""
    import json

    layout = ("not COCO's caption layout ('images': a list of objects with an id and a file_name, "
              "'annotations': a list of objects with an image_id and a caption)")
    try:
        data = json.loads(text)
    except json.JSONDecodeError as e:
        raise InputError(f"{index}, line {e.lineno}: not valid JSON ({e.msg})") from None
    if not isinstance(data, dict) or not isinstance(data.get("images"), list) \
            or not isinstance(data.get("annotations"), list):
        raise InputError(f"{index}: {layout}")
    files = {}
    for k, im in enumerate(data["images"]):
        if not isinstance(im, dict) or not isinstance(im.get("id"), (int, str)) \
                or not isinstance(im.get("file_name"), str):
            raise InputError(f"{index}, images[{k}]: {layout}")
        files[im["id"]] = im["file_name"]
    rows = []
    for k, note in enumerate(data["annotations"]):
        where = f"{index}, annotations[{k}]"
        if not isinstance(note, dict) or not isinstance(note.get("image_id"), (int, str)) \
                or note["image_id"] not in files or not isinstance(note.get("caption"), str) \
                or not note["caption"].strip():
            raise InputError(f"{where}: needs an image_id listed in 'images' and a caption")
        rows.append((where, files[note["image_id"]], note["caption"].strip()))
    return rows


def load_captions(source: str, n_default: int = 5000, seed: int = 0, size: int = 32) -> tuple[list[Captioned], str]:
    """Items from ``source`` (``"shapes"`` or a directory, see the module docstring) and a
    one-line description."""
    if source == "shapes":
        return shape_images(n_default, seed, size), f"{n_default} generated shape images (embedded)"
    root = Path(source)
    if root.is_file():
        if root.suffix.lower() not in INDEX_SUFFIXES:
            raise InputError(f"{source}: not a directory of images nor a caption index file (.tsv, .txt, .csv "
                             "or .json)")
        index, root = root, root.parent
    elif root.is_dir():
        index = next((root / n for n in INDEX_NAMES if (root / n).is_file()), None)
        if index is None:
            raise InputError(f"{root}: no caption index ({', '.join(INDEX_NAMES)}); e.g. captions.tsv with one "
                             "line per caption: file<TAB>caption")
    else:
        raise InputError(f"{source}: no such directory or file (give a directory of images with captions.tsv, a "
                         "caption index file, or 'shapes')")
    text = read_text_file(index)
    suffix, first = index.suffix.lower(), text.partition("\n")[0].lower()
    if suffix == ".json":
        rows = _coco_rows(index, text)
    elif suffix == ".csv" or ("\t" not in first and "caption" in first and "," in first):  # a CSV named .txt
        rows = _csv_rows(index, text)
    else:
        rows = _tsv_rows(index, text)
    captions: dict[str, list[str]] = {}
    for where, name, caption in rows:
        if not (root / name).is_file():
            numbered = re.fullmatch(r"(.+)#\d+", name)  # Flickr8k/30k: "file.jpg#2", the image's 3rd caption
            if numbered and (root / numbered.group(1)).is_file():
                name = numbered.group(1)
            else:
                raise InputError(f"{where}: image {name!r} not found in {root}")
        captions.setdefault(name, []).append(caption)
    if not captions:
        raise InputError(f"{index}: no captions")
    items = [Captioned(read_image(root / name, size), caps) for name, caps in sorted(captions.items())]
    return items, f"{len(items)} images from {root}"
