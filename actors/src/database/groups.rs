//! Operations on groups (issue 13's all-call): the admin's list, create, change and delete,
//! and [`AllCallRecipients`], who an all-call from a speaker reaches.
//!
//! Members are named by a `key` as everywhere a person types one (a GUID, an extension or a
//! login name: [`Store::find_user`]).

use ivm_store::{Group, Store, StoreError, EVERYONE};
use ivm_wire::rest::{GroupInfo, GroupMember};
use ivm_wire::Guid;

use super::Op;

/// Each key to its user's GUID; the first unknown one is refused by name.
fn resolve(s: &Store, keys: &[String]) -> Result<Vec<Guid>, StoreError> {
    keys.iter()
        .map(|k| {
            s.find_user(k)?.map(|u| u.guid).ok_or_else(|| {
                StoreError::Invalid(format!(
                    "{:?} is not a user of this box",
                    k.chars().take(64).collect::<String>()
                ))
            })
        })
        .collect()
}

/// A stored group as the admin sees it (members still users, with their names).
fn info(s: &Store, g: &Group) -> Result<GroupInfo, StoreError> {
    let mut members = Vec::with_capacity(g.members.len());
    for m in &g.members {
        if let Some(u) = s.user(*m)? {
            members.push(GroupMember {
                guid: u.guid,
                name: u.name,
                display_name: u.display_name,
            });
        }
    }
    Ok(GroupInfo {
        name: g.name.clone(),
        builtin: false,
        members,
    })
}

/// "No such user" is the store's generic not-found; for a group say so.
fn no_group(name: &str) -> impl FnOnce(StoreError) -> StoreError + '_ {
    move |e| match e {
        StoreError::NotFound => StoreError::Invalid(format!("no group named {name:?}")),
        other => other,
    }
}

/// Every group: the built-in `everyone` (every user) first, then the stored ones by name.
#[derive(Debug, Clone, Copy)]
pub struct AllGroups;

impl Op for AllGroups {
    type Output = Vec<GroupInfo>;
    fn run(self, s: &Store) -> Result<Vec<GroupInfo>, StoreError> {
        let everyone = GroupInfo {
            name: EVERYONE.to_owned(),
            builtin: true,
            members: s
                .users()?
                .into_iter()
                .map(|u| GroupMember {
                    guid: u.guid,
                    name: u.name,
                    display_name: u.display_name,
                })
                .collect(),
        };
        let mut out = vec![everyone];
        for g in s.groups()? {
            out.push(info(s, &g)?);
        }
        Ok(out)
    }
}

/// Creates a group of the users the keys name.
#[derive(Debug, Clone)]
pub struct CreateGroup {
    /// Its name.
    pub name: String,
    /// Members: GUIDs, extensions or names.
    pub members: Vec<String>,
}

impl Op for CreateGroup {
    type Output = GroupInfo;
    fn run(self, s: &Store) -> Result<GroupInfo, StoreError> {
        let members = resolve(s, &self.members)?;
        info(s, &s.create_group(&self.name, members)?)
    }
}

/// Changes a group's members: `set` replaces the list when given, then `add` are added and
/// `remove` taken out (one transaction, [`Store::change_group`]).
#[derive(Debug, Clone)]
pub struct ChangeGroup {
    /// The group.
    pub name: String,
    /// The new list, when it is replaced.
    pub set: Option<Vec<String>>,
    /// Members to add.
    pub add: Vec<String>,
    /// Members to take out (a key naming nobody is refused, like a typo in `add`).
    pub remove: Vec<String>,
}

impl Op for ChangeGroup {
    type Output = GroupInfo;
    fn run(self, s: &Store) -> Result<GroupInfo, StoreError> {
        let set = self.set.as_deref().map(|k| resolve(s, k)).transpose()?;
        let add = resolve(s, &self.add)?;
        let remove = resolve(s, &self.remove)?;
        let g = s
            .change_group(&self.name, set, &add, &remove)
            .map_err(no_group(&self.name))?;
        info(s, &g)
    }
}

/// Deletes a group.
#[derive(Debug, Clone)]
pub struct DeleteGroup {
    /// Its name.
    pub name: String,
}

impl Op for DeleteGroup {
    type Output = ();
    fn run(self, s: &Store) -> Result<(), StoreError> {
        s.delete_group(&self.name).map_err(no_group(&self.name))
    }
}

/// Why an all-call may not start.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum AllCallRefused {
    /// The speaker lacks the all-call permission.
    #[error("you may not make an all-call: an administrator can allow it (ivmd user allcall NAME on, or the admin page)")]
    NotAllowed,
    /// No group by that name.
    #[error("no group named {0:?} (ivmd group list shows them)")]
    UnknownGroup(String),
    /// The group holds nobody but the speaker.
    #[error("group {0:?} has no member besides you")]
    Empty(String),
}

/// Who an all-call from `speaker` to `group` reaches (the group's members who are users,
/// the speaker left out), once the speaker's permission is checked: one read trip.
#[derive(Debug, Clone)]
pub struct AllCallRecipients {
    /// The speaker.
    pub speaker: Guid,
    /// The group's name, or `everyone`.
    pub group: String,
}

impl Op for AllCallRecipients {
    type Output = Result<Vec<Guid>, AllCallRefused>;
    fn run(self, s: &Store) -> Result<Self::Output, StoreError> {
        let allowed = s.user(self.speaker)?.is_some_and(|u| u.may_all_call());
        if !allowed {
            return Ok(Err(AllCallRefused::NotAllowed));
        }
        let Some(mut members) = s.group_recipients(&self.group)? else {
            return Ok(Err(AllCallRefused::UnknownGroup(self.group)));
        };
        members.retain(|m| *m != self.speaker);
        if members.is_empty() {
            return Ok(Err(AllCallRefused::Empty(self.group)));
        }
        Ok(Ok(members))
    }
}
