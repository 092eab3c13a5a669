# hashlib, hmac, base64, zlib/gzip/bz2/lzma, struct, uuid (name-based), random with a seed.
import base64, bz2, gzip, hashlib, hmac, lzma, random, struct, uuid, zlib

data = b"stockade " * 1000
print(hashlib.sha256(data).hexdigest(), hashlib.md5(b"x").hexdigest())
print(hmac.new(b"key", b"msg", "sha256").hexdigest()[:16], base64.b64encode(b"hello").decode())
for mod in (zlib, gzip, bz2, lzma):
    c = mod.compress(data)
    assert mod.decompress(c) == data
    print(mod.__name__, "roundtrip ok")
print(struct.pack("<IhQ", 1, -2, 3).hex(), uuid.uuid5(uuid.NAMESPACE_DNS, "example.org"))
rng = random.Random(42)
print([rng.randint(0, 100) for _ in range(5)], rng.choice("abcdef"))
