# Pure computation with the standard library: the bread and butter of model-written code.
import bisect, collections, decimal, fractions, functools, heapq, itertools, math, re, statistics, string

words = "the quick brown fox jumps over the lazy dog the end".split()
print(collections.Counter(words).most_common(3))
print(sorted(set(words)), bisect.bisect(sorted(words), "lazy"))
print(heapq.nlargest(3, [5, 1, 9, 3, 7]), list(itertools.accumulate(range(6))))
print(statistics.mean([1, 2, 3, 4]), statistics.median([3, 1, 2]), round(statistics.stdev([1, 2, 3, 4]), 6))
decimal.getcontext().prec = 30
print(decimal.Decimal(1) / decimal.Decimal(7), fractions.Fraction(3, 4) + fractions.Fraction(1, 6))
print(math.comb(30, 12), math.isqrt(10**20), round(math.gamma(5.5), 9))
@functools.lru_cache(maxsize=None)
def fib(n): return n if n < 2 else fib(n - 1) + fib(n - 2)
print(fib(200))
print(re.findall(r"\b\w{5}\b", " ".join(words)), string.ascii_lowercase[:5])
print(sum(i * i for i in range(200000)))
