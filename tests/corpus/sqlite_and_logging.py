# sqlite3 in a scratch file, logging to a file and to stderr-free handlers, argparse.
import argparse, io, logging, sqlite3

con = sqlite3.connect("data.db")
con.execute("create table t (k text primary key, v integer)")
con.executemany("insert into t values (?, ?)", [("a", 1), ("b", 2), ("c", 3)])
con.commit()
print(con.execute("select sum(v), group_concat(k) from t").fetchone())
buf = io.StringIO()
log = logging.getLogger("corpus"); log.setLevel(logging.INFO)
log.addHandler(logging.StreamHandler(buf)); log.addHandler(logging.FileHandler("run.log"))
log.info("processed %d rows", 3)
print(buf.getvalue().strip(), open("run.log").read().strip())
ap = argparse.ArgumentParser(); ap.add_argument("--n", type=int, default=3)
print(ap.parse_args(["--n", "5"]).n)
