"""Text columns kept dictionary-encoded (``dictionary<int32, string>``) from reader to writer.

A billing export repeats a few values a lot (line item types, account ids, regions, units), and
Parquet stores such columns as a dictionary and indices. Reading them as dictionaries and mapping
them with the functions below costs work per *distinct* value plus integer work per row; the
Parquet writer then writes the dictionary and the indices as they are. Decoding them to plain
strings (and encoding them again on write) was most of a converter's time.

The arrays these functions return never have NULL dictionary values (a NULL is a NULL index), so
``is_valid`` and the Parquet writer see the rows' NULLs. Dictionaries may hold duplicate or
unused words (mapping, choosing and coalescing append dictionaries instead of merging them);
the values read are the same.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

TEXT = pa.dictionary(pa.int32(), pa.string())


def coded(values: Any) -> pa.DictionaryArray:
    """``values`` (text, dictionary-encoded text or NULLs) as ``dictionary<int32, string>``."""
    if isinstance(values, pa.ChunkedArray):
        values = values.chunk(0) if values.num_chunks == 1 else values.combine_chunks()
    if pa.types.is_dictionary(values.type):
        if values.type != TEXT:
            values = values.cast(TEXT)
        if values.dictionary.null_count:
            return remap(values, values.dictionary)
        return values
    if pa.types.is_null(values.type) or values.null_count == len(values):
        return nulls(len(values))
    if not pa.types.is_string(values.type):
        values = pc.cast(values, pa.string())
    return pc.dictionary_encode(values)


def nulls(rows: int) -> pa.DictionaryArray:
    return pa.DictionaryArray.from_arrays(pa.nulls(rows, pa.int32()), pa.array([], pa.string()))


def constant(value: str, rows: int) -> pa.DictionaryArray:
    """``value`` on every row (one word, zero indices)."""
    zeros = pa.array(np.zeros(rows, dtype=np.int32))
    return pa.DictionaryArray.from_arrays(zeros, pa.array([value], pa.string()))


def remap(values: pa.DictionaryArray, words: pa.Array) -> pa.DictionaryArray:
    """``values`` with its dictionary replaced by ``words`` (same length; a NULL word makes the
    rows that point at it NULL)."""
    if not words.null_count:
        return pa.DictionaryArray.from_arrays(values.indices, words)
    valid = pc.is_valid(words)
    positions = pa.array(np.arange(len(words), dtype=np.int32))
    kept = pc.if_else(valid, positions, pa.scalar(None, pa.int32()))
    indices = pc.take(kept, values.indices)
    return pa.DictionaryArray.from_arrays(indices, pc.fill_null(words, ""))


def map_words(values: Any, fn: Callable[[pa.Array], pa.Array]) -> pa.DictionaryArray:
    """``fn`` (text array -> text array of the same length) applied to the distinct words."""
    encoded = coded(values)
    return remap(encoded, fn(encoded.dictionary))


def lookup(values: Any, table: Mapping[str, str | None]) -> pa.DictionaryArray:
    """Each value looked up in ``table`` (unknown or NULL -> NULL)."""
    keys = pa.array(list(table), pa.string())
    found = pa.array(list(table.values()), pa.string())
    return map_words(values, lambda words: pc.take(found, pc.index_in(words, value_set=keys)))


def rows_in(values: Any, wanted: tuple[str, ...]) -> pa.BooleanArray:
    """Whether each row's value is one of ``wanted`` (NULL -> False)."""
    encoded = coded(values)
    hit = pc.is_in(encoded.dictionary, value_set=pa.array(wanted, pa.string()))
    return pc.fill_null(pc.take(hit, encoded.indices), False)


def uniform(mask: Any) -> bool | None:
    """True or False when every row of ``mask`` is, else None (some differ or are NULL)."""
    if mask.null_count:
        return None
    true = pc.sum(mask).as_py() or 0
    return True if true == len(mask) else False if true == 0 else None


def choose(mask: Any, then: Any, otherwise: Any) -> pa.DictionaryArray:
    """``if_else(mask, then, otherwise)``; one side untouched when the mask is uniform."""
    same = uniform(mask)
    if same is not None:
        return coded(then if same else otherwise)
    a, b = coded(then), coded(otherwise)
    shifted = pc.add(b.indices, pa.scalar(len(a.dictionary), pa.int32()))
    indices = pc.if_else(mask, a.indices, shifted)
    return pa.DictionaryArray.from_arrays(indices, pa.concat_arrays([a.dictionary, b.dictionary]))


def first_valid(*values: Any) -> pa.DictionaryArray:
    """``coalesce``: all-NULL arguments skipped, stopping at one without NULLs."""
    useful = [coded(v) for v in values if v.null_count < len(v)]
    if not useful:
        return coded(values[0])
    for k, v in enumerate(useful):
        if v.null_count == 0:
            useful = useful[: k + 1]
            break
    if len(useful) == 1:
        return useful[0]
    indices, offset = [], 0
    for v in useful:
        indices.append(pc.add(v.indices, pa.scalar(offset, pa.int32())) if offset else v.indices)
        offset += len(v.dictionary)
    dictionary = pa.concat_arrays([v.dictionary for v in useful])
    return pa.DictionaryArray.from_arrays(pc.coalesce(*indices), dictionary)


def blank_to_null(values: Any) -> pa.DictionaryArray:
    """Empty text as NULL (AWS writes '' for "not applicable" in Parquet)."""
    encoded = coded(values)
    words = encoded.dictionary
    blank = pc.equal(words, "")
    if not pc.any(blank).as_py():
        return encoded
    return remap(encoded, pc.if_else(blank, pa.scalar(None, pa.string()), words))
