//! Subject, stream, bucket and consumer names of the global tier.
//!
//! A box or user GUID is written in its simple form (32 lowercase hex digits): a dash-free
//! token is a single NATS subject token and a valid stream/consumer name. The table of who may
//! publish and read what is in `docs/decisions/0008-global-tier.md`.

use ivm_wire::Guid;

/// The stream holding what boxes send out, until a transport has routed it.
pub const OUT_STREAM: &str = "IVM_OUT";
/// The stream holding what waits for a box, until that box has taken it.
pub const IN_STREAM: &str = "IVM_IN";
/// The key-value bucket mapping a user to the box serving them.
pub const USERS_BUCKET: &str = "ivm_users";
/// The key-value bucket of boxes: when each last registered.
pub const BOXES_BUCKET: &str = "ivm_boxes";
/// The durable consumer all transport instances share on [`OUT_STREAM`].
pub const TRANSPORT_CONSUMER: &str = "transport";
/// The queue group of the directory instances.
pub const DIRECTORY_QUEUE: &str = "directory";
/// What the directory instances subscribe to (`ivm.dir.<box>.<operation>`).
pub const DIRECTORY_SUBSCRIPTION: &str = "ivm.dir.*.*";
/// Every subject of [`OUT_STREAM`].
pub const OUT_SUBJECTS: &str = "ivm.out.*";
/// Every subject of [`IN_STREAM`].
pub const IN_SUBJECTS: &str = "ivm.in.*";

/// The single-token form of a GUID used in subjects and names.
pub fn token(id: Guid) -> String {
    id.simple().to_string()
}

/// Where box `id` publishes what it sends (messages and receipts).
pub fn out(id: Guid) -> String {
    format!("ivm.out.{}", token(id))
}

/// Where the transport puts what waits for box `id`.
pub fn inbound(id: Guid) -> String {
    format!("ivm.in.{}", token(id))
}

/// A directory request of box `id` (`operation` is one of [`crate::directory::Operation`]).
pub fn directory(id: Guid, operation: &str) -> String {
    format!("ivm.dir.{}.{operation}", token(id))
}

/// The durable consumer of box `id` on [`IN_STREAM`] (made by the directory, never by the box).
pub fn box_consumer(id: Guid) -> String {
    format!("box-{}", token(id))
}

/// The reply-inbox prefix of box `id`: replies to one box are not readable by another.
pub fn inbox_prefix(id: Guid) -> String {
    format!("_INBOX_{}", token(id))
}

/// The box named by an `ivm.out.<box>` subject, or `None` for any other subject.
pub fn box_of_out(subject: &str) -> Option<Guid> {
    parse_box(subject.strip_prefix("ivm.out.")?)
}

/// The box and operation of an `ivm.dir.<box>.<operation>` subject.
pub fn parse_directory(subject: &str) -> Option<(Guid, &str)> {
    let rest = subject.strip_prefix("ivm.dir.")?;
    let (id, operation) = rest.split_once('.')?;
    if operation.is_empty() || operation.contains('.') {
        return None;
    }
    Some((parse_box(id)?, operation))
}

/// A box token back to its GUID; only the exact simple form is accepted, so one box has one
/// subject.
fn parse_box(token: &str) -> Option<Guid> {
    if token.len() != 32
        || !token
            .bytes()
            .all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f'))
    {
        return None;
    }
    Guid::try_parse(token).ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    const A: Guid = Guid::from_u128(0x0123_4567_89ab_cdef_0123_4567_89ab_cdef);

    #[test]
    fn subjects_are_single_tokens_per_box() {
        assert_eq!(out(A), "ivm.out.0123456789abcdef0123456789abcdef");
        assert_eq!(inbound(A), "ivm.in.0123456789abcdef0123456789abcdef");
        assert_eq!(box_consumer(A), "box-0123456789abcdef0123456789abcdef");
        assert_eq!(
            directory(A, "publish"),
            "ivm.dir.0123456789abcdef0123456789abcdef.publish"
        );
    }

    #[test]
    fn the_box_is_read_back_from_its_subjects() {
        assert_eq!(box_of_out(&out(A)), Some(A));
        assert_eq!(
            parse_directory(&directory(A, "publish")),
            Some((A, "publish"))
        );
    }

    #[test]
    fn other_spellings_of_a_box_are_refused() {
        assert_eq!(
            box_of_out("ivm.out.01234567-89ab-cdef-0123-456789abcdef"),
            None
        );
        assert_eq!(box_of_out("ivm.out.0123456789ABCDEF0123456789ABCDEF"), None);
        assert_eq!(box_of_out(&format!("{}.x", out(A))), None);
        assert_eq!(box_of_out("ivm.in.0123456789abcdef0123456789abcdef"), None);
        assert_eq!(
            parse_directory("ivm.dir.0123456789abcdef0123456789abcdef"),
            None
        );
        assert_eq!(
            parse_directory("ivm.dir.0123456789abcdef0123456789abcdef.a.b"),
            None
        );
        assert_eq!(
            parse_directory("ivm.dir.0123456789abcdef0123456789abcdef."),
            None
        );
    }
}
