//! Import bindings and qualified names.
//!
//! Rules match calls by what they refer to, not by how they are spelled: `sp.Popen` after
//! `import subprocess as sp`, `Popen` after `from subprocess import Popen` and
//! `subprocess.Popen` all resolve to `subprocess.Popen`. Scopes follow functions (an import inside a
//! function is visible there only); other rebinding is not tracked, as in Bandit.

use ruff_python_ast::{Alias, Expr};
use std::collections::HashMap;

type Scope = HashMap<String, String, FxBuild>;

#[derive(Default)]
pub struct Bindings {
    /// Innermost scope last; each maps a local name to the dotted name it was imported as.
    scopes: Vec<Scope>,
    module: Scope,
}

impl Bindings {
    pub fn push_scope(&mut self) {
        self.scopes.push(Scope::default());
    }

    pub fn pop_scope(&mut self) {
        self.scopes.pop();
    }

    fn current(&mut self) -> &mut Scope {
        self.scopes.last_mut().unwrap_or(&mut self.module)
    }

    /// `import a.b.c` binds `a` → `a`; `import a.b as x` binds `x` → `a.b`.
    pub fn bind_import(&mut self, alias: &Alias) {
        let name = alias.name.as_str();
        match &alias.asname {
            Some(asname) => {
                self.current().insert(asname.to_string(), name.to_string());
            }
            None => {
                let head = name.split('.').next().unwrap_or(name);
                self.current().insert(head.to_string(), head.to_string());
            }
        }
    }

    /// `from m import x as y` binds `y` → `m.x`.
    pub fn bind_from_import(&mut self, module: &str, alias: &Alias) {
        let name = alias.name.as_str();
        if name == "*" {
            return;
        }
        let local = alias.asname.as_ref().map_or(name, |a| a.as_str());
        self.current().insert(local.to_string(), format!("{module}.{name}"));
    }

    pub fn resolve(&self, name: &str) -> Option<&str> {
        // Most scopes (functions without imports of their own) are empty: skip them unhashed.
        self.scopes
            .iter()
            .rev()
            .chain(std::iter::once(&self.module))
            .filter(|s| !s.is_empty())
            .find_map(|s| s.get(name))
            .map(String::as_str)
    }

    /// The dotted name of a `Name`/`Attribute` chain with its head resolved through imports.
    pub fn qualified_name(&self, expr: &Expr) -> Option<String> {
        dotted_name(expr, |head| self.resolve(head))
    }

    /// [`Bindings::qualified_name`] written into a reusable buffer; false when there is none.
    pub fn write_qualified_name(&self, expr: &Expr, out: &mut String) -> bool {
        write_dotted_name(expr, |head| self.resolve(head), out)
    }
}

/// FxHash (as in rustc): the maps' keys are short names, hashed often.
#[derive(Default, Clone, Copy)]
pub struct FxHasher(u64);

impl std::hash::Hasher for FxHasher {
    fn write(&mut self, bytes: &[u8]) {
        let mut chunks = bytes.chunks_exact(8);
        for chunk in &mut chunks {
            let mut word = [0u8; 8];
            word.copy_from_slice(chunk);
            self.add(u64::from_le_bytes(word));
        }
        for &b in chunks.remainder() {
            self.add(b as u64);
        }
    }
    fn write_u8(&mut self, i: u8) {
        self.add(i as u64);
    }
    fn write_usize(&mut self, i: usize) {
        self.add(i as u64);
    }
    fn finish(&self) -> u64 {
        self.0
    }
}

impl FxHasher {
    fn add(&mut self, word: u64) {
        self.0 = (self.0.rotate_left(5) ^ word).wrapping_mul(0x51_7c_c1_b7_27_22_0a_95);
    }
}

pub type FxBuild = std::hash::BuildHasherDefault<FxHasher>;

/// The dotted name of a `Name`/`Attribute` chain (`a.b.c`), its head replaced by what `resolve`
/// says it was imported as; None for any other expression.
pub fn dotted_name<'e>(expr: &'e Expr, resolve: impl FnOnce(&'e str) -> Option<&'e str>) -> Option<String> {
    let mut out = String::new();
    write_dotted_name(expr, resolve, &mut out).then_some(out)
}

/// [`dotted_name`] written into `out` (cleared first), so a caller can reuse one buffer; false
/// (and `out` left empty) for an expression that is not a dotted name.
pub fn write_dotted_name<'e>(
    expr: &'e Expr,
    resolve: impl FnOnce(&'e str) -> Option<&'e str>,
    out: &mut String,
) -> bool {
    out.clear();
    // Attributes from the outside in; most chains are short, so no allocation below eight.
    let mut near: [&str; 8] = [""; 8];
    let mut count = 0;
    let mut far: Vec<&str> = Vec::new();
    let mut current = expr;
    let first = loop {
        match current {
            Expr::Attribute(attribute) => {
                let attr = attribute.attr.as_str();
                if count < near.len() {
                    near[count] = attr;
                } else {
                    far.push(attr);
                }
                count += 1;
                current = &attribute.value;
            }
            Expr::Name(name) => break name.id.as_str(),
            _ => return false,
        }
    };
    let head = resolve(first).unwrap_or(first);
    out.push_str(head);
    for segment in far.iter().rev().chain(near[..count.min(near.len())].iter().rev()) {
        out.push('.');
        out.push_str(segment);
    }
    true
}

#[cfg(test)]
mod tests {
    use super::*;
    use ruff_python_ast::{Expr, Stmt};

    fn resolve(code: &str) -> Option<String> {
        let parsed = ruff_python_parser::parse_module(code).unwrap();
        let mut bindings = Bindings::default();
        let body = &parsed.syntax().body;
        for stmt in &body[..body.len() - 1] {
            match stmt {
                Stmt::Import(i) => i.names.iter().for_each(|a| bindings.bind_import(a)),
                Stmt::ImportFrom(i) => {
                    let m = i.module.as_ref().unwrap().to_string();
                    i.names.iter().for_each(|a| bindings.bind_from_import(&m, a))
                }
                _ => {}
            }
        }
        let Stmt::Expr(last) = body.last().unwrap() else {
            panic!()
        };
        let Expr::Call(call) = &*last.value else { panic!() };
        bindings.qualified_name(&call.func)
    }

    #[test]
    fn imports_resolve() {
        assert_eq!(
            resolve("import subprocess as sp\nsp.Popen()").as_deref(),
            Some("subprocess.Popen")
        );
        assert_eq!(
            resolve("from subprocess import Popen as P\nP()").as_deref(),
            Some("subprocess.Popen")
        );
        assert_eq!(
            resolve("import os.path\nos.path.join()").as_deref(),
            Some("os.path.join")
        );
        assert_eq!(
            resolve("import xml.etree.ElementTree as ET\nET.parse()").as_deref(),
            Some("xml.etree.ElementTree.parse")
        );
        assert_eq!(resolve("eval()").as_deref(), Some("eval"));
        assert_eq!(
            resolve("import os as o\no.a.b.c.d.e.f.g.h.i.j()").as_deref(),
            Some("os.a.b.c.d.e.f.g.h.i.j")
        );
        assert_eq!(resolve("a.b.c.d.e.f.g.h()").as_deref(), Some("a.b.c.d.e.f.g.h"));
        assert_eq!(resolve("a.b.c.d.e.f.g.h.i()").as_deref(), Some("a.b.c.d.e.f.g.h.i"));
        assert_eq!(resolve("a.b().c()"), None);
        assert_eq!(resolve("f()()"), None);
    }
}
