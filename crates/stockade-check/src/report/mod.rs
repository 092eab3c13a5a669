//! Output formats: text with a code frame (default), JSON, SARIF 2.1.0 and GitHub annotations.

mod github;
mod json;
mod sarif;
mod text;

use crate::finding::Finding;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    Text,
    Json,
    Sarif,
    Github,
}

impl Format {
    pub fn parse(s: &str) -> Option<Format> {
        match s {
            "text" => Some(Format::Text),
            "json" => Some(Format::Json),
            "sarif" => Some(Format::Sarif),
            "github" => Some(Format::Github),
            _ => None,
        }
    }
}

/// What a report shows: the findings (all of them; each format decides how to show suppressed or
/// baselined ones) and a little about the run.
pub struct Summary<'a> {
    pub findings: &'a [Finding],
    pub files_checked: usize,
    /// Findings below the thresholds, not shown.
    pub below_threshold: usize,
    pub prescreen: bool,
    pub color: bool,
}

pub fn render(format: Format, summary: &Summary) -> String {
    match format {
        Format::Text => text::render(summary),
        Format::Json => json::render(summary),
        Format::Sarif => sarif::render(summary),
        Format::Github => github::render(summary),
    }
}
