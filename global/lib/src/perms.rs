//! Who may publish and subscribe to what: the isolation of boxes, enforced by the NATS servers.
//!
//! A box is admitted as a NATS user identified by its public NKey, with [`box_permissions`].
//! Every allow list is exhaustive (NATS denies what is not allowed), so a box can publish only
//! as itself and read only its own consumer and replies. The servers need only public keys;
//! seeds stay with their owners.

use crate::subject;
use ivm_wire::Guid;

/// Allow lists for one NATS user.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Permissions {
    /// Subjects the user may publish to.
    pub publish: Vec<String>,
    /// Subjects the user may subscribe to.
    pub subscribe: Vec<String>,
}

/// One NATS user admitted by the cluster.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Admitted {
    /// The user's public NKey (`U…`).
    pub nkey: String,
    /// Its allow lists; `None` for a trusted service, which may use every subject.
    pub permissions: Option<Permissions>,
}

/// The permissions of box `id`.
///
/// Publish: its own out subject and directory requests; pulling from and acking its own
/// consumer (never creating one: a box that could create consumers could filter on another
/// box's subject). Subscribe: its own reply inbox ([`subject::inbox_prefix`]), which the box's
/// connection must use.
pub fn box_permissions(id: Guid) -> Permissions {
    let consumer = subject::box_consumer(id);
    let stream = subject::IN_STREAM;
    Permissions {
        publish: vec![
            subject::out(id),
            format!("ivm.dir.{}.*", subject::token(id)),
            format!("$JS.API.CONSUMER.MSG.NEXT.{stream}.{consumer}"),
            format!("$JS.API.CONSUMER.INFO.{stream}.{consumer}"),
            format!("$JS.ACK.{stream}.{consumer}.>"),
        ],
        subscribe: vec![format!("{}.>", subject::inbox_prefix(id))],
    }
}

/// A fresh NKey user key pair: `(seed, public key)`. The seed is the secret to keep in a file
/// readable only by its owner.
pub fn new_user_key() -> (String, String) {
    let pair = nkeys::KeyPair::new_user();
    // A freshly made user pair always has its seed.
    let seed = pair.seed().unwrap_or_default();
    (seed, pair.public_key())
}

/// The public key of a seed, or `None` if it is not a user seed.
pub fn public_key_of(seed: &str) -> Option<String> {
    let pair = nkeys::KeyPair::from_seed(seed.trim()).ok()?;
    let public = pair.public_key();
    public.starts_with('U').then_some(public)
}

/// The `authorization { users = [...] }` block of a `nats-server` configuration admitting
/// `users`. Subjects are quoted, so `$JS` and `>` need no escaping.
pub fn authorization_block(users: &[Admitted]) -> String {
    let quote = |list: &[String]| {
        list.iter()
            .map(|s| format!("\"{s}\""))
            .collect::<Vec<_>>()
            .join(", ")
    };
    let mut out = String::from("authorization {\n  users = [\n");
    for user in users {
        match &user.permissions {
            None => out.push_str(&format!("    {{ nkey: \"{}\" }}\n", user.nkey)),
            Some(p) => out.push_str(&format!(
                "    {{ nkey: \"{}\", permissions: {{ publish: {{ allow: [{}] }}, subscribe: {{ allow: [{}] }} }} }}\n",
                user.nkey,
                quote(&p.publish),
                quote(&p.subscribe)
            )),
        }
    }
    out.push_str("  ]\n}\n");
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_box_may_publish_only_as_itself() {
        let a = Guid::from_u128(0xa);
        let b = Guid::from_u128(0xb);
        let p = box_permissions(a);
        assert!(p.publish.contains(&subject::out(a)));
        let joined = p.publish.join(" ") + " " + &p.subscribe.join(" ");
        assert!(!joined.contains(&subject::token(b)));
        assert!(
            !joined.contains("CREATE"),
            "a box must not create consumers"
        );
        assert!(
            !joined.contains("ivm.in."),
            "a box reads only through its consumer"
        );
        assert_eq!(p.subscribe, vec![format!("_INBOX_{}.>", subject::token(a))]);
    }

    #[test]
    fn keys_are_user_keys_and_seeds_give_them_back() {
        let (seed, public) = new_user_key();
        assert!(seed.starts_with("SU"));
        assert_eq!(public_key_of(&seed).as_deref(), Some(public.as_str()));
        assert_eq!(public_key_of("not a seed"), None);
    }

    #[test]
    fn the_authorization_block_lists_every_user() {
        let block = authorization_block(&[
            Admitted {
                nkey: "USERVICE".into(),
                permissions: None,
            },
            Admitted {
                nkey: "UBOX".into(),
                permissions: Some(box_permissions(Guid::from_u128(1))),
            },
        ]);
        assert!(block.contains(r#"{ nkey: "USERVICE" }"#));
        assert!(block.contains(r#"nkey: "UBOX", permissions: { publish: { allow: ["ivm.out."#));
        assert!(block.contains(r#"subscribe: { allow: ["_INBOX_"#));
    }
}
