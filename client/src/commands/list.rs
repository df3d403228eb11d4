//! `ivm inbox [--limit N | --all] [--json]` and `ivm sent ...`: messages newest first, as the
//! server orders them, the newest 50 unless told otherwise (the box answers a page at a time;
//! ivm follows the pages). When older messages were left out, a line on stderr says how to
//! see them, so the table (or JSON) on stdout stays what scripts expect. Ids are shortened
//! to the fewest hex digits (at least 8) that keep them apart; any of them can be given back
//! to `get`, `play` or `delete`.

use ivm_wire::rest::MessageInfo;

use crate::cli::MessageListArgs;
use crate::context::Context;
use crate::{ids, output};

/// How many messages `args` asks for (`None`: all).
fn wanted(args: &MessageListArgs) -> Option<usize> {
    (!args.all).then(|| usize::try_from(args.limit).unwrap_or(usize::MAX))
}

/// Says on stderr that older messages were left out, and how to see them.
fn more_hint(command: &str, shown: usize, more: bool) {
    if more {
        eprintln!("ivm: the newest {shown} shown; older ones: ivm {command} --all (or --limit N)");
    }
}

/// Lists received messages.
pub async fn inbox(ctx: &Context, args: MessageListArgs) -> anyhow::Result<()> {
    let (list, more) = ctx.api.inbox(wanted(&args)).await?;
    if args.json {
        output::json(&list)?;
    } else {
        output::line(&inbox_table(&list))?;
    }
    more_hint("inbox", list.len(), more);
    Ok(())
}

/// Lists sent messages with each recipient's state.
pub async fn sent(ctx: &Context, args: MessageListArgs) -> anyhow::Result<()> {
    let (list, more) = ctx.api.sent(wanted(&args)).await?;
    if args.json {
        output::json(&list)?;
    } else {
        output::line(&sent_table(&list))?;
    }
    more_hint("sent", list.len(), more);
    Ok(())
}

fn short_ids(list: &[MessageInfo]) -> impl Fn(&MessageInfo) -> String {
    let ids: Vec<_> = list.iter().map(|m| m.id).collect();
    let len = ids::short_len(&ids);
    move |m| ids::short(m.id, len)
}

/// ID, FROM, TIME, DURATION, STATE, ATTACHMENTS.
pub fn inbox_table(list: &[MessageInfo]) -> String {
    let short = short_ids(list);
    let rows: Vec<Vec<String>> = list
        .iter()
        .map(|m| {
            vec![
                short(m),
                m.sender_name.clone(),
                output::time(m.created_at),
                output::duration(m.duration_ms),
                state_marked(m),
                m.attachments.len().to_string(),
            ]
        })
        .collect();
    output::table(
        &["ID", "FROM", "TIME", "DURATION", "STATE", "ATTACHMENTS"],
        &rows,
    )
}

/// My state of a message, with its marks: `URGENT` for an all-call, `partial` for a talk
/// cut off.
fn state_marked(m: &MessageInfo) -> String {
    let mut s = m
        .state
        .map(|s| s.as_str().to_owned())
        .unwrap_or_else(|| "-".into());
    if m.urgent {
        s.push_str(", URGENT");
    }
    if m.partial {
        s.push_str(", partial");
    }
    s
}

/// ID, TIME, DURATION, ATTACHMENTS, TO (with states).
pub fn sent_table(list: &[MessageInfo]) -> String {
    let short = short_ids(list);
    let rows: Vec<Vec<String>> = list
        .iter()
        .map(|m| {
            let to = m
                .recipients
                .iter()
                .map(|r| format!("{} ({})", r.name, r.state.as_str()))
                .collect::<Vec<_>>()
                .join(", ");
            vec![
                short(m),
                output::time(m.created_at),
                output::duration(m.duration_ms),
                m.attachments.len().to_string(),
                to,
            ]
        })
        .collect();
    output::table(&["ID", "TIME", "DURATION", "ATTACHMENTS", "TO"], &rows)
}

#[cfg(test)]
mod tests {
    use super::*;
    use ivm_wire::rest::RecipientState;
    use ivm_wire::{Guid, MailboxState};

    fn msg(id: &str) -> MessageInfo {
        MessageInfo {
            id: id.parse().expect("guid"),
            sender: Guid::nil(),
            sender_name: "amy".into(),
            sender_display_name: "Amy".into(),
            recipients: vec![RecipientState {
                guid: Guid::nil(),
                name: "bob".into(),
                state: MailboxState::Played,
            }],
            created_at: 1_709_210_096_000,
            duration_ms: 7_000,
            peaks: vec![],
            audio_bytes: 1,
            attachments: vec![],
            state: Some(MailboxState::Delivered),
            partial: false,
            urgent: false,
        }
    }

    #[test]
    fn the_inbox_marks_an_urgent_message() {
        let mut m = msg("1a2b3c4d-0000-4000-8000-000000000001");
        m.urgent = true;
        let t = inbox_table(&[m]);
        assert!(t.contains("delivered, URGENT"), "{t}");
    }

    #[test]
    fn tables_show_short_ids_and_states() {
        let list = [msg("1a2b3c4d-0000-4000-8000-000000000001")];
        let t = inbox_table(&list);
        assert!(
            t.lines()
                .nth(1)
                .expect("row")
                .starts_with("1a2b3c4d  amy   2024-02-29 12:34Z  0:07"),
            "{t}"
        );
        assert!(t.contains("delivered"));
        let s = sent_table(&list);
        assert!(s.ends_with("bob (played)"), "{s}");
    }
}
