//! Byte offsets → 1-based line and column (columns count characters, as editors do).

use ruff_text_size::TextSize;

pub struct LineIndex {
    starts: Vec<u32>,
}

impl LineIndex {
    pub fn new(source: &str) -> LineIndex {
        let mut starts = vec![0];
        starts.extend(memchr_newlines(source).map(|i| i as u32 + 1));
        LineIndex { starts }
    }

    /// 1-based line of a byte offset.
    pub fn line(&self, offset: TextSize) -> usize {
        let offset = offset.to_u32();
        match self.starts.binary_search(&offset) {
            Ok(i) => i + 1,
            Err(i) => i,
        }
    }

    /// 1-based (line, column) of a byte offset; the column counts characters.
    pub fn line_col(&self, source: &str, offset: TextSize) -> (usize, usize) {
        let line = self.line(offset);
        let start = self.starts[line - 1] as usize;
        let end = (offset.to_u32() as usize).min(source.len());
        let column = source.get(start..end).map_or(end - start, |s| s.chars().count());
        (line, column + 1)
    }

    /// The text of a 1-based line, without its line ending.
    pub fn line_text<'s>(&self, source: &'s str, line: usize) -> &'s str {
        let Some(&start) = self.starts.get(line.wrapping_sub(1)) else {
            return "";
        };
        let end = self.starts.get(line).map_or(source.len(), |&e| e as usize);
        source
            .get(start as usize..end)
            .unwrap_or("")
            .trim_end_matches(['\n', '\r'])
    }

    pub fn line_count(&self) -> usize {
        self.starts.len()
    }
}

fn memchr_newlines(source: &str) -> impl Iterator<Item = usize> + '_ {
    memchr::memchr_iter(b'\n', source.as_bytes())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lines_and_columns() {
        let src = "a = 1\nbé = 'x'\n\nz";
        let idx = LineIndex::new(src);
        assert_eq!(idx.line_col(src, TextSize::new(0)), (1, 1));
        assert_eq!(idx.line_col(src, TextSize::new(6)), (2, 1));
        // 'é' is two bytes but one column.
        assert_eq!(idx.line_col(src, TextSize::new(9)), (2, 3));
        assert_eq!(idx.line_text(src, 2), "bé = 'x'");
        assert_eq!(idx.line_text(src, 4), "z");
        assert_eq!(idx.line_text(src, 9), "");
    }
}
