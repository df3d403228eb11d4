//! `--to bob,carol --to 201` into the recipient list sent as `to` fields.
//!
//! Names are resolved by the server (name, extension or GUID), so the client only splits,
//! trims and removes repeats; it keeps the order given.

/// Why the recipient list is unusable.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RecipientError {
    /// Only commas and spaces.
    #[error("no recipient given: use --to NAME[,NAME..]")]
    Empty,
}

/// Splits every `--to` value on commas, trims, drops blanks and repeats.
pub fn split<S: AsRef<str>>(values: &[S]) -> Result<Vec<String>, RecipientError> {
    let mut out: Vec<String> = Vec::new();
    for name in values
        .iter()
        .flat_map(|v| v.as_ref().split(','))
        .map(str::trim)
    {
        if !name.is_empty() && !out.iter().any(|n| n == name) {
            out.push(name.to_owned());
        }
    }
    if out.is_empty() {
        return Err(RecipientError::Empty);
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn commas_and_repeats() {
        assert_eq!(
            split(&["bob,carol", " 201 ", "bob"]).expect("ok"),
            ["bob", "carol", "201"]
        );
        assert_eq!(split(&["bob,,carol,"]).expect("ok"), ["bob", "carol"]);
        assert_eq!(split(&["amy"]).expect("ok"), ["amy"]);
    }

    #[test]
    fn nothing_but_separators_is_an_error() {
        assert_eq!(split(&[" , ,"]), Err(RecipientError::Empty));
        assert_eq!(split::<&str>(&[]), Err(RecipientError::Empty));
    }
}
