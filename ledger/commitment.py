"""The balances commitment, written fast: in sorted chunks, and kept as balances move.

A checkpoint commits to every balance by `ledger.checkpoints.balances_commitment`: SHA-256
of the canonical JSON of the non-zero balances, names sorted. That definition is the
published one; here are two ways to reach the same digest without its cost:

- `balances_commitment` hashes the text in chunks of sorted names, never the whole text
  at once (the audit passes, over hundreds of thousands of accounts);
- `RunningCommitment` keeps balances that move between checkpoints (an export, its
  verifier, the projector that signs checkpoints): names stay sorted in chunks whose text
  is kept, and a chunk is written again only when one of its balances moved. Committing
  then costs the hashing of the text, not the sorting and writing of every balance again,
  which made a long export and its verification quadratic in the number of checkpoints.

Plain names (printable ASCII without `"` or a backslash, which JSON writes as they are)
are written directly, any other by `json.dumps`: the text is the same either way
(tests/unit/test_commitment.py compares both with the definition).
"""

from __future__ import annotations

import hashlib
import json
from bisect import bisect_right, insort
from collections.abc import Iterable, Iterator, Mapping, Sequence

# Names a chunk of `RunningCommitment` holds, up to twice that before it splits. Small:
# names are spread at random (account ids), so the moves between two checkpoints touch
# most chunks unless chunks are many. Measured on 720,000 accounts, 10,000 random moves
# between digests: 0.21-0.25 s a digest at 16, 0.4-0.5 s at 64, 0.73-0.80 s at 1,024 (a
# full `balances_commitment` takes 1.2-1.5 s); the first digest writes all (1.5-2.3 s).
CHUNK = 16


def balances_commitment(balances: Mapping[str, int], chunk: int = 10_000) -> str:
    """`ledger.checkpoints.balances_commitment`, hashed in sorted chunks: the same digest
    without the whole JSON text in memory at once."""
    digest = hashlib.sha256(b"{")
    for i, piece in enumerate(commitment_pieces(sorted_accounts(balances), balances, chunk)):
        digest.update(b"," + piece if i else piece)
    digest.update(b"}")
    return digest.hexdigest()


def sorted_accounts(balances: Mapping[str, int]) -> list[str]:
    """The accounts of the non-zero balances, sorted (names only: a list of pairs would
    cost a tuple per account)."""
    return sorted([account for account, cents in balances.items() if cents])


def commitment_pieces(
    accounts: Sequence[str], balances: Mapping[str, int], chunk: int = 10_000
) -> Iterator[bytes]:
    """The canonical JSON of the balances of these accounts (`sorted_accounts`), without its
    braces, in pieces of `chunk` entries: `{` + the pieces joined by `,` + `}` is the text
    `ledger.checkpoints.balances_commitment` hashes. Plain names (printable ASCII without
    `"` or a backslash, which JSON writes as they are) are written directly, any other by
    `json.dumps`, so the text is the same either way."""
    for i in range(0, len(accounts), chunk):
        names = accounts[i : i + chunk]
        values = [balances[name] for name in names]
        assert set(map(type, values)) <= {int}, "integer cents only"
        joined = "".join(names)
        if joined.isascii() and joined.isprintable() and '"' not in joined and "\\" not in joined:
            text = ",".join(
                [f'"{name}":{cents}' for name, cents in zip(names, values, strict=True)]
            )
        else:
            text = json.dumps(dict(zip(names, values, strict=True)), separators=(",", ":"))[1:-1]
        yield text.encode("ascii")


class RunningCommitment:
    """Balances that move, and the commitment to them (`digest`) at any moment.

    Moves go through `move` (the sink the chart's rules take: `ledger.accounts.posting_rule`)
    or `apply` (postings). Every name ever moved stays in `balances`, zero or not."""

    def __init__(self) -> None:
        self.balances: dict[str, int] = {}
        self._moved: set[str] = set()  # names whose balance moved since the last digest
        self._new: list[str] = []  # names first seen since the last digest
        self._chunks: list[list[str]] = []  # every name, sorted, in chunks
        self._firsts: list[str] = []  # the first name of each chunk
        self._texts: list[bytes | None] = []  # each chunk's JSON text; None: to write again

    @staticmethod
    def move(sink: RunningCommitment, source: str, destination: str, cents: int) -> None:
        """Move `cents` from one account to another (nothing for zero): `accounts.Move`."""
        if cents:
            balances = sink.balances
            for name, delta in ((source, -cents), (destination, cents)):
                before = balances.get(name)
                if before is None:
                    sink._new.append(name)
                    balances[name] = delta
                else:
                    balances[name] = before + delta
                sink._moved.add(name)

    def apply(self, postings: Iterable[object]) -> None:
        for p in postings:
            self.move(self, p.source, p.destination, p.amount_cents)  # type: ignore[attr-defined]

    def digest(self) -> str:
        """`ledger.checkpoints.balances_commitment(self.balances)`."""
        self._place_new()
        for name in self._moved:
            self._texts[self._chunk_of(name)] = None
        self._moved.clear()
        digest, first = hashlib.sha256(b"{"), True
        for at, text in enumerate(self._texts):
            if text is None:
                text = self._texts[at] = self._write(self._chunks[at])
            if text:
                digest.update(text if first else b"," + text)
                first = False
        digest.update(b"}")
        return digest.hexdigest()

    def _write(self, names: list[str]) -> bytes:
        balances = self.balances
        live = [name for name in names if balances[name]]
        return b"".join(commitment_pieces(live, balances, chunk=len(live) or 1))

    def _chunk_of(self, name: str) -> int:
        return max(bisect_right(self._firsts, name) - 1, 0)

    def _place_new(self) -> None:
        new, self._new = sorted(self._new), []
        if not self._chunks:  # the first names: cut into chunks at once
            self._chunks = [new[i : i + CHUNK] for i in range(0, len(new), CHUNK)]
            self._firsts = [chunk[0] for chunk in self._chunks]
            self._texts = [None] * len(self._chunks)
            return
        for name in new:
            at = self._chunk_of(name)
            chunk = self._chunks[at]
            insort(chunk, name)
            self._firsts[at] = chunk[0]
            self._texts[at] = None
            if len(chunk) > 2 * CHUNK:  # split in two
                self._chunks[at : at + 1] = [chunk[:CHUNK], chunk[CHUNK:]]
                self._firsts[at : at + 1] = [chunk[0], chunk[CHUNK]]
                self._texts[at : at + 1] = [None, None]
