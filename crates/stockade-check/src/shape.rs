//! The shape of a run's code that the in-jail runner needs to follow the run contract
//! (docs/engine.md): where its final expression statement is, and whether its own top level
//! refers to `main`. Worked out here, on the host, with the parser the checker already has, so
//! the run's process does not build Python AST objects for it (which costs a freshly forked
//! process about 0.2 ms of copy-on-write faults).

use ruff_python_ast::visitor::{self, Visitor};
use ruff_python_ast::{Expr, ExprContext, Stmt};
use ruff_text_size::Ranged;

/// What the runner needs to know about the code.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CodeShape {
    /// Byte range (UTF-8) of the final statement when it is an expression statement.
    pub final_expression: Option<(u32, u32)>,
    /// The code's own top level (outside a `def main`) loads the name `main`: it calls `main`
    /// itself (`if __name__ == "__main__": main()`, `asyncio.run(main())`).
    pub refers_to_main: bool,
}

/// The shape of `code`, or None when it does not parse (the runner then works it out itself, or
/// the interpreter reports the syntax error).
#[must_use]
pub fn code_shape(code: &str) -> Option<CodeShape> {
    crate::with_parser_room(|| shape_of(code))
}

fn shape_of(code: &str) -> Option<CodeShape> {
    let parsed = ruff_python_parser::parse_module(code).ok()?;
    let body = &parsed.syntax().body;
    let final_expression = match body.last() {
        Some(Stmt::Expr(e)) => Some((e.range().start().to_u32(), e.range().end().to_u32())),
        _ => None,
    };
    let mut finder = MainLoads::default();
    for stmt in body {
        match stmt {
            Stmt::FunctionDef(f) if f.name.as_str() == "main" => {}
            _ => finder.visit_stmt(stmt),
        }
    }
    Some(CodeShape {
        final_expression,
        refers_to_main: finder.found,
    })
}

#[derive(Default)]
struct MainLoads {
    found: bool,
}

impl<'a> Visitor<'a> for MainLoads {
    fn visit_expr(&mut self, expr: &'a Expr) {
        if let Expr::Name(n) = expr {
            if n.id.as_str() == "main" && n.ctx == ExprContext::Load {
                self.found = true;
            }
        }
        visitor::walk_expr(self, expr);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn expr(code: &str) -> Option<&str> {
        code_shape(code)
            .unwrap()
            .final_expression
            .map(|(a, b)| &code[a as usize..b as usize])
    }

    #[test]
    fn final_expression_statements() {
        assert_eq!(expr("x = 1\nx + 1"), Some("x + 1"));
        assert_eq!(expr("x = 1; x * 2  # c\n"), Some("x * 2"));
        assert_eq!(expr("(1 +\n 2)"), Some("(1 +\n 2)"));
        assert_eq!(expr("é = 'ü'\né"), Some("é"));
        assert_eq!(expr("x = 1"), None);
        assert_eq!(expr("if x:\n    y\n"), None);
        assert_eq!(expr(""), None);
    }

    #[test]
    fn refers_to_main() {
        let r = |c: &str| code_shape(c).unwrap().refers_to_main;
        assert!(r("def main():\n    pass\nif __name__ == '__main__':\n    main()"));
        assert!(r("import asyncio\nasync def main():\n    pass\nasyncio.run(main())"));
        assert!(!r("def main():\n    return main"));
        assert!(!r("def main(x):\n    return x"));
        assert!(!r("main = 1"));
        assert!(r("class C:\n    f = main"));
    }

    #[test]
    fn unparsable_code_has_no_shape() {
        assert_eq!(code_shape("def (:"), None);
    }
}
