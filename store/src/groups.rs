//! Groups: named sets of users an all-call talks to (issue 13), plus the built-in
//! [`EVERYONE`], which is never stored: it means every user at the moment of the talk, so a
//! user added later is in it without anyone editing a list.
//!
//! A group's name follows the login-name rules (`users.rs`: safe in URLs and on a command
//! line). Members are user GUIDs in the order they were added; a deleted user leaves every
//! group in the same commit that deletes them (`users.rs`, [`forget_member`]), and
//! [`Store::group_recipients`] skips any GUID that is not a user any more, so a group can
//! never send to someone who does not exist.

use ivm_wire::Guid;
use redb::{ReadableDatabase, ReadableTable, WriteTransaction};
use serde::{Deserialize, Serialize};

use crate::tables::{decode, encode, guid_key, GROUPS, USERS};
use crate::users::{unix_now, validate_name};
use crate::{Store, StoreError};

/// The built-in group of every user; its name cannot be taken by a stored group.
pub const EVERYONE: &str = "everyone";

/// Most members a stored group holds: the most recipients one talk reaches
/// (the client protocol's destination limit).
pub const MAX_MEMBERS: usize = ivm_wire::object::MAX_DESTINATIONS;

/// A stored group.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Group {
    /// Its name (login-name rules), unique.
    pub name: String,
    /// Members' GUIDs, in the order they were added, no repeats.
    pub members: Vec<Guid>,
    /// When it was created, Unix seconds.
    pub created_at: u64,
}

/// Checks a group name: the login-name rules, and not the built-in one.
pub fn validate_group_name(name: &str) -> Result<(), StoreError> {
    validate_name(name).map_err(|e| match e {
        StoreError::Invalid(m) => StoreError::Invalid(m.replacen("name", "group name", 1)),
        other => other,
    })?;
    if name == EVERYONE {
        return Err(StoreError::Invalid(format!(
            "group name {EVERYONE:?} is built in (every user); choose another"
        )));
    }
    Ok(())
}

/// Every GUID of `members` must be a user: the first that is not is named.
fn check_members(txn: &WriteTransaction, members: &[Guid]) -> Result<(), StoreError> {
    let users = txn.open_table(USERS)?;
    for m in members {
        if users.get(guid_key(*m))?.is_none() {
            return Err(StoreError::Invalid(format!(
                "{m} is not a user of this box"
            )));
        }
    }
    Ok(())
}

/// `members` without repeats, first kept; refused past [`MAX_MEMBERS`].
fn dedup(members: impl IntoIterator<Item = Guid>) -> Result<Vec<Guid>, StoreError> {
    let mut out: Vec<Guid> = Vec::new();
    for m in members {
        if !out.contains(&m) {
            out.push(m);
        }
    }
    if out.len() > MAX_MEMBERS {
        return Err(StoreError::Invalid(format!(
            "a group holds at most {MAX_MEMBERS} members ({} given)",
            out.len()
        )));
    }
    Ok(out)
}

/// Takes `user` out of every group, inside the transaction that deletes them.
pub(crate) fn forget_member(txn: &WriteTransaction, user: Guid) -> Result<(), StoreError> {
    let mut table = txn.open_table(GROUPS)?;
    let mut changed = Vec::new();
    for row in table.iter()? {
        let (_, v) = row?;
        let mut g: Group = decode("group", v.value())?;
        if g.members.contains(&user) {
            g.members.retain(|m| *m != user);
            changed.push(g);
        }
    }
    for g in &changed {
        table.insert(g.name.as_str(), encode(g)?.as_slice())?;
    }
    Ok(())
}

impl Store {
    /// Creates a group. [`StoreError::Invalid`] for a bad or built-in name or a member who
    /// is not a user; [`StoreError::Conflict`] when the name is taken.
    pub fn create_group(&self, name: &str, members: Vec<Guid>) -> Result<Group, StoreError> {
        validate_group_name(name)?;
        let group = Group {
            name: name.to_owned(),
            members: dedup(members)?,
            created_at: unix_now(),
        };
        let txn = self.db.begin_write()?;
        check_members(&txn, &group.members)?;
        {
            let mut table = txn.open_table(GROUPS)?;
            if table.get(name)?.is_some() {
                return Err(StoreError::Conflict(format!("group {name:?} exists")));
            }
            table.insert(name, encode(&group)?.as_slice())?;
        }
        txn.commit()?;
        tracing::info!(group = name, members = group.members.len(), "group created");
        Ok(group)
    }

    /// Every stored group, by name (the built-in [`EVERYONE`] is not among them).
    pub fn groups(&self) -> Result<Vec<Group>, StoreError> {
        let txn = self.db.begin_read()?;
        let table = txn.open_table(GROUPS)?;
        let mut out = Vec::new();
        for row in table.iter()? {
            let (_, v) = row?;
            out.push(decode::<Group>("group", v.value())?);
        }
        Ok(out)
    }

    /// The stored group named `name`, if any.
    pub fn group(&self, name: &str) -> Result<Option<Group>, StoreError> {
        let txn = self.db.begin_read()?;
        let table = txn.open_table(GROUPS)?;
        match table.get(name)? {
            Some(v) => Ok(Some(decode("group", v.value())?)),
            None => Ok(None),
        }
    }

    /// Deletes a group. [`StoreError::NotFound`] when there is none by that name;
    /// [`StoreError::Invalid`] for the built-in one.
    pub fn delete_group(&self, name: &str) -> Result<(), StoreError> {
        validate_group_name(name)?;
        let txn = self.db.begin_write()?;
        let gone = txn.open_table(GROUPS)?.remove(name)?.is_some();
        if !gone {
            return Err(StoreError::NotFound);
        }
        txn.commit()?;
        tracing::info!(group = name, "group deleted");
        Ok(())
    }

    /// Changes a group's members: `set` replaces the list (when given), then `add` are
    /// appended (those already in stay where they are) and `remove` taken out. Every added
    /// member must be a user. Read and written in one transaction, so two admins editing
    /// at once both see their change kept.
    pub fn change_group(
        &self,
        name: &str,
        set: Option<Vec<Guid>>,
        add: &[Guid],
        remove: &[Guid],
    ) -> Result<Group, StoreError> {
        validate_group_name(name)?;
        let txn = self.db.begin_write()?;
        let group = {
            let mut table = txn.open_table(GROUPS)?;
            let mut g: Group = match table.get(name)? {
                Some(v) => decode("group", v.value())?,
                None => return Err(StoreError::NotFound),
            };
            let base = set.unwrap_or(g.members);
            g.members = dedup(base.into_iter().chain(add.iter().copied()))?;
            g.members.retain(|m| !remove.contains(m));
            table.insert(name, encode(&g)?.as_slice())?;
            g
        };
        check_members(&txn, &group.members)?;
        txn.commit()?;
        Ok(group)
    }

    /// Who a talk to the group `name` reaches: every user for [`EVERYONE`], else the
    /// members who are still users. `None` when there is no such group.
    pub fn group_recipients(&self, name: &str) -> Result<Option<Vec<Guid>>, StoreError> {
        let txn = self.db.begin_read()?;
        let users = txn.open_table(USERS)?;
        if name == EVERYONE {
            let mut all = Vec::new();
            for row in users.iter()? {
                let (k, _) = row?;
                all.push(Guid::from_bytes(k.value()));
            }
            return Ok(Some(all));
        }
        let groups = txn.open_table(GROUPS)?;
        let Some(v) = groups.get(name)? else {
            return Ok(None);
        };
        let g: Group = decode("group", v.value())?;
        let mut out = Vec::with_capacity(g.members.len());
        for m in g.members {
            if users.get(guid_key(m))?.is_some() {
                out.push(m);
            }
        }
        Ok(Some(out))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::NewUser;

    fn user(s: &Store, name: &str, ext: &str) -> Guid {
        s.create_user(NewUser {
            name: name.into(),
            extension: ext.into(),
            display_name: None,
            password: "correct horse".into(),
            admin: false,
        })
        .expect("user")
        .guid
    }

    #[test]
    fn groups_are_made_changed_expanded_and_deleted() {
        let dir = tempfile::tempdir().expect("tempdir");
        let s = Store::open(dir.path()).expect("open");
        let bob = user(&s, "bob", "201");
        let carol = user(&s, "carol", "202");
        let dan = user(&s, "dan", "203");
        let g = s
            .create_group("sales", vec![bob, carol, bob])
            .expect("create");
        assert_eq!(g.members, vec![bob, carol]);
        assert!(matches!(
            s.create_group("sales", vec![]),
            Err(StoreError::Conflict(_))
        ));
        assert!(matches!(
            s.create_group(EVERYONE, vec![]),
            Err(StoreError::Invalid(_))
        ));
        assert!(matches!(
            s.create_group("Bad Name", vec![]),
            Err(StoreError::Invalid(_))
        ));
        assert!(matches!(
            s.create_group("ghosts", vec![Guid::new_v4()]),
            Err(StoreError::Invalid(_))
        ));
        assert!(s.group("ghosts").expect("read").is_none(), "nothing stored");

        let g = s
            .change_group("sales", None, &[dan], &[bob])
            .expect("change");
        assert_eq!(g.members, vec![carol, dan]);
        let bad = s.change_group("sales", None, &[Guid::new_v4()], &[]);
        assert!(matches!(bad, Err(StoreError::Invalid(_))));
        assert_eq!(
            s.group("sales").expect("read").expect("some").members,
            vec![carol, dan],
            "a refused change changes nothing"
        );

        s.delete_user(dan).expect("delete dan");
        assert_eq!(
            s.group_recipients("sales").expect("expand"),
            Some(vec![carol])
        );
        let mut all = s.group_recipients(EVERYONE).expect("all").expect("some");
        all.sort();
        let mut want = vec![bob, carol];
        want.sort();
        assert_eq!(all, want);
        assert_eq!(s.group_recipients("nobody").expect("none"), None);

        s.delete_group("sales").expect("delete");
        assert!(matches!(s.delete_group("sales"), Err(StoreError::NotFound)));
        assert!(s.groups().expect("list").is_empty());
    }

    #[test]
    fn all_call_permission_follows_admin_until_set() {
        let dir = tempfile::tempdir().expect("tempdir");
        let s = Store::open(dir.path()).expect("open");
        let ann = user(&s, "ann", "201");
        let boss = s
            .create_user(NewUser {
                name: "boss".into(),
                extension: "200".into(),
                display_name: None,
                password: "correct horse".into(),
                admin: true,
            })
            .expect("admin");
        assert!(boss.may_all_call(), "admins may by default");
        let a = s.user(ann).expect("read").expect("ann");
        assert!(!a.may_all_call(), "others may not by default");
        let up = |v| crate::UserUpdate {
            may_all_call: Some(v),
            ..Default::default()
        };
        assert!(s.update_user(ann, up(true)).expect("grant").may_all_call());
        assert!(!s
            .update_user(boss.guid, up(false))
            .expect("revoke")
            .may_all_call());
        let a = s.user(ann).expect("read").expect("ann");
        assert!(a.may_all_call(), "the grant is stored");
    }
}
