//! Import bindings and qualified names.
//!
//! Rules match calls by what they refer to, not by how they are spelled: `sp.Popen` after
//! `import subprocess as sp`, `Popen` after `from subprocess import Popen` and
//! `subprocess.Popen` all resolve to `subprocess.Popen`. Scopes follow functions (an import inside a
//! function is visible there only); other rebinding is not tracked, as in Bandit.

use ruff_python_ast::{Alias, Expr};
use std::collections::HashMap;

#[derive(Default)]
pub struct Bindings {
    /// Innermost scope last; each maps a local name to the dotted name it was imported as.
    scopes: Vec<HashMap<String, String>>,
    module: HashMap<String, String>,
}

impl Bindings {
    pub fn push_scope(&mut self) {
        self.scopes.push(HashMap::new());
    }

    pub fn pop_scope(&mut self) {
        self.scopes.pop();
    }

    fn current(&mut self) -> &mut HashMap<String, String> {
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
        self.scopes
            .iter()
            .rev()
            .chain(std::iter::once(&self.module))
            .find_map(|s| s.get(name))
            .map(String::as_str)
    }

    /// The dotted name of a `Name`/`Attribute` chain with its head resolved through imports.
    pub fn qualified_name(&self, expr: &Expr) -> Option<String> {
        dotted_name(expr, |head| self.resolve(head))
    }
}

/// The dotted name of a `Name`/`Attribute` chain (`a.b.c`), its head replaced by what `resolve`
/// says it was imported as; None for any other expression.
pub fn dotted_name<'e>(expr: &'e Expr, resolve: impl FnOnce(&'e str) -> Option<&'e str>) -> Option<String> {
    let mut segments: Vec<&str> = Vec::with_capacity(4);
    let mut current = expr;
    loop {
        match current {
            Expr::Attribute(attribute) => {
                segments.push(attribute.attr.as_str());
                current = &attribute.value;
            }
            Expr::Name(name) => {
                segments.push(name.id.as_str());
                break;
            }
            _ => return None,
        }
    }
    let first = segments.pop()?;
    let head = resolve(first).unwrap_or(first);
    let mut out = String::with_capacity(head.len() + 12 * segments.len());
    out.push_str(head);
    for segment in segments.iter().rev() {
        out.push('.');
        out.push_str(segment);
    }
    Some(out)
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
        assert_eq!(resolve("f()()"), None);
    }
}
