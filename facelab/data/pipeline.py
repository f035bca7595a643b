"""Input pipelines over the NumPy samplers: uint8 ``(n, h, w, c)`` arrays → float32 batches in [0, 1].

The only TensorFlow code in the data room. A pipeline is a Python generator that walks the
sampler's epochs ``start_epoch .. epochs-1`` (skipping the first ``skip`` batches of the first
one, for a run resumed mid-epoch) and gathers the uint8 images in NumPy, followed by a ``map``
that converts to float and, optionally, mirrors and shifts images seeded by ``(seed, global batch
number)``. So the same seed gives the same batches, augmentation included, in any run and after any resume.

Under the TensorFlow backend the map is a tf.data graph map (``tf.image.stateless_random_flip_left_right``)
with prefetching. Under any other Keras backend (JAX on a GPU machine without TensorFlow) the
same generator is mapped in NumPy (flips from ``numpy.random.default_rng(seed)``: the same
batches, other flip draws) and prefetched by a background thread.

Datasets span all requested epochs: train with ``model.fit(ds, epochs=E, initial_epoch=e0,
steps_per_epoch=steps_per_epoch(sampler))`` (Keras keeps one iterator across epochs when
``steps_per_epoch`` is given).
"""
from __future__ import annotations

import queue
import threading
from typing import Callable, Iterator

import numpy as np

from .samplers import BatchSampler, EpisodeSampler, GroupSampler, PairSampler, PKSampler


def use_tf_data() -> bool:
    """tf.data pipelines under Keras' TensorFlow backend, NumPy generators under the others."""
    import keras

    return keras.backend.backend() == "tensorflow"


def _check(images: np.ndarray, labels: np.ndarray | None = None) -> np.ndarray:
    images = np.asarray(images)
    if images.ndim != 4 or images.dtype != np.uint8:
        raise ValueError(f"images must be uint8 (n, height, width, channels); got {images.dtype} {images.shape}")
    if labels is not None and np.shape(labels) != (len(images),):
        raise ValueError(f"labels must have shape ({len(images)},) to match the images; got {np.shape(labels)}")
    return images


def to_float(images):
    """uint8 → float32 in [0, 1] (divide by 255); a NumPy array stays NumPy, a tensor stays a tensor."""
    if isinstance(images, np.ndarray):
        return images.astype(np.float32) / np.float32(255.0)
    import tensorflow as tf

    return tf.cast(images, tf.float32) / 255.0


def flip_seed(seed: int, step: int, stream: int = 0) -> np.ndarray:
    """The stateless seed ``(2,)`` of batch ``step``: one independent stream per input (pairs use 0, 1)."""
    return np.array([int(seed) & 0x7FFFFFFF, 2 * int(step) + stream], dtype=np.int64)


def augment_batch(images, seed):
    """Horizontal flip, each image of the batch independently with p = 0.5 (a face is ~symmetric)."""
    if isinstance(images, np.ndarray):
        flip = np.random.default_rng(np.asarray(seed).tolist()).random(len(images)) < 0.5
        images = images.copy()
        images[flip] = images[flip, :, ::-1]
        return images
    import tensorflow as tf

    return tf.image.stateless_random_flip_left_right(images, seed=seed)


def shift_batch(images, seed, shift: int):
    """Random translation of each image of the batch by (dy, dx), each uniform in ``-shift..shift``
    pixels, the border filled by reflection: the crop jitter of Krizhevsky et al. (2012, Sec. 4.1),
    which keeps a network from learning where in the frame a face sits. The draw comes from the batch's
    stateless ``seed`` (its own stream, independent of the flips')."""
    if shift < 1:
        return images
    n, h, w = images.shape[0], images.shape[1], images.shape[2]
    pad = [[0, 0], [shift, shift], [shift, shift], [0, 0]]
    if isinstance(images, np.ndarray):
        offsets = np.random.default_rng([*np.asarray(seed).tolist(), 1]).integers(0, 2 * shift + 1, (n, 2))
        padded = np.pad(images, pad, mode="reflect")
        rows = offsets[:, :1] + np.arange(h)  # (n, h)
        cols = offsets[:, 1:] + np.arange(w)  # (n, w)
        return padded[np.arange(n)[:, None, None], rows[:, :, None], cols[:, None, :]]
    import tensorflow as tf

    offsets = tf.random.stateless_uniform((tf.shape(images)[0], 2), tf.random.experimental.stateless_fold_in(seed, 1),
                                          minval=0, maxval=2 * shift + 1, dtype=tf.int32)
    padded = tf.pad(images, pad, mode="REFLECT")
    rows = offsets[:, :1] + tf.range(h)[None]
    cols = offsets[:, 1:] + tf.range(w)[None]
    return tf.gather(tf.gather(padded, rows, axis=1, batch_dims=1), cols, axis=2, batch_dims=1)


def translate(images: np.ndarray, dy: int, dx: int, name: str = "shift") -> np.ndarray:
    """Every image of ``images`` (n, h, w, c) moved by the same (dy, dx) pixels, the border filled by
    reflection: ``out[:, i, j] = images[:, i + dy, j + dx]`` inside the frame. The deterministic
    counterpart of :func:`shift_batch`'s random offsets, for test-time averaging over shifted copies;
    ``name`` is the argument an error names."""
    s = max(abs(int(dy)), abs(int(dx)))
    if s == 0:
        return images
    _check_shift(images, s, name)
    h, w = images.shape[1:3]
    padded = np.pad(images, [[0, 0], [s, s], [s, s], [0, 0]], mode="reflect")
    return padded[:, s + dy: s + dy + h, s + dx: s + dx + w]


def _check_shift(images: np.ndarray, shift: int, name: str = "shift") -> int:
    if not 0 <= int(shift) < min(images.shape[1:3]):
        raise ValueError(f"{name} must be in 0..{min(images.shape[1:3]) - 1} pixels for {images.shape[1]}×"
                         f"{images.shape[2]} images (a reflection pad narrower than the image); got {shift}")
    return int(shift)


def augment_images(images, seed, augment: bool, shift: int = 0):
    """The training augmentation of the deep methods: :func:`shift_batch` then, with ``augment``,
    :func:`augment_batch`'s flips."""
    images = shift_batch(images, seed, shift)
    return augment_batch(images, seed) if augment else images


class _Prefetched:
    """Runs a generator in a background thread, ``depth`` items ahead (NumPy pipelines).

    :meth:`close` (called when the consuming generator is closed or collected, e.g. when Keras
    stops reading after the last step) ends the thread instead of leaving it blocked on a full queue.
    """

    _END = object()

    def __init__(self, gen: Iterator, depth: int = 4):
        self._queue: queue.Queue = queue.Queue(depth)
        self._stop = threading.Event()
        self._error: BaseException | None = None
        self.thread = threading.Thread(target=self._run, args=(gen,), daemon=True)
        self.thread.start()

    def _put(self, item) -> bool:
        while not self._stop.is_set():
            try:
                self._queue.put(item, timeout=0.1)
                return True
            except queue.Full:
                continue
        return False

    def _run(self, gen):
        try:
            for item in gen:
                if not self._put(item):
                    return
        except BaseException as exc:  # noqa: BLE001 - handed to the consumer
            self._error = exc
        self._put(self._END)

    def close(self) -> None:
        self._stop.set()

    def __iter__(self):
        return self

    def __next__(self):
        item = self._queue.get()
        if item is self._END:
            self._queue.put(self._END)
            if self._error is not None:
                raise self._error
            raise StopIteration
        return item


def _consume(prefetched: _Prefetched):
    """A generator object (the type Keras' ``fit`` accepts besides datasets) over ``prefetched``."""
    try:
        yield from prefetched
    finally:
        prefetched.close()


def mapped_batches(gen: Callable[[], Iterator], signature: Callable[[], object], fn: Callable):
    """``fn`` mapped over the batches of ``gen()``: a prefetched tf.data pipeline under TensorFlow
    (``signature()``: the tf.TensorSpec structure of a batch), else a prefetched NumPy iterator."""
    if not use_tf_data():
        return _consume(_Prefetched(fn(*item) if isinstance(item, tuple) else fn(item) for item in gen()))
    import tensorflow as tf

    ds = tf.data.Dataset.from_generator(gen, output_signature=signature())
    return ds.map(fn, num_parallel_calls=tf.data.AUTOTUNE, deterministic=True).prefetch(tf.data.AUTOTUNE)


def image_spec(images, extra_dims=(), dtype="uint8"):
    """tf.TensorSpec of a batch of ``images``-like arrays (for :func:`mapped_batches` under TensorFlow)."""
    import tensorflow as tf

    return tf.TensorSpec((None, *extra_dims, *images.shape[1:]), dtype)


def vector_spec(shape=(None,), dtype="int32"):
    """tf.TensorSpec of per-batch labels or other small arrays."""
    import tensorflow as tf

    return tf.TensorSpec(shape, dtype)


def steps_per_epoch(sampler, batch_size: int | None = None) -> int:
    """Batches per epoch that a pipeline built on ``sampler`` yields."""
    if isinstance(sampler, PairSampler):
        return len(sampler) // batch_size
    if isinstance(sampler, GroupSampler):
        return len(sampler) // batch_size
    return len(sampler)


def _epochs(epochs: int, start_epoch: int, skip: int) -> Iterator[tuple[int, int]]:
    if epochs <= start_epoch:
        raise ValueError(f"epochs={epochs} must be larger than start_epoch={start_epoch}")
    if skip < 0:
        raise ValueError(f"skip must be >= 0, got {skip}")
    for e in range(start_epoch, epochs):
        yield e, (skip if e == start_epoch else 0)


def pk_dataset(images, labels, sampler: PKSampler, *, epochs: int = 1, start_epoch: int = 0, skip: int = 0,
               augment: bool = False, shift: int = 0, seed: int | None = None, max_steps: int | None = None):
    """``(x float32 (P*K, h, w, c), y int32 (P*K,))`` batches for online mining; ``max_steps``
    keeps only the first batches of every epoch (quick modes); ``augment`` and ``shift``: see
    :func:`augment_images`."""
    return _indexed(images, labels, sampler, epochs=epochs, start_epoch=start_epoch, skip=skip, augment=augment,
                    shift=shift, seed=seed, max_steps=max_steps)


def batch_dataset(images, labels, sampler: BatchSampler, *, epochs: int = 1, start_epoch: int = 0, skip: int = 0,
                  augment: bool = False, shift: int = 0, seed: int | None = None, max_steps: int | None = None):
    """Shuffled ``(x, y)`` batches (identification training)."""
    return _indexed(images, labels, sampler, epochs=epochs, start_epoch=start_epoch, skip=skip, augment=augment,
                    shift=shift, seed=seed, max_steps=max_steps)


def _indexed(images, labels, sampler, *, epochs, start_epoch, skip, augment, shift, seed, max_steps=None):
    images = _check(images, labels)
    shift = _check_shift(images, shift)
    labels = np.asarray(labels, dtype=np.int32)
    seed = sampler.seed if seed is None else seed
    n_steps = len(sampler)

    def gen():
        for e, first in _epochs(epochs, start_epoch, skip):
            for b, idx in enumerate(sampler.epoch(e)[first:max_steps], start=first):
                yield images[idx], labels[idx], flip_seed(seed, e * n_steps + b)

    def fn(x, y, s):
        return augment_images(to_float(x), s, augment, shift), y

    return mapped_batches(gen, lambda: (image_spec(images), vector_spec(), vector_spec((2,), "int64")), fn)


def pair_dataset(images, labels, sampler: PairSampler, batch_size: int, *, epochs: int = 1, start_epoch: int = 0,
                 skip: int = 0, augment: bool = False, shift: int = 0, with_identities: bool = False,
                 seed: int | None = None):
    """Pairs in batches: ``((xa, xb), same)``; with ``with_identities`` the target is
    ``(same, ya, yb)`` (DeepID2's joint signal). ``same = 1`` means the SAME person."""
    images = _check(images, labels)
    shift = _check_shift(images, shift)
    labels = np.asarray(labels, dtype=np.int32)
    seed = sampler.seed if seed is None else seed
    n_steps = steps_per_epoch(sampler, batch_size)
    if n_steps == 0:
        raise ValueError(f"batch_size={batch_size} is larger than pairs_per_epoch={len(sampler)}")

    def gen():
        for e, first in _epochs(epochs, start_epoch, skip):
            a, b, same = sampler.epoch(e)
            for s in range(first, n_steps):
                sl = slice(s * batch_size, (s + 1) * batch_size)
                g = e * n_steps + s
                yield (images[a[sl]], images[b[sl]], same[sl], labels[a[sl]], labels[b[sl]],
                       flip_seed(seed, g, 0), flip_seed(seed, g, 1))

    def fn(xa, xb, same, ya, yb, sa, sb):
        xa, xb = augment_images(to_float(xa), sa, augment, shift), augment_images(to_float(xb), sb, augment, shift)
        return (xa, xb), ((same, ya, yb) if with_identities else same)

    return mapped_batches(gen, lambda: (image_spec(images), image_spec(images), vector_spec(), vector_spec(),
                                        vector_spec(), vector_spec((2,), "int64"), vector_spec((2,), "int64")), fn)


def group_dataset(images, labels, sampler: GroupSampler, groups_per_batch: int, *, epochs: int = 1,
                  start_epoch: int = 0, skip: int = 0, augment: bool = False,
                  seed: int | None = None):
    """``(x float32 (B, N, h, w, c), y int32 (B,))``: B groups of N images of one identity each."""
    images = _check(images, labels)
    labels = np.asarray(labels, dtype=np.int32)
    seed = sampler.seed if seed is None else seed
    n_steps = steps_per_epoch(sampler, groups_per_batch)
    if n_steps == 0:
        raise ValueError(f"groups_per_batch={groups_per_batch} is larger than the {len(sampler)} groups per epoch")
    h, w, c = images.shape[1:]

    def gen():
        for e, first in _epochs(epochs, start_epoch, skip):
            groups = sampler.epoch(e)
            for s in range(first, n_steps):
                idx = groups[s * groups_per_batch: (s + 1) * groups_per_batch]  # (B, N)
                yield images[idx], labels[idx[:, 0]], flip_seed(seed, e * n_steps + s)

    def fn(x, y, s):
        x = to_float(x)
        if augment:
            if isinstance(x, np.ndarray):
                x = augment_batch(x.reshape(-1, h, w, c), s).reshape(x.shape)
            else:
                import tensorflow as tf

                x = tf.reshape(augment_batch(tf.reshape(x, (-1, h, w, c)), s), tf.shape(x))
        return x, y

    return mapped_batches(gen, lambda: (image_spec(images, (None,)), vector_spec(), vector_spec((2,), "int64")), fn)


def episode_dataset(images, sampler: EpisodeSampler, count: int, *, start: int = 0):
    """Episodes as dicts: ``support`` (N*K, h, w, c), ``support_labels``, ``query``, ``query_labels``
    (episode-local labels 0..N-1) and ``classes`` (the original identities)."""
    images = _check(images)

    def gen():
        for ep in sampler.episodes(count, start):
            yield {"support": images[ep.support], "support_labels": ep.support_labels.astype(np.int32),
                   "query": images[ep.query], "query_labels": ep.query_labels.astype(np.int32),
                   "classes": ep.classes.astype(np.int32)}

    return mapped_batches(gen, lambda: {"support": image_spec(images), "support_labels": vector_spec(),
                                        "query": image_spec(images), "query_labels": vector_spec(),
                                        "classes": vector_spec()},
                          lambda d: {**d, "support": to_float(d["support"]), "query": to_float(d["query"])})


def inference_dataset(images, batch_size: int = 256):
    """Images in order, float32 in [0, 1], for embedding (no shuffling, keeps the last partial batch)."""
    images = _check(images)

    def gen():
        for i in range(0, len(images), batch_size):
            yield images[i: i + batch_size]

    return mapped_batches(gen, lambda: image_spec(images), to_float)
