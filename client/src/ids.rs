//! Message ids as people type them: the full GUID, or a unique prefix of at least
//! [`MIN_PREFIX`] hex digits, resolved against the inbox and the sent list (like git's short
//! commit ids). Hyphens are ignored, so `1a2b3c4d-5e` and `1a2b3c4d5e` are the same prefix.

use ivm_wire::Guid;

/// Shortest prefix accepted: shorter ones collide too easily to be safe for `delete`.
pub const MIN_PREFIX: usize = 8;

/// Why an id argument names no single message.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum IdError {
    /// Not hex, or too short.
    #[error("{0:?} is not a message id: give the id or at least {MIN_PREFIX} of its hex digits")]
    Malformed(String),
    /// Nothing in the inbox or the sent list starts with it.
    #[error("no message id starts with {0:?}")]
    NoMatch(String),
    /// Several messages start with it.
    #[error("{prefix:?} is ambiguous: it matches {}", .matches.iter().map(|g| g.to_string()).collect::<Vec<_>>().join(", "))]
    Ambiguous {
        /// What was typed.
        prefix: String,
        /// The candidates.
        matches: Vec<Guid>,
    },
}

/// How an id argument is to be resolved.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum IdArg {
    /// A whole GUID: use it as is (no listing needed).
    Full(Guid),
    /// Lowercase hex digits without hyphens, at least [`MIN_PREFIX`] long.
    Prefix(String),
}

/// Checks an id argument.
pub fn parse(arg: &str) -> Result<IdArg, IdError> {
    let trimmed = arg.trim();
    if let Ok(g) = trimmed.parse::<Guid>() {
        return Ok(IdArg::Full(g));
    }
    let hex: String = trimmed
        .chars()
        .filter(|c| *c != '-')
        .collect::<String>()
        .to_ascii_lowercase();
    if hex.len() < MIN_PREFIX || hex.len() > 32 || !hex.chars().all(|c| c.is_ascii_hexdigit()) {
        return Err(IdError::Malformed(arg.to_owned()));
    }
    Ok(IdArg::Prefix(hex))
}

/// The one id among `candidates` that starts with `prefix` (as produced by [`parse`]).
pub fn resolve(prefix: &str, candidates: impl IntoIterator<Item = Guid>) -> Result<Guid, IdError> {
    let mut matches: Vec<Guid> = candidates
        .into_iter()
        .filter(|g| g.simple().to_string().starts_with(prefix))
        .collect();
    matches.sort();
    matches.dedup();
    match matches.len() {
        0 => Err(IdError::NoMatch(prefix.to_owned())),
        1 => Ok(matches[0]),
        _ => Err(IdError::Ambiguous {
            prefix: prefix.to_owned(),
            matches,
        }),
    }
}

/// The shortest prefix length (at least [`MIN_PREFIX`]) that tells every id in `ids` apart,
/// for tables.
pub fn short_len(ids: &[Guid]) -> usize {
    let mut hex: Vec<String> = ids.iter().map(|g| g.simple().to_string()).collect();
    hex.sort();
    hex.dedup();
    let common = hex
        .windows(2)
        .map(|w| {
            w[0].bytes()
                .zip(w[1].bytes())
                .take_while(|(a, b)| a == b)
                .count()
        })
        .max()
        .unwrap_or(0);
    (common + 1).clamp(MIN_PREFIX, 32)
}

/// The first `len` hex digits of `id`.
pub fn short(id: Guid, len: usize) -> String {
    let mut s = id.simple().to_string();
    s.truncate(len);
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    fn g(s: &str) -> Guid {
        s.parse().expect("guid")
    }

    #[test]
    fn full_ids_are_taken_as_they_are() {
        let id = g("1a2b3c4d-0000-4000-8000-000000000001");
        assert_eq!(parse(&id.to_string()), Ok(IdArg::Full(id)));
        assert_eq!(parse(&id.simple().to_string()), Ok(IdArg::Full(id)));
    }

    #[test]
    fn prefixes_need_eight_hex_digits() {
        assert_eq!(parse("1A2B3C4D"), Ok(IdArg::Prefix("1a2b3c4d".into())));
        assert_eq!(parse("1a2b3c4d-5e"), Ok(IdArg::Prefix("1a2b3c4d5e".into())));
        assert!(matches!(parse("1a2b3c4"), Err(IdError::Malformed(_))));
        assert!(matches!(parse("1a2b3c4g"), Err(IdError::Malformed(_))));
        assert!(matches!(parse("../../etc"), Err(IdError::Malformed(_))));
    }

    #[test]
    fn prefix_resolves_to_the_one_match() {
        let a = g("1a2b3c4d-0000-4000-8000-000000000001");
        let b = g("1a2b3c4d-1000-4000-8000-000000000002");
        let c = g("ffffffff-0000-4000-8000-000000000003");
        assert_eq!(resolve("1a2b3c4d0", [a, b, c]), Ok(a));
        assert_eq!(resolve("ffffffff", [a, b, c, c]), Ok(c));
        assert_eq!(
            resolve("00000000", [a, b, c]),
            Err(IdError::NoMatch("00000000".into()))
        );
        let amb = resolve("1a2b3c4d", [a, b, c]).expect_err("ambiguous");
        assert_eq!(
            amb,
            IdError::Ambiguous {
                prefix: "1a2b3c4d".into(),
                matches: vec![a, b]
            }
        );
        // The same message in inbox and sent (sent to myself) is one match, not two.
        assert_eq!(resolve("1a2b3c4d0", [a, a]), Ok(a));
    }

    #[test]
    fn short_ids_grow_until_they_differ() {
        let a = g("1a2b3c4d-0000-4000-8000-000000000001");
        let b = g("1a2b3c4d-1000-4000-8000-000000000002");
        let c = g("ffffffff-0000-4000-8000-000000000003");
        assert_eq!(short_len(&[a, c]), 8);
        assert_eq!(short_len(&[a, b, c]), 9);
        assert_eq!(short_len(&[]), 8);
        assert_eq!(short(b, 9), "1a2b3c4d1");
    }
}
