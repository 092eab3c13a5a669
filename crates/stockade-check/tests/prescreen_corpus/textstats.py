"""Word statistics over text: regex, Counter, itertools, functools, statistics, argparse, sys."""

import argparse
import functools
import itertools
import re
import statistics
import string
import sys
from collections import Counter, OrderedDict
from pathlib import Path

SAMPLE = """It was the best of times, it was the worst of times, it was the age of wisdom,
it was the age of foolishness, it was the epoch of belief, it was the epoch of incredulity,
it was the season of Light, it was the season of Darkness."""

WORD = re.compile(r"[A-Za-z']+")
STOP = frozenset("a an the of it was is and or to in".split())


def words(text: str) -> list[str]:
    return [w.lower() for w in WORD.findall(text)]


@functools.lru_cache(maxsize=None)
def syllables(word: str) -> int:
    groups = re.findall(r"[aeiouy]+", word.lower())
    count = len(groups) - (1 if word.endswith("e") and len(groups) > 1 else 0)
    return max(count, 1)


def ngrams(tokens: list[str], n: int = 2) -> Counter:
    return Counter(zip(*(itertools.islice(tokens, i, None) for i in range(n))))


def summarize(text: str, top: int = 5) -> "OrderedDict[str, object]":
    tokens = words(text)
    content = [t for t in tokens if t not in STOP]
    lengths = [len(t) for t in tokens]
    sentences = [s for s in re.split(r"[.!?]+", text) if s.strip()]
    summary: OrderedDict[str, object] = OrderedDict()
    summary["words"] = len(tokens)
    summary["unique"] = len(set(tokens))
    summary["mean length"] = round(statistics.mean(lengths), 2) if lengths else 0
    summary["median length"] = statistics.median(lengths) if lengths else 0
    summary["top words"] = Counter(content).most_common(top)
    summary["top bigrams"] = [(" ".join(pair), n) for pair, n in ngrams(content).most_common(3)]
    summary["syllables"] = sum(syllables(t) for t in tokens)
    summary["sentences"] = len(sentences)
    letters = Counter(c for c in text.lower() if c in string.ascii_lowercase)
    summary["rarest letters"] = sorted(letters, key=lambda c: (letters[c], c))[:3]
    return summary


def render(summary: "OrderedDict[str, object]") -> str:
    width = max(map(len, summary))
    lines = []
    for key, value in summary.items():
        if isinstance(value, list):
            value = ", ".join(f"{k}×{n}" if isinstance(k, str) else str(k) for k, n in value) if value and isinstance(value[0], tuple) else ", ".join(map(str, value))
        lines.append(f"{key:>{width}} : {value}")
    return "\n".join(lines)


def chunks(iterable, size):
    iterator = iter(iterable)
    while batch := list(itertools.islice(iterator, size)):
        yield batch


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("path", nargs="?", help="a text file (default: a sample)")
    parser.add_argument("--top", type=int, default=5)
    args = parser.parse_args(argv)
    text = Path(args.path).read_text(encoding="utf-8") if args.path else SAMPLE
    print(render(summarize(text, args.top)))
    for i, batch in enumerate(chunks(words(text), 8)):
        print(f"{i:02d}", " ".join(batch))
    print(syllables.cache_info(), file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
