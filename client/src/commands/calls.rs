//! `ivm calls [--json]`: my call history (`GET /api/me/calls`), newest first.

use ivm_wire::rest::{CallKind, CallRecord};

use crate::cli::ListArgs;
use crate::context::Context;
use crate::output;

/// Lists my placed, received and missed calls.
pub async fn calls(ctx: &Context, args: ListArgs) -> anyhow::Result<()> {
    let list = ctx.api.calls().await?;
    if args.json {
        output::json(&list)?;
    } else {
        output::line(&table(&list))?;
    }
    Ok(())
}

/// `TIME  KIND  WITH`: a placed call nobody answered says `placed (no answer)`.
fn table(list: &[CallRecord]) -> String {
    let rows: Vec<Vec<String>> = list
        .iter()
        .map(|c| {
            let kind = match (c.kind, c.answered) {
                (CallKind::Placed, true) => "placed",
                (CallKind::Placed, false) => "placed (no answer)",
                (CallKind::Received, _) => "received",
                (CallKind::Missed, _) => "missed",
            };
            vec![
                output::time(c.at),
                kind.to_owned(),
                format!("{} ({})", c.peer_name, c.peer_extension),
            ]
        })
        .collect();
    output::table(&["TIME", "KIND", "WITH"], &rows)
}

#[cfg(test)]
mod tests {
    use super::*;
    use ivm_wire::Guid;

    #[test]
    fn one_row_per_call_with_kind_and_peer() {
        let c = |kind, answered| CallRecord {
            at: 1_709_210_096_000,
            kind,
            answered,
            peer: Guid::from_bytes([1; 16]),
            peer_name: "bob".into(),
            peer_extension: "202".into(),
        };
        let t = table(&[
            c(CallKind::Missed, false),
            c(CallKind::Placed, false),
            c(CallKind::Received, true),
        ]);
        let lines: Vec<&str> = t.lines().collect();
        assert_eq!(lines.len(), 4, "{t}");
        assert!(lines[0].contains("KIND"), "{t}");
        assert!(
            lines[1].contains("missed") && lines[1].contains("bob (202)"),
            "{t}"
        );
        assert!(lines[2].contains("placed (no answer)"), "{t}");
        assert!(lines[3].contains("received"), "{t}");
    }
}
