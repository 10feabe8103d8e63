"""Training data: the train split as a ``torch.utils.data`` data set, the test split in memory.

``TrainData`` is what the training loop reads: ``train`` is a map-style data set of ``(x, label)``
items (8-bit integer inputs), either arrays in memory (``ArraySet``, from any
:class:`wavebits.data.DataSet`) or an image folder read lazily, one file per item
(``ImageFolderStream``), so that a training set larger than memory streams through DataLoader
workers. The test split, which export and verification score, is always in memory.

``ShardedBatchSampler`` gives the batch order: a seeded permutation per epoch, cut into global
batches, each process of a distributed run taking its shard of every batch.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, NamedTuple

import numpy as np
import torch
from torch.utils.data import DataLoader, Dataset

from wavebits.data import (
    CIFAR_CLASSES,
    DataSet,
    decode_images,
    describe_data,
    folder_items,
    image_array,
    load_cifar10,
    load_data,
    load_split,
    open_image,
)
from wavebits.errors import DataError

__all__ = ["CIFAR_CLASSES", "ArraySet", "Batch", "DataSet", "ImageFolderStream", "ShardedBatchSampler", "TrainData",
           "as_train_data", "load", "load_cifar10", "load_data", "loader", "open_folder_stream"]


def load(name: str, split: str, data_dir: str | Path | None = None,
         limit: int | None = None) -> tuple[np.ndarray, np.ndarray]:
    """``(x, y int64)`` of one split of a named data set (see :data:`wavebits.data.DATASETS`).

    ``x`` is uint8 ``(N, C, H, W)`` for the built-in sets; ``npz`` and ``folder`` data may be int8 or
    flat ``(N, F)`` (use :func:`wavebits.data.load_data` to get its scale). ``limit`` (0 or None: all)
    keeps the first N images of ``digits``/``mnist``/``fashion-mnist`` and a seeded (seed 0) random
    subset of the others.
    """
    return load_split(name, split, data_dir, limit)


class Batch(NamedTuple):
    """A batch: integer inputs ``(B, ...)`` (uint8 or int8) and int64 labels ``(B,)``."""

    x: torch.Tensor
    y: torch.Tensor


class ArraySet(Dataset):
    """Inputs and labels in memory as a map-style data set; a batch is one fancy index (``__getitems__``)."""

    def __init__(self, x: np.ndarray, y: np.ndarray) -> None:
        if len(x) != len(y):
            raise DataError(f"{len(x)} inputs, {len(y)} labels")
        self.x, self.y = x, y

    def __len__(self) -> int:
        return len(self.x)

    def __getitem__(self, i: int) -> tuple[np.ndarray, int]:
        return self.x[i], int(self.y[i])

    def __getitems__(self, indices: Sequence[int]) -> Batch:
        idx = np.asarray(indices, dtype=np.int64)
        return Batch(torch.from_numpy(self.x[idx]), torch.from_numpy(self.y[idx]))


class ImageFolderStream(Dataset):
    """Image files decoded one at a time when an item is read (nothing is held in memory but the paths).

    ``items`` are ``(path, label)`` pairs (see :func:`wavebits.data.folder_items`); every image must
    have the shape ``shape`` ``(C, H, W)`` (grayscale: 1 channel, colour: 3), else reading it raises
    :class:`~wavebits.errors.DataError` naming the file.
    """

    def __init__(self, items: Sequence[tuple[Path, int]], shape: tuple[int, int, int]) -> None:
        self.items = list(items)
        self.shape = tuple(shape)

    def __len__(self) -> int:
        return len(self.items)

    def __getitem__(self, i: int) -> tuple[np.ndarray, int]:
        path, label = self.items[i]
        x = image_array(open_image(path))
        if x.shape != self.shape:
            raise DataError(f"{path}: {'x'.join(map(str, x.shape))} image (CxHxW), expected "
                            f"{'x'.join(map(str, self.shape))} like the folder's other images")
        return x, label


def collate(items: Batch | list[tuple[np.ndarray, int]]) -> Batch:
    """Stack items into a :class:`Batch` (a batch already fetched whole passes through)."""
    if isinstance(items, Batch):
        return items
    return Batch(torch.from_numpy(np.stack([x for x, _ in items])),
                 torch.tensor([label for _, label in items], dtype=torch.int64))


@dataclass
class TrainData:
    """What training reads: the train split as a data set, the test split as arrays, the input's scale.

    ``train`` yields ``(x, label)`` items, ``x`` uint8 (``signed`` False) or int8 ``input_shape``;
    ``scale`` is the float value of one input step; ``classes`` is 0 for a reconstruction set.
    """

    train: Dataset
    x_test: np.ndarray
    y_test: np.ndarray
    scale: float
    signed: bool
    name: str
    classes: int
    input_shape: tuple[int, ...]
    note: str = ""

    @property
    def labeled(self) -> bool:
        """False for a reconstruction data set (no labels)."""
        return self.classes > 0

    @property
    def streamed(self) -> bool:
        """True when the train split is read from files as it is used."""
        return isinstance(self.train, ImageFolderStream)

    def describe(self) -> str:
        """One line: sizes, input shape and type, scale, classes, and whether the train split streams."""
        how = ", train split streamed from files" if self.streamed else ""
        return describe_data(self.name, len(self.train), len(self.x_test), self.input_shape, self.x_test.dtype,
                             self.scale, self.classes, self.note, how)


def as_train_data(data: DataSet | TrainData) -> TrainData:
    """``data`` as :class:`TrainData` (an in-memory :class:`~wavebits.data.DataSet` becomes an ``ArraySet``)."""
    if isinstance(data, TrainData):
        return data
    return TrainData(ArraySet(data.x_train, data.y_train), data.x_test, data.y_test, data.scale, data.signed,
                     data.name, data.classes, data.input_shape, data.note)


def open_folder_stream(root: str | Path, *, seed: int = 0, test_fraction: float = 0.2,
                       limit_train: int | None = None, limit_test: int | None = None) -> TrainData:
    """An image folder (``train/<class>/*``, optional ``test/<class>/*``) with its train split streamed.

    The same files, labels, split and subsets as :func:`wavebits.data.load_folder`; only the test split
    is decoded now (the first train image is read for the input shape). Inputs are uint8, scale 1/255.
    """
    root = Path(root)
    items = folder_items(root, seed=seed, test_fraction=test_fraction, limit_train=limit_train,
                         limit_test=limit_test)
    x_test, y_test = decode_images(items.test)
    shape = tuple(int(d) for d in x_test.shape[1:])
    train = ImageFolderStream(items.train, shape)
    train[0]  # the first image now: a folder whose images differ from the test set's fails before training
    return TrainData(train, x_test, y_test, 1.0 / 255.0, False, root.name, len(items.classes), shape, items.note)


class ShardedBatchSampler:
    """Seeded batches of ``range(n)``, this process's shard of each (a ``batch_sampler`` for ``DataLoader``).

    Epoch ``e`` permutes the indices with ``numpy.random.default_rng([*seed, e])`` (``shuffle``; else
    in order) and cuts the permutation into global batches of ``batch_size``; process ``rank`` of
    ``world`` takes ``batch[rank::world]``. Every process computes the same permutation, so the shards
    of one batch are disjoint and cover it. A last batch too small to give every process two samples
    (BatchNorm needs two) is dropped.
    """

    def __init__(self, n: int, batch_size: int, seed: Sequence[int] = (0,), rank: int = 0, world: int = 1,
                 shuffle: bool = True) -> None:
        if not 0 <= rank < world:
            raise ValueError(f"rank {rank} of {world} processes")
        self.n, self.batch_size, self.seed = n, batch_size, tuple(seed)
        self.rank, self.world, self.shuffle = rank, world, shuffle
        self.epoch = 0

    def set_epoch(self, epoch: int) -> None:
        """The epoch whose permutation the next iteration yields."""
        self.epoch = epoch

    def global_batches(self) -> list[np.ndarray]:
        """This epoch's batches, as every process sees them."""
        order = np.random.default_rng([*self.seed, self.epoch]).permutation(self.n) if self.shuffle \
            else np.arange(self.n)
        out = [order[i:i + self.batch_size] for i in range(0, self.n, self.batch_size)]
        if out and len(out[-1]) < 2 * self.world and len(out) > 1:
            out.pop()
        return out

    def __iter__(self) -> Iterator[list[int]]:
        for batch in self.global_batches():
            yield batch[self.rank::self.world].tolist()

    def __len__(self) -> int:
        return len(self.global_batches())


def loader(dataset: Dataset, batch_sampler: Any, workers: int = 0, pin_memory: bool = False) -> DataLoader:
    """A DataLoader of :class:`Batch` es over ``dataset`` in ``batch_sampler``'s order, ``workers`` processes."""
    return DataLoader(dataset, batch_sampler=batch_sampler, num_workers=workers, collate_fn=collate,
                      pin_memory=pin_memory)
