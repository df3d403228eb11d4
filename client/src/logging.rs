//! The log filter from `IVM_LOG`, checked so that a typo cannot hide every line (issue 11,
//! item 8).
//!
//! tracing's filter syntax takes a bare word as a *target*: `IVM_LOG=debgu` is valid and means
//! "everything from the module `debgu`", which does not exist, so every line, errors included,
//! is silently dropped. Here a bare word must be a level; anything else (or a directive
//! tracing itself cannot parse) gets one warning on stderr and the program's default filter.
//! A whole target is still reachable as `TARGET=trace`.
//!
//! Shared by the binaries: `ivm` calls [`init`] with the default `off`; `ivmd` can call the
//! same with `info` (the `ivm-appliance` crate already depends on this one).

use std::io::IsTerminal;

use tracing_subscriber::filter::LevelFilter;
use tracing_subscriber::EnvFilter;

/// The filter for `value` (the variable's content, `None` when unset), or `default` with a
/// warning for people when `value` is not a filter that can mean what was typed.
pub fn filter(var: &str, value: Option<&str>, default: &str) -> (EnvFilter, Option<String>) {
    let fallback = || EnvFilter::new(default);
    let Some(value) = value.map(str::trim).filter(|v| !v.is_empty()) else {
        return (fallback(), None);
    };
    match check(value) {
        Ok(filter) => (filter, None),
        Err(why) => (
            fallback(),
            Some(format!(
                "{var}={value:?} ignored: {why}; using the default ({default:?})"
            )),
        ),
    }
}

/// Parses `value` strictly: every bare word a level, every directive valid. Spaces around
/// the commas are allowed (tracing itself refuses them).
pub fn check(value: &str) -> Result<EnvFilter, String> {
    let directives = directives(value);
    for directive in &directives {
        let bare = !directive.contains(['=', '[']);
        if bare && directive.parse::<LevelFilter>().is_err() {
            return Err(format!(
                "{directive:?} is not a level (off, error, warn, info, debug, trace); \
                 for one module's lines write TARGET=LEVEL"
            ));
        }
    }
    EnvFilter::builder()
        .with_default_directive(LevelFilter::OFF.into())
        .parse(directives.join(","))
        .map_err(|e| e.to_string())
}

/// The comma-separated directives of `value`, trimmed, empty ones dropped (tracing splits at
/// every comma too).
fn directives(value: &str) -> Vec<&str> {
    value
        .split(',')
        .map(str::trim)
        .filter(|d| !d.is_empty())
        .collect()
}

/// Installs the stderr subscriber with the filter from the variable `var`, printing
/// `<program>: warning: ...` once when it was refused.
pub fn init(program: &str, var: &str, default: &str) {
    let raw = std::env::var_os(var);
    let (filter, warning) = match raw.as_ref().map(|v| v.to_str()) {
        Some(None) => (
            EnvFilter::new(default),
            Some(format!(
                "{var} is not valid UTF-8 and was ignored; using the default ({default:?})"
            )),
        ),
        Some(Some(text)) => filter(var, Some(text), default),
        None => filter(var, None, default),
    };
    if let Some(w) = warning {
        eprintln!("{program}: warning: {w}");
    }
    // Colours only for a person at a terminal: escape codes in a log file or a pipe break
    // every grep for `key=value`.
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_ansi(std::io::stderr().is_terminal())
        .with_writer(std::io::stderr)
        .try_init();
}

#[cfg(test)]
mod tests {
    use super::*;

    fn warned(value: &str) -> Option<String> {
        filter("IVM_LOG", Some(value), "info").1
    }

    #[test]
    fn levels_and_target_directives_are_taken() {
        for ok in [
            "debug",
            "WARN",
            "off",
            "info,ivm_http=debug",
            "ivm_client=trace, hyper=warn",
            "ivm_client::api=debug",
            "warn,[request{user=ann}]=debug",
            " ",
            "",
        ] {
            assert_eq!(warned(ok), None, "{ok:?}");
        }
    }

    #[test]
    fn a_mistyped_level_is_refused_with_one_warning() {
        let w = warned("debgu").expect("warned");
        assert_eq!(
            w,
            "IVM_LOG=\"debgu\" ignored: \"debgu\" is not a level (off, error, warn, info, \
             debug, trace); for one module's lines write TARGET=LEVEL; using the default \
             (\"info\")"
        );
        assert!(warned("info,wran").expect("warned").contains("\"wran\""));
    }

    #[test]
    fn what_tracing_cannot_parse_is_refused() {
        let w = warned("ivm_http=loud").expect("warned");
        assert!(w.starts_with("IVM_LOG=\"ivm_http=loud\" ignored: "), "{w}");
    }

    #[test]
    fn the_default_filter_is_used_when_refused() {
        let (f, w) = filter("IVM_LOG", Some("debgu"), "warn");
        assert!(w.is_some());
        assert_eq!(f.max_level_hint(), Some(LevelFilter::WARN));
        let (f, w) = filter("IVM_LOG", Some("debug"), "warn");
        assert!(w.is_none());
        assert_eq!(f.max_level_hint(), Some(LevelFilter::DEBUG));
        let (f, w) = filter("IVM_LOG", None, "off");
        assert!(w.is_none());
        assert_eq!(f.max_level_hint(), Some(LevelFilter::OFF));
    }

    #[test]
    fn directives_are_trimmed() {
        assert_eq!(directives(" a=1 ,, b "), ["a=1", "b"]);
    }
}
