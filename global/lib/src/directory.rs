//! The directory's requests and records.
//!
//! A box asks on `ivm.dir.<box>.<operation>` (request/reply, queue group
//! [`crate::subject::DIRECTORY_QUEUE`]); the box in the subject is vouched for by the server's
//! permissions, so the bodies never name their box. The directory alone writes the buckets.

use ivm_wire::Guid;
use serde::{Deserialize, Serialize};

/// The most users one request may name: a request is bounded like everything else.
pub const MAX_USERS_PER_REQUEST: usize = 1000;
/// The largest request body accepted.
pub const MAX_REQUEST: usize = 256 * 1024;

/// What a box may ask the directory.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Operation {
    /// Publish users (the admin opted them in): they become reachable from other boxes.
    Publish,
    /// Withdraw users: they are no longer reachable from other boxes.
    Unpublish,
}

impl Operation {
    /// The operation named by the last subject token.
    pub fn parse(token: &str) -> Option<Self> {
        match token {
            "publish" => Some(Self::Publish),
            "unpublish" => Some(Self::Unpublish),
            _ => None,
        }
    }

    /// The subject token of this operation.
    pub fn token(self) -> &'static str {
        match self {
            Self::Publish => "publish",
            Self::Unpublish => "unpublish",
        }
    }
}

/// A user a box publishes.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PublishedUser {
    /// The user's GUID (the same on the box and in the global tier).
    pub id: Guid,
    /// The display name other boxes show.
    pub name: String,
}

/// The body of a publish request.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PublishRequest {
    /// The users to publish.
    pub users: Vec<PublishedUser>,
}

/// The body of an unpublish request.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct UnpublishRequest {
    /// The users to withdraw.
    pub users: Vec<Guid>,
}

/// The directory's answer to either request.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Default)]
pub struct Reply {
    /// Users done.
    pub accepted: Vec<Guid>,
    /// Users refused because another box owns them (or, for unpublish, this box does not).
    pub refused: Vec<Guid>,
    /// Set when the whole request was refused (malformed, too large); nothing was changed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
}

/// A record of the `ivm_users` bucket, keyed by the user's token.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct UserRecord {
    /// The box serving this user.
    pub box_id: Guid,
    /// The display name.
    pub name: String,
}

/// A record of the `ivm_boxes` bucket, keyed by the box's token.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct BoxRecord {
    /// When the box last registered (milliseconds since the Unix epoch).
    pub last_seen_ms: u64,
}

/// Why a publish request is refused as a whole.
pub fn check_publish(request: &PublishRequest) -> Result<(), &'static str> {
    if request.users.len() > MAX_USERS_PER_REQUEST {
        return Err("too many users in one request");
    }
    for user in &request.users {
        if user.id.is_nil() {
            return Err("nil user");
        }
        if user.name.chars().count() > crate::envelope::MAX_NAME
            || user.name.chars().any(char::is_control)
        {
            return Err("bad user name");
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn operations_round_trip_and_unknown_ones_are_refused() {
        for op in [Operation::Publish, Operation::Unpublish] {
            assert_eq!(Operation::parse(op.token()), Some(op));
        }
        assert_eq!(Operation::parse("delete"), None);
    }

    #[test]
    fn publish_requests_are_bounded() {
        let user = |n: u128, name: &str| PublishedUser {
            id: Guid::from_u128(n),
            name: name.into(),
        };
        assert!(check_publish(&PublishRequest {
            users: vec![user(1, "Bob")]
        })
        .is_ok());
        assert!(check_publish(&PublishRequest {
            users: vec![user(0, "Bob")]
        })
        .is_err());
        assert!(check_publish(&PublishRequest {
            users: vec![user(1, "B\nob")]
        })
        .is_err());
        let many = (1..=MAX_USERS_PER_REQUEST as u128 + 1)
            .map(|n| user(n, "x"))
            .collect();
        assert!(check_publish(&PublishRequest { users: many }).is_err());
    }
}
