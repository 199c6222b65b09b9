"""On-disk cache of reranker scores, so a re-run after a config change only scores new pairs.

One SQLite file under ``cache_dir``. A row's key is a hash of (model fingerprint, backend,
precision, max_length, query text, passage text); its value the float32 score vector.
SQLite gives what a benchmark cache needs without code of our own: writes are
transactions (a crash mid-write loses that transaction, never the file), several
processes (DDP ranks, parallel evals) can read and write the same file, and damage is
detectable (``PRAGMA quick_check``). A damaged file is moved aside and rebuilt empty:
the cache only ever saves time, so losing it is safe.
"""

from __future__ import annotations

import hashlib
import logging
import os
import sqlite3
import time
from pathlib import Path
from typing import Sequence

import numpy as np

log = logging.getLogger(__name__)


SCHEMA_VERSION = 1


_CHUNK = 500  # keys per SELECT ... IN (...): below SQLite's host-parameter limit


class ScoreCache:
    def __init__(self, path: str | os.PathLike):
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._conn = self._open()

    # ------------------------------------------------------------------ keys

    @staticmethod
    def keys(namespace: str, pairs: Sequence[tuple[str, str]]) -> list[bytes]:
        """One 16-byte key per pair; ``namespace`` holds fingerprint, backend, precision and max_length."""
        ns = namespace.encode()
        out = []
        for q, p in pairs:
            h = hashlib.blake2b(ns, digest_size=16)
            # Lengths first, so ("ab", "c") and ("a", "bc") never collide.
            qb, pb = q.encode(), p.encode()
            h.update(f"\0{len(qb)}\0{len(pb)}\0".encode())
            h.update(qb)
            h.update(pb)
            out.append(h.digest())
        return out

    # ------------------------------------------------------------------ read / write

    def get(self, keys: Sequence[bytes]) -> dict[bytes, np.ndarray]:
        found: dict[bytes, np.ndarray] = {}
        try:
            for i in range(0, len(keys), _CHUNK):
                chunk = list(keys[i : i + _CHUNK])
                marks = ",".join("?" * len(chunk))
                for k, v in self._conn.execute(f"SELECT k, v FROM scores WHERE k IN ({marks})", chunk):
                    found[bytes(k)] = np.frombuffer(v, dtype=np.float32)
        except sqlite3.DatabaseError as e:
            self._rebuild(e)
            return {}
        return found

    def put(self, keys: Sequence[bytes], scores: np.ndarray) -> None:
        rows = [(k, np.ascontiguousarray(s, dtype=np.float32).tobytes()) for k, s in zip(keys, scores)]
        if not rows:
            return
        try:
            with self._conn:  # one transaction: all rows or none
                self._conn.executemany("INSERT OR REPLACE INTO scores (k, v) VALUES (?, ?)", rows)
        except sqlite3.DatabaseError as e:
            self._rebuild(e)

    def __len__(self) -> int:
        return self._conn.execute("SELECT COUNT(*) FROM scores").fetchone()[0]

    def close(self) -> None:
        self._conn.close()

    # ------------------------------------------------------------------ open / repair

    def _connect(self) -> sqlite3.Connection:
        conn = sqlite3.connect(self.path, timeout=60, isolation_level="DEFERRED", check_same_thread=False)
        conn.execute("PRAGMA journal_mode=WAL")  # readers never block the writer; crash-safe
        conn.execute("PRAGMA synchronous=NORMAL")
        conn.execute("CREATE TABLE IF NOT EXISTS meta (name TEXT PRIMARY KEY, value TEXT)")
        conn.execute("CREATE TABLE IF NOT EXISTS scores (k BLOB PRIMARY KEY, v BLOB NOT NULL) WITHOUT ROWID")
        row = conn.execute("SELECT value FROM meta WHERE name='schema'").fetchone()
        if row is None:
            with conn:
                conn.execute("INSERT OR REPLACE INTO meta VALUES ('schema', ?)", (str(SCHEMA_VERSION),))
        elif row[0] != str(SCHEMA_VERSION):
            raise sqlite3.DatabaseError(f"schema {row[0]} != {SCHEMA_VERSION}")
        ok = conn.execute("PRAGMA quick_check").fetchone()[0]
        if ok != "ok":
            raise sqlite3.DatabaseError(f"quick_check: {ok}")
        return conn

    def _open(self) -> sqlite3.Connection:
        try:
            return self._connect()
        except sqlite3.DatabaseError as e:
            return self._rebuild(e)

    def _rebuild(self, err: Exception) -> sqlite3.Connection:
        log.warning("score cache %s is unreadable (%s); moving it aside and starting an empty one", self.path, err)
        try:
            if getattr(self, "_conn", None) is not None:
                self._conn.close()
        except Exception:  # noqa: BLE001 - closing a broken connection may fail too
            pass
        stamp = time.strftime("%Y%m%d-%H%M%S")
        for suffix in ("", "-wal", "-shm"):
            f = Path(str(self.path) + suffix)
            if not f.exists():
                continue
            if suffix:  # WAL/SHM side files belong to the damaged database: drop them
                f.unlink(missing_ok=True)
            else:  # keep the damaged file for a post-mortem, out of the way
                os.replace(f, f.with_name(f"{f.name}.corrupt-{stamp}"))
        self._conn = self._connect()
        return self._conn


def scores_through_cache(pairs: Sequence[tuple[str, str]], cache: "ScoreCache | None", namespace: str, score, stats: dict) -> np.ndarray:
    """Scores (n x labels) of ``pairs``: identical pairs once, cached ones from ``cache``, the rest by ``score(list)``.

    ``stats["cache_hits"]`` counts the distinct pairs served from the cache; new scores are stored.
    """
    n = len(pairs)
    out: list[np.ndarray | None] = [None] * n
    # Identical pairs (duplicate documents in a candidate list, repeated windows) are scored once.
    first_of: dict[tuple[str, str], int] = {}
    uniq: list[int] = []
    for i, pr in enumerate(pairs):
        if pr not in first_of:
            first_of[pr] = i
            uniq.append(i)
    todo, keys = uniq, []
    if cache is not None and uniq:
        keys = cache.keys(namespace, [pairs[i] for i in uniq])
        hits = cache.get(keys)
        todo = []
        for i, k in zip(uniq, keys):
            if k in hits:
                out[i] = hits[k]
            else:
                todo.append(i)
        stats["cache_hits"] += len(uniq) - len(todo)
    if todo:
        new = score([pairs[i] for i in todo])
        for j, i in enumerate(todo):
            out[i] = new[j]
        if cache is not None:
            key_of = dict(zip(uniq, keys))
            cache.put([key_of[i] for i in todo], new)
    for i, pr in enumerate(pairs):
        if out[i] is None:
            out[i] = out[first_of[pr]]
    if n == 0:
        return np.zeros((0, 1), dtype=np.float32)
    return np.stack([np.asarray(s, dtype=np.float32).reshape(-1) for s in out])
