# csv and json with files in the scratch directory, pathlib, tempfile, shutil.
import csv, json, pathlib, shutil, tempfile

rows = [{"name": "ada", "score": 91}, {"name": "bob", "score": 78}, {"name": "cy", "score": 85}]
with open("scores.csv", "w", newline="") as f:
    w = csv.DictWriter(f, fieldnames=["name", "score"])
    w.writeheader(); w.writerows(rows)
with open("scores.csv", newline="") as f:
    back = list(csv.DictReader(f))
print(back, sum(int(r["score"]) for r in back))
p = pathlib.Path("out") / "summary.json"
p.parent.mkdir(exist_ok=True)
p.write_text(json.dumps({"best": max(rows, key=lambda r: r["score"])}, sort_keys=True))
print(json.loads(p.read_text()), sorted(x.name for x in pathlib.Path("out").iterdir()))
with tempfile.TemporaryDirectory() as d:
    shutil.copy("scores.csv", d)
    print(sorted(pathlib.Path(d).iterdir())[0].name, pathlib.Path(d, "scores.csv").stat().st_size)
print(json.dumps({"nested": [1, {"a": None}], "unicode": "é☃"}, ensure_ascii=False))
