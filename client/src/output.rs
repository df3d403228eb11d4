//! What people and programs read on stdout: aligned tables, times, durations, JSON.
//!
//! Every write goes through [`line()`], which flushes, so `ivm watch | jq` sees each event at
//! once, and a closed pipe (`ivm inbox | head -1`) is an ordinary I/O error, not a panic.

use std::io::Write;

use serde::Serialize;

/// Why something could not be printed.
#[derive(Debug, thiserror::Error)]
pub enum OutputError {
    /// stdout is closed or failing (e.g. a closed pipe).
    #[error("cannot write to stdout: {0}")]
    Stdout(#[from] std::io::Error),
}

/// Writes one line to stdout and flushes it.
pub fn line(text: &str) -> Result<(), OutputError> {
    let mut out = std::io::stdout().lock();
    out.write_all(text.as_bytes())?;
    out.write_all(b"\n")?;
    out.flush()?;
    Ok(())
}

/// Prints `value` as pretty JSON.
pub fn json<T: Serialize + ?Sized>(value: &T) -> Result<(), OutputError> {
    line(&serde_json::to_string_pretty(value).unwrap_or_default())
}

/// Prints `value` as one compact JSON line.
pub fn json_line<T: Serialize + ?Sized>(value: &T) -> Result<(), OutputError> {
    line(&serde_json::to_string(value).unwrap_or_default())
}

/// Columns padded to their widest cell, two spaces apart; the last column is not padded.
pub fn table(headers: &[&str], rows: &[Vec<String>]) -> String {
    let cols = headers.len();
    let mut widths: Vec<usize> = headers.iter().map(|h| h.chars().count()).collect();
    for row in rows {
        for (w, cell) in widths.iter_mut().zip(row) {
            *w = (*w).max(cell.chars().count());
        }
    }
    let render = |cells: &mut dyn Iterator<Item = &str>| {
        let mut s = String::new();
        for (i, cell) in cells.enumerate().take(cols) {
            if i + 1 < cols {
                s.push_str(cell);
                s.push_str(&" ".repeat(widths[i] - cell.chars().count() + 2));
            } else {
                s.push_str(cell);
            }
        }
        s.trim_end().to_owned()
    };
    let mut out = render(&mut headers.iter().copied());
    for row in rows {
        out.push('\n');
        out.push_str(&render(&mut row.iter().map(String::as_str)));
    }
    out
}

/// Unix milliseconds as `YYYY-MM-DD HH:MM` UTC (no time zone database needed).
pub fn time(unix_ms: u64) -> String {
    let secs = unix_ms / 1000;
    let (days, rem) = (secs / 86_400, secs % 86_400);
    let (y, m, d) = civil_from_days(days as i64);
    format!(
        "{y:04}-{m:02}-{d:02} {:02}:{:02}Z",
        rem / 3600,
        rem % 3600 / 60
    )
}

/// Days since 1970-01-01 to (year, month, day): Howard Hinnant's `civil_from_days`.
fn civil_from_days(z: i64) -> (i64, u32, u32) {
    let z = z + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let m = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    let y = yoe + era * 400 + i64::from(m <= 2);
    (y, m, d)
}

/// Milliseconds as `m:ss` (rounded to the nearest second).
pub fn duration(ms: u32) -> String {
    let s = (u64::from(ms) + 500) / 1000;
    format!("{}:{:02}", s / 60, s % 60)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tables_align() {
        let t = table(
            &["ID", "FROM", "N"],
            &[
                vec!["1a2b3c4d".into(), "amy".into(), "0".into()],
                vec!["ff".into(), "bartholomew".into(), "12".into()],
            ],
        );
        assert_eq!(
            t,
            "ID        FROM         N\n1a2b3c4d  amy          0\nff        bartholomew  12"
        );
    }

    #[test]
    fn times_and_durations() {
        assert_eq!(time(0), "1970-01-01 00:00Z");
        assert_eq!(time(1_709_210_096_000), "2024-02-29 12:34Z");
        assert_eq!(duration(0), "0:00");
        assert_eq!(duration(1_499), "0:01");
        assert_eq!(duration(83_600), "1:24");
    }
}
