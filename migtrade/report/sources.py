"""Source notes: where the numbers of a table or a plot came from, in one line per dataset.

Each result records its data (``data`` in the ``migtrade.estimation/1`` schema): the file path or
stored dataset name, a description, the sha256 of the bytes read, and, for stored datasets, their
provenance (source, URL or file, retrieval time, sha256 of the raw payload, parser version, and
the input datasets of a derived one). A reader must be able to find the exact data again, so the
note keeps the fingerprints and the provenance, and leaves out everything else.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

SHA_PREFIX = 12  # hex digits: enough to tell files apart, short enough for a footnote


def describe_data(data: Mapping[str, Any]) -> str:
    """One dataset as text: name or path, description, sha256 prefix and provenance.

    Examples
    --------
    >>> describe_data({"path": "flows.csv", "sha256": "302fd758c1a2ffff", "rows": 10})
    'flows.csv (sha256 302fd758c1a2)'
    """
    name = data.get("dataset") or data.get("path")
    description = data.get("description")
    parts = [str(p) for p in (name, description) if p]
    text = ": ".join(parts) if parts else "unknown data"
    if data.get("sha256"):
        text += f" (sha256 {str(data['sha256'])[:SHA_PREFIX]})"
    origins = _provenance(data.get("provenance"))
    if origins:
        text += "; from " + "; ".join(origins)
    return text


def source_notes(datas: Sequence[Mapping[str, Any]], titles: Sequence[str]) -> list[str]:
    """The ``Data:`` notes of several models: one line when they share their data, else one per dataset.

    Parameters
    ----------
    datas
        Each model's ``data`` record, in column order.
    titles
        The column headings, used to say which models a dataset belongs to.
    """
    groups: dict[str, list[str]] = {}
    for data, title in zip(datas, titles, strict=True):
        if data:
            groups.setdefault(describe_data(data), []).append(title)
    if len(groups) == 1 and len(next(iter(groups.values()))) == len(titles):
        return [f"Data: {next(iter(groups))}"]
    return [f"Data {', '.join(cols)}: {text}" for text, cols in groups.items()]


def _provenance(value: Any) -> list[str]:
    """Provenance records as text: a mapping (as the store writes it), a list of them, or text.

    A record reads "source location, retrieved DATE, sha256 PREFIX, parser VERSION", followed by
    its inputs (name or location and sha256 prefix) when it was derived from other datasets.
    """
    if not value:
        return []
    if isinstance(value, str):
        return [value]
    records = [value] if isinstance(value, Mapping) else list(value)
    out = []
    for rec in records:
        if not isinstance(rec, Mapping):
            out.append(str(rec))
            continue
        words = [str(rec[k]) for k in ("source", "name") if rec.get(k)][:1]
        words += [str(rec[k]) for k in ("location", "url", "file", "path") if rec.get(k)][:1]
        text = " ".join(words) or "unnamed source"
        if rec.get("retrieved_at"):
            text += f", retrieved {str(rec['retrieved_at'])[:10]}"
        if rec.get("sha256"):
            text += f", sha256 {str(rec['sha256'])[:SHA_PREFIX]}"
        if rec.get("parser_version"):
            text += f", parser {rec['parser_version']}"
        inputs = [i for i in rec.get("inputs") or () if isinstance(i, Mapping)]
        if inputs:
            text += " (inputs: " + ", ".join(_input(i) for i in inputs) + ")"
        out.append(text)
    return out


def _input(item: Mapping[str, Any]) -> str:
    name = str(item.get("name") or item.get("location") or "unnamed")
    return f"{name} sha256 {str(item['sha256'])[:SHA_PREFIX]}" if item.get("sha256") else name
