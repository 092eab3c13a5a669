"""A small ledger: JSON persistence with pathlib, datetime, hashing, custom exceptions, closures."""

import hashlib
import json
import secrets
import tempfile
from contextlib import contextmanager, suppress
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Callable, Iterator


class LedgerError(Exception):
    """Base class for ledger errors."""


class InsufficientFunds(LedgerError):
    def __init__(self, account: str, needed: int) -> None:
        super().__init__(f"{account} needs {needed} more")
        self.account, self.needed = account, needed


@dataclass
class Entry:
    account: str
    amount: int
    memo: str = ""
    at: datetime = field(default_factory=lambda: datetime.now(timezone.utc))
    id: str = field(default_factory=lambda: secrets.token_hex(8))

    def to_dict(self) -> dict:
        return {"account": self.account, "amount": self.amount, "memo": self.memo, "at": self.at.isoformat(), "id": self.id}

    @classmethod
    def from_dict(cls, data: dict) -> "Entry":
        return cls(data["account"], data["amount"], data.get("memo", ""), datetime.fromisoformat(data["at"]), data["id"])


class Ledger:
    def __init__(self, path: Path) -> None:
        self.path = path
        self.entries: list[Entry] = []
        self._listeners: list[Callable[[Entry], None]] = []
        if path.exists():
            self.entries = [Entry.from_dict(d) for d in json.loads(path.read_text())]

    def subscribe(self, listener: Callable[[Entry], None]) -> Callable[[], None]:
        self._listeners.append(listener)

        def unsubscribe() -> None:
            with suppress(ValueError):
                self._listeners.remove(listener)

        return unsubscribe

    def balance(self, account: str) -> int:
        return sum(e.amount for e in self.entries if e.account == account)

    def post(self, account: str, amount: int, memo: str = "") -> Entry:
        if amount < 0 and self.balance(account) + amount < 0:
            raise InsufficientFunds(account, -(self.balance(account) + amount))
        entry = Entry(account, amount, memo)
        self.entries.append(entry)
        for listener in list(self._listeners):
            listener(entry)
        return entry

    def transfer(self, source: str, target: str, amount: int) -> None:
        with self.transaction():
            self.post(source, -amount, f"to {target}")
            self.post(target, amount, f"from {source}")

    @contextmanager
    def transaction(self) -> Iterator[None]:
        saved = list(self.entries)
        try:
            yield
        except LedgerError:
            self.entries = saved
            raise

    def digest(self) -> str:
        h = hashlib.sha256()
        for entry in self.entries:
            h.update(json.dumps(entry.to_dict(), sort_keys=True).encode())
        return h.hexdigest()

    def save(self) -> None:
        self.path.write_text(json.dumps([e.to_dict() for e in self.entries], indent=1))

    def statement(self, account: str, since: timedelta = timedelta(days=30)) -> str:
        cutoff = datetime.now(timezone.utc) - since
        rows = [f"{e.at:%Y-%m-%d} {e.amount:>8} {e.memo}" for e in self.entries if e.account == account and e.at >= cutoff]
        return "\n".join([f"Statement for {account}", *rows, f"Balance: {self.balance(account)}"])


def main() -> None:
    with tempfile.TemporaryDirectory() as tmp:
        ledger = Ledger(Path(tmp) / "ledger.json")
        log: list[str] = []
        stop = ledger.subscribe(lambda e: log.append(f"{e.account}:{e.amount}"))
        ledger.post("alice", 100, "opening")
        ledger.post("bob", 20, "opening")
        ledger.transfer("alice", "bob", 30)
        try:
            ledger.transfer("bob", "carol", 500)
        except InsufficientFunds as err:
            print(f"refused: {err} (needs {err.needed})")
        stop()
        ledger.post("carol", 5)
        ledger.save()
        again = Ledger(ledger.path)
        print(again.balance("alice"), again.balance("bob"), len(log), again.digest() == ledger.digest())
        print(again.statement("bob"))


if __name__ == "__main__":
    main()
