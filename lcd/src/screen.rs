//! A text frame buffer and the diff that redraws only what changed.
//!
//! [`Screen`] holds `cols` x `rows` printable ASCII cells (4x20 by default). Long text is cut at
//! the right edge; anything outside printable ASCII becomes `?`. [`ScreenWriter`] remembers what
//! the module shows and turns a new screen into [`TextRun`]s: changed cells per row, with small
//! unchanged gaps merged in when that is cheaper than another command (a send-text command costs
//! six bytes of overhead), and split at [`crate::cfa::MAX_TEXT`].

use crate::{sanitize, Panel, PanelError};

/// A cols x rows character screen.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Screen {
    cols: u8,
    rows: u8,
    cells: Vec<u8>,
}

impl Default for Screen {
    fn default() -> Self {
        Screen::new(20, 4)
    }
}

impl Screen {
    /// A blank screen.
    pub fn new(cols: u8, rows: u8) -> Self {
        Screen {
            cols,
            rows,
            cells: vec![b' '; usize::from(cols) * usize::from(rows)],
        }
    }

    /// A screen with `lines` from the top, each cut or padded.
    pub fn from_lines(cols: u8, rows: u8, lines: &[&str]) -> Self {
        let mut s = Screen::new(cols, rows);
        for (r, l) in lines.iter().enumerate().take(usize::from(rows)) {
            s.set_line(r as u8, l);
        }
        s
    }

    /// (columns, rows).
    pub fn size(&self) -> (u8, u8) {
        (self.cols, self.rows)
    }

    /// Blanks every cell.
    pub fn clear(&mut self) {
        self.cells.fill(b' ');
    }

    /// Replaces row `row` with `text`, cut at the right edge and padded with spaces.
    pub fn set_line(&mut self, row: u8, text: &str) {
        if row >= self.rows {
            return;
        }
        let start = usize::from(row) * usize::from(self.cols);
        let line = &mut self.cells[start..start + usize::from(self.cols)];
        line.fill(b' ');
        let t = sanitize(text);
        let n = t.len().min(line.len());
        line[..n].copy_from_slice(&t[..n]);
    }

    /// Writes `text` at (col, row), cut at the right edge; other cells stay.
    pub fn put(&mut self, col: u8, row: u8, text: &str) {
        if row >= self.rows || col >= self.cols {
            return;
        }
        let start = usize::from(row) * usize::from(self.cols);
        let line = &mut self.cells[start..start + usize::from(self.cols)];
        let t = sanitize(text);
        let avail = line.len() - usize::from(col);
        let n = t.len().min(avail);
        line[usize::from(col)..usize::from(col) + n].copy_from_slice(&t[..n]);
    }

    /// The bytes of row `row` (empty past the bottom).
    pub fn row(&self, row: u8) -> &[u8] {
        if row >= self.rows {
            return &[];
        }
        let start = usize::from(row) * usize::from(self.cols);
        &self.cells[start..start + usize::from(self.cols)]
    }

    /// The rows as strings.
    pub fn lines(&self) -> Vec<String> {
        (0..self.rows)
            .map(|r| String::from_utf8_lossy(self.row(r)).into_owned())
            .collect()
    }
}

/// Text to send at (col, row).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TextRun {
    /// Column, 0-based.
    pub col: u8,
    /// Row, 0-based.
    pub row: u8,
    /// Printable ASCII.
    pub text: Vec<u8>,
}

/// Unchanged cells worth resending to save a command's overhead (type, len, col, row, CRC).
const MERGE_GAP: usize = 6;

/// The runs that turn `old` into `new` (`None` old: everything). Screens of different sizes
/// redraw in full.
pub fn diff(old: Option<&Screen>, new: &Screen) -> Vec<TextRun> {
    let old = old.filter(|o| o.size() == new.size());
    let mut runs = Vec::new();
    for r in 0..new.rows {
        let n = new.row(r);
        let changed: Vec<bool> = match old {
            Some(o) => o.row(r).iter().zip(n).map(|(a, b)| a != b).collect(),
            None => vec![true; n.len()],
        };
        let mut c = 0;
        while c < n.len() {
            if !changed[c] {
                c += 1;
                continue;
            }
            let start = c;
            let mut end = c + 1; // exclusive, last changed + 1
            let mut k = end;
            while k < n.len() {
                if changed[k] {
                    end = k + 1;
                    k += 1;
                } else if k - end < MERGE_GAP {
                    k += 1;
                } else {
                    break;
                }
            }
            for (i, chunk) in n[start..end].chunks(crate::cfa::MAX_TEXT).enumerate() {
                runs.push(TextRun {
                    col: (start + i * crate::cfa::MAX_TEXT) as u8,
                    row: r,
                    text: chunk.to_vec(),
                });
            }
            c = end;
        }
    }
    runs
}

/// Remembers what the module shows and sends only the difference.
#[derive(Debug, Default)]
pub struct ScreenWriter {
    shown: Option<Screen>,
}

impl ScreenWriter {
    /// A writer that will draw the first screen in full.
    pub fn new() -> Self {
        Self::default()
    }

    /// Forgets what is shown (after a reconnect): the next screen is drawn in full.
    pub fn invalidate(&mut self) {
        self.shown = None;
    }

    /// What the module is believed to show.
    pub fn shown(&self) -> Option<&Screen> {
        self.shown.as_ref()
    }

    /// The runs that bring the module to `new`, recording `new` as shown.
    pub fn update(&mut self, new: &Screen) -> Vec<TextRun> {
        let runs = diff(self.shown.as_ref(), new);
        self.shown = Some(new.clone());
        runs
    }

    /// Diffs and queues the runs on `panel`. On an error the writer forgets what is shown so
    /// the next call redraws in full.
    pub fn draw(&mut self, panel: &mut impl Panel, new: &Screen) -> Result<usize, PanelError> {
        let runs = self.update(new);
        for run in &runs {
            if let Err(e) = panel.write_text(run.col, run.row, &run.text) {
                self.invalidate();
                return Err(e);
            }
        }
        Ok(runs.len())
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn truncates_and_replaces() {
        let s = Screen::from_lines(20, 4, &["0123456789012345678901234", "caf\u{e9}"]);
        assert_eq!(s.lines()[0], "01234567890123456789");
        assert_eq!(s.lines()[1], "caf?                ");
        assert_eq!(s.lines()[3], " ".repeat(20));
        let mut s = s;
        s.put(18, 2, "xyz");
        assert_eq!(s.lines()[2], format!("{}xy", " ".repeat(18)));
        s.put(20, 2, "q"); // off-screen: ignored
        s.set_line(9, "q");
    }

    #[test]
    fn first_draw_is_full_then_only_changes() {
        let mut w = ScreenWriter::new();
        let a = Screen::from_lines(20, 4, &["IVM box", "10.0.0.2", "", ""]);
        let runs = w.update(&a);
        assert_eq!(runs.len(), 4);
        assert!(runs.iter().all(|r| r.col == 0 && r.text.len() == 20));
        assert!(w.update(&a).is_empty());

        let mut b = a.clone();
        b.put(19, 0, "*"); // heartbeat mark
        assert_eq!(
            w.update(&b),
            vec![TextRun {
                col: 19,
                row: 0,
                text: b"*".to_vec()
            }]
        );
    }

    #[test]
    fn near_changes_merge_far_ones_split() {
        let old = Screen::from_lines(20, 4, &["aaaaaaaaaaaaaaaaaaaa"]);
        let mut new = old.clone();
        new.put(2, 0, "X");
        new.put(5, 0, "Y"); // gap 2: merged
        new.put(17, 0, "Z"); // gap 11: separate
        let runs = diff(Some(&old), &new);
        assert_eq!(
            runs,
            vec![
                TextRun {
                    col: 2,
                    row: 0,
                    text: b"XaaY".to_vec()
                },
                TextRun {
                    col: 17,
                    row: 0,
                    text: b"Z".to_vec()
                }
            ]
        );
    }

    #[test]
    fn wide_rows_split_at_max_text() {
        let s = Screen::from_lines(40, 1, &[&"x".repeat(40)]);
        let runs = diff(None, &s);
        assert_eq!(runs.len(), 2);
        assert_eq!((runs[1].col, runs[1].text.len()), (20, 20));
    }

    #[test]
    fn size_change_redraws() {
        let a = Screen::new(16, 2);
        let b = Screen::new(20, 4);
        assert_eq!(diff(Some(&a), &b).len(), 4);
    }
}
