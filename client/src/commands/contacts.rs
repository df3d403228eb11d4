//! `ivm contacts [--json]`, `ivm contacts add NAME`, `ivm contacts remove NAME`, `ivm users`.

use ivm_wire::rest::Contact;

use super::CommandError;
use crate::cli::{ContactsAction, ContactsArgs, ListArgs};
use crate::context::Context;
use crate::output;

/// Lists, adds or removes contacts.
pub async fn contacts(ctx: &Context, args: ContactsArgs) -> anyhow::Result<()> {
    match args.action {
        None => print(&ctx.api.contacts().await?, args.list.json),
        Some(ContactsAction::Add { contact }) => {
            let c = ctx.api.add_contact(&contact).await?;
            eprintln!(
                "ivm: added {} ({}, extension {})",
                c.name, c.display_name, c.extension
            );
            Ok(())
        }
        Some(ContactsAction::Remove { contact }) => {
            let list = ctx.api.contacts().await?;
            let c =
                find(&list, &contact).ok_or_else(|| CommandError::NotAContact(contact.clone()))?;
            ctx.api.remove_contact(c.guid).await?;
            eprintln!("ivm: removed {}", c.name);
            Ok(())
        }
    }
}

/// Lists everyone on the box.
pub async fn users(ctx: &Context, args: ListArgs) -> anyhow::Result<()> {
    print(&ctx.api.users().await?, args.json)
}

/// The contact named by login name, extension or GUID.
pub fn find<'a>(list: &'a [Contact], who: &str) -> Option<&'a Contact> {
    let who = who.trim();
    list.iter().find(|c| {
        c.name.eq_ignore_ascii_case(who)
            || c.extension == who
            || c.guid.to_string() == who.to_ascii_lowercase()
    })
}

fn print(list: &[Contact], json: bool) -> anyhow::Result<()> {
    if json {
        output::json(list)?;
        return Ok(());
    }
    let rows: Vec<Vec<String>> = list
        .iter()
        .map(|c| {
            vec![
                c.name.clone(),
                c.extension.clone(),
                c.display_name.clone(),
                c.status.as_str().to_owned(),
            ]
        })
        .collect();
    output::line(&output::table(
        &["NAME", "EXT", "DISPLAY NAME", "STATUS"],
        &rows,
    ))?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use ivm_wire::{Guid, Status};

    #[test]
    fn contacts_are_found_by_name_extension_or_guid() {
        let bob = Contact {
            guid: Guid::new_v4(),
            name: "bob".into(),
            extension: "201".into(),
            display_name: "Bob".into(),
            status: Status::Away,
        };
        let list = [bob.clone()];
        assert_eq!(find(&list, "bob"), Some(&bob));
        assert_eq!(find(&list, "201"), Some(&bob));
        assert_eq!(
            find(&list, &bob.guid.to_string().to_uppercase()),
            Some(&bob)
        );
        assert_eq!(find(&list, "carol"), None);
    }
}
