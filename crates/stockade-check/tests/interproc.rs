//! Taint across modules: request data read in a view reaches a sink in a helper of another module
//! of the checked tree, found through the view's imports; sanitisers in the helpers count, the
//! cost stays bounded, and the findings obey suppressions like any other.

use std::path::Path;
use stockade_check::{check_paths, Finding, Level, Profile, RuleId, Settings};

fn tree(files: &[(&str, &str)]) -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    for (path, text) in files {
        let path = dir.path().join(path);
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(path, text).unwrap();
    }
    dir
}

fn taint_findings(dir: &Path) -> Vec<Finding> {
    let mut settings = Settings::new(Profile::Audit);
    settings.select(&["STK8".to_string(), "STK003".to_string()]).unwrap();
    let checked = check_paths(&[dir.to_path_buf()], &settings);
    // Paths as the project sees them.
    let prefix = format!("{}/", dir.display());
    let mut found: Vec<Finding> = checked.reports.into_iter().flat_map(|r| r.findings).collect();
    for f in &mut found {
        f.message = f.message.replace(&prefix, "");
        f.path = f.path.replace(&prefix, "");
    }
    found
}

fn at(findings: &[Finding], file: &str, line: usize) -> Option<Finding> {
    findings
        .iter()
        .find(|f| f.path.ends_with(file) && f.line == line && f.is_active())
        .cloned()
}

const DB: &str = r#"import os
import shlex


def find_user(cur, name):
    cur.execute("SELECT * FROM users WHERE name = '%s'" % name)


def find_user_safely(cur, name):
    cur.execute("SELECT * FROM users WHERE name = ?", (name,))


def run(cmd):
    os.system(cmd)


def run_quoted(arg):
    os.system("tool " + shlex.quote(arg))


def by_request(req, cur):
    cur.execute("SELECT " + req.args["column"] + " FROM t")
"#;

const SERVICE: &str = r#"from ..data import db


def lookup(cur, who):
    return db.find_user(cur, who.strip())


def lookup_number(cur, who):
    return db.find_user(cur, int(who))
"#;

const VIEWS: &str = r#"from flask import Flask, request
from .data.db import find_user, find_user_safely, run_quoted
from .data import db
import app.data.db as dbm
from app.logic.service import lookup, lookup_number

app = Flask(__name__)


@app.route("/u")
def user(cur):
    name = request.args["name"]
    find_user(cur, name)
    find_user_safely(cur, name)
    db.run(request.form["cmd"])
    run_quoted(name)
    dbm.by_request(request, cur)
    lookup(cur, name)
    lookup_number(cur, name)
    find_user(cur, name)  # stockade: ignore[STK801] the name is checked by the proxy
    return "ok"
"#;

/// A `find_user` that is safe, in a module the views do not import: it must not be picked.
const OTHER: &str = r#"def find_user(cur, name):
    cur.execute("SELECT 1")
"#;

#[test]
fn request_data_is_followed_into_other_modules_through_their_imports() {
    let dir = tree(&[
        ("app/__init__.py", ""),
        ("app/data/__init__.py", ""),
        ("app/data/db.py", DB),
        ("app/logic/__init__.py", ""),
        ("app/logic/service.py", SERVICE),
        ("app/views.py", VIEWS),
        ("other/db.py", OTHER),
    ]);
    let found = taint_findings(dir.path());
    let sql = at(&found, "app/views.py", 13).expect("find_user through a relative import");
    assert_eq!(sql.rule, RuleId::TaintedSql);
    assert_eq!(sql.severity, Level::High);
    assert_eq!(
        sql.message,
        "request.args (line 12) is passed to `find_user` (app/data/db.py:5) as `name`, and reaches \
         cur.execute as the SQL text there (app/data/db.py:6)"
    );
    assert!(at(&found, "app/views.py", 14).is_none(), "parameterised: {found:?}");
    let cmd = at(&found, "app/views.py", 15).expect("db.run through `from .data import db`");
    assert_eq!(cmd.rule, RuleId::TaintedCommand);
    assert!(at(&found, "app/views.py", 16).is_none(), "quoted: {found:?}");
    let request_object = at(&found, "app/views.py", 17).expect("the request object passed on");
    assert!(request_object.message.starts_with("the request object `request`"));
    let two_hops = at(&found, "app/views.py", 18).unwrap_or_else(|| panic!("views -> service -> db: {found:#?}"));
    assert!(
        two_hops
            .message
            .contains("`lookup` (app/logic/service.py:4) as `who` through `find_user` (app/data/db.py:5)"),
        "{}",
        two_hops.message
    );
    assert!(at(&found, "app/views.py", 19).is_none(), "int() on the way: {found:?}");
    // Suppressed, and the suppression is not reported as unused.
    assert!(
        found.iter().any(|f| f.line == 20 && f.suppression.is_some()),
        "{found:?}"
    );
    assert!(!found.iter().any(|f| f.rule == RuleId::UnusedSuppression), "{found:?}");
    assert!(!found.iter().any(|f| f.path.contains("other")), "{found:?}");
}

/// A long chain of modules, each passing the data on and calling itself and the previous one:
/// every file is summarised at most once, the chain is followed a bounded number of hops, and
/// the cycles end.
#[test]
fn long_chains_and_cycles_stay_bounded() {
    const N: usize = 300;
    let mut files: Vec<(String, String)> = vec![("pkg/__init__.py".to_string(), String::new())];
    for i in 0..N {
        let next = if i + 1 < N {
            format!("    from pkg.m{} import step\n    step(x)\n", i + 1)
        } else {
            "    import os\n    os.system(x)\n".to_string()
        };
        let back = if i > 0 {
            format!("    from pkg.m{} import step as back\n    back(x)\n", i - 1)
        } else {
            String::new()
        };
        files.push((
            format!("pkg/m{i}.py"),
            format!("def step(x):\n    step(x)\n{next}{back}"),
        ));
    }
    files.push((
        "pkg/near.py".to_string(),
        "import os\n\ndef a(x):\n    b(x)\n\ndef b(x):\n    os.system(x)\n".to_string(),
    ));
    files.push((
        "pkg/view.py".to_string(),
        "from flask import request\nfrom pkg.m0 import step\nfrom pkg.near import a\n\n\ndef v():\n    step(request.args['x'])\n    a(request.args['y'])\n"
            .to_string(),
    ));
    let refs: Vec<(&str, &str)> = files.iter().map(|(p, t)| (p.as_str(), t.as_str())).collect();
    let dir = tree(&refs);
    let started = std::time::Instant::now();
    let found = taint_findings(dir.path());
    assert!(started.elapsed() < std::time::Duration::from_secs(30));
    assert!(at(&found, "pkg/view.py", 8).is_some(), "{found:?}");
    assert!(at(&found, "pkg/view.py", 7).is_none(), "300 hops away: {found:?}");
}

/// A module whose own calls reach some of its functions is summarised for those only; a call from
/// another module reaching one of its other functions has the module summarised whole.
#[test]
fn a_module_summarised_in_part_is_summarised_whole_when_another_module_needs_more() {
    let dir = tree(&[
        (
            "lib.py",
            "import os\nfrom flask import request\n\n\ndef local_helper(x):\n    return x.strip()\n\n\ndef run(cmd):\n    os.system(cmd)\n\n\ndef view():\n    local_helper(request.args['a'])\n",
        ),
        (
            "app.py",
            "from flask import request\nfrom lib import run\n\n\ndef other_view():\n    run(request.args['cmd'])\n",
        ),
    ]);
    let found = taint_findings(dir.path());
    let f = at(&found, "app.py", 6).unwrap_or_else(|| panic!("{found:#?}"));
    assert_eq!(f.rule, RuleId::TaintedCommand);
    assert!(at(&found, "lib.py", 14).is_none(), "{found:?}");
}

/// A call through a dotted name of thousands of parts (found by the fuzzer: each resolution tried
/// every module span, a cube of the name's length, minutes for 29 KB) costs a few lookups; a
/// real call through a package path is still resolved.
#[test]
fn a_dotted_name_of_thousands_of_parts_is_cheap_to_resolve() {
    let hostile = vec!["a"; 5000].join(".");
    let view = format!(
        "from flask import request\nimport pkg.sub.db\nimport a\n\n\ndef v():\n    {hostile}(request.args['x'])\n    pkg.sub.db.run(request.args['y'])\n"
    );
    let dir = tree(&[
        ("pkg/__init__.py", ""),
        ("pkg/sub/__init__.py", ""),
        ("pkg/sub/db.py", "import os\n\ndef run(x):\n    os.system(x)\n"),
        ("a/__init__.py", "import os\n\ndef a(x):\n    os.system(x)\n"),
        ("pkg/view.py", view.as_str()),
    ]);
    let started = std::time::Instant::now();
    let found = taint_findings(dir.path());
    assert!(
        started.elapsed() < std::time::Duration::from_secs(30),
        "{:?}",
        started.elapsed()
    );
    assert!(at(&found, "pkg/view.py", 8).is_some(), "{found:?}");
}
