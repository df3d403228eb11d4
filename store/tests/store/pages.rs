//! Inbox and sent lists a page at a time: order, cursors, deletions, counts, batched receipts.

use ivm_store::{Advanced, Cursor, ListCounts, Store, StoreError, StoredMessage, User, MAX_PAGE};
use ivm_wire::{Guid, MailboxState};

use crate::{add_user, open};

/// A message with a small audio blob (no attachment), committed at `at`.
fn msg(store: &Store, from: &User, to: &[&User], at: u64) -> StoredMessage {
    let m = StoredMessage {
        id: Guid::new_v4(),
        sender: from.guid,
        recipients: to.iter().map(|u| u.guid).collect(),
        created_at: at,
        duration_ms: 1000,
        peaks: vec![1, 2, 3],
        audio: store.put_blob(format!("OggS {at}").as_bytes()).unwrap(),
        attachments: vec![],
        idempotency_key: None,
        partial: false,
        urgent: false,
    };
    store.commit_message(&m).unwrap();
    m
}

/// Every inbox page of `user` with `limit`, concatenated.
fn all_inbox(store: &Store, user: Guid, limit: usize) -> (Vec<Guid>, usize) {
    let (mut ids, mut pages, mut before) = (Vec::new(), 0, None);
    loop {
        let p = store.inbox_page(user, before, limit).unwrap();
        assert!(p.items.len() <= limit);
        ids.extend(p.items.iter().map(|(m, _)| m.id));
        pages += 1;
        assert!(pages < 10_000, "paging must end");
        match p.next {
            Some(c) => before = Some(c),
            None => return (ids, pages),
        }
    }
}

fn all_sent(store: &Store, user: Guid, limit: usize) -> Vec<Guid> {
    let (mut ids, mut before) = (Vec::new(), None);
    loop {
        let p = store.sent_page(user, before, limit).unwrap();
        ids.extend(p.items.iter().map(|m| m.id));
        match p.next {
            Some(c) => before = Some(c),
            None => return ids,
        }
    }
}

#[test]
fn pages_follow_the_full_lists_order_with_ties_in_one_millisecond() {
    let dir = tempfile::tempdir().unwrap();
    let store = open(dir.path());
    let (a, b, c) = (
        add_user(&store, "alice", "101"),
        add_user(&store, "bob", "102"),
        add_user(&store, "carol", "103"),
    );
    // 230 messages for bob, in a shuffled time order with many in the same millisecond;
    // carol's and alice's own rows sit beside bob's in the same tables.
    for i in 0..230u64 {
        let at = 1_000 + (i * 37) % 61;
        msg(&store, if i % 3 == 0 { &c } else { &a }, &[&b], at);
        if i % 10 == 0 {
            msg(&store, &b, &[&a, &c], at);
        }
    }
    let full: Vec<Guid> = store
        .inbox(b.guid)
        .unwrap()
        .iter()
        .map(|(m, _)| m.id)
        .collect();
    assert_eq!(full.len(), 230);
    for limit in [1, 7, 50, 115, 199, MAX_PAGE] {
        let (paged, pages) = all_inbox(&store, b.guid, limit);
        assert_eq!(paged, full, "limit {limit}");
        assert_eq!(
            pages,
            full.len().div_ceil(limit),
            "limit {limit}: no empty last page"
        );
    }
    let sent: Vec<Guid> = store.sent(b.guid).unwrap().iter().map(|m| m.id).collect();
    assert_eq!(all_sent(&store, b.guid, 4), sent);
    assert_eq!(
        all_sent(&store, a.guid, 50),
        ids_of(&store.sent(a.guid).unwrap())
    );
    // A page past the end, and a user with nothing.
    let last = store.inbox_page(b.guid, None, MAX_PAGE).unwrap();
    let tail = Cursor::of(&store.message(*full.last().unwrap()).unwrap().unwrap());
    assert!(store
        .inbox_page(b.guid, Some(tail), 5)
        .unwrap()
        .items
        .is_empty());
    assert_eq!(last.items.len(), MAX_PAGE);
    let d = add_user(&store, "dave", "104");
    let empty = store.inbox_page(d.guid, None, 50).unwrap();
    assert!(empty.items.is_empty() && empty.next.is_none());
    // The state comes with each inbox item.
    let first = store.inbox_page(b.guid, None, 1).unwrap();
    assert_eq!(first.items[0].1, MailboxState::Queued);
}

fn ids_of(v: &[StoredMessage]) -> Vec<Guid> {
    v.iter().map(|m| m.id).collect()
}

#[test]
fn deleted_and_hidden_messages_leave_the_pages_and_cursors_survive_them() {
    let dir = tempfile::tempdir().unwrap();
    let store = open(dir.path());
    let (a, b) = (
        add_user(&store, "alice", "101"),
        add_user(&store, "bob", "102"),
    );
    let ms: Vec<_> = (0..10).map(|i| msg(&store, &a, &[&b], 100 + i)).collect();
    let p1 = store.inbox_page(b.guid, None, 4).unwrap();
    let ids: Vec<_> = p1.items.iter().map(|(m, _)| m.id).collect();
    assert_eq!(ids, [ms[9].id, ms[8].id, ms[7].id, ms[6].id]);
    let cursor = p1.next.expect("more");
    assert_eq!(cursor, Cursor::of(&ms[6]));
    // The message the cursor names is deleted, one on the next page too, and a new one
    // arrives: the next page is still exactly what lay before the cursor.
    assert!(store.delete_for(ms[6].id, b.guid).unwrap());
    assert!(store.delete_for(ms[4].id, b.guid).unwrap());
    let newer = msg(&store, &a, &[&b], 500);
    let p2 = store.inbox_page(b.guid, Some(cursor), 4).unwrap();
    let ids: Vec<_> = p2.items.iter().map(|(m, _)| m.id).collect();
    assert_eq!(ids, [ms[5].id, ms[3].id, ms[2].id, ms[1].id]);
    assert_eq!(
        store.inbox_page(b.guid, None, 1).unwrap().items[0].0.id,
        newer.id
    );
    // Hidden by the sender: gone from their sent pages, still in bob's inbox.
    assert!(store.delete_for(ms[5].id, a.guid).unwrap());
    assert!(!all_sent(&store, a.guid, 3).contains(&ms[5].id));
    assert!(all_inbox(&store, b.guid, 3).0.contains(&ms[5].id));
    // Deleting a user unlists their side everywhere.
    store.delete_user(b.guid).unwrap();
    assert!(store.inbox_page(b.guid, None, 50).unwrap().items.is_empty());
    assert_eq!(store.list_counts(b.guid).unwrap(), ListCounts::default());
}

#[test]
fn counts_follow_states() {
    let dir = tempfile::tempdir().unwrap();
    let store = open(dir.path());
    let (a, b) = (
        add_user(&store, "alice", "101"),
        add_user(&store, "bob", "102"),
    );
    let ms: Vec<_> = (0..5).map(|i| msg(&store, &a, &[&b], 100 + i)).collect();
    assert_eq!(
        store.list_counts(b.guid).unwrap(),
        ListCounts {
            inbox: 5,
            unplayed: 5,
            sent: 0
        }
    );
    store
        .advance(ms[0].id, b.guid, MailboxState::Delivered)
        .unwrap();
    store
        .advance(ms[1].id, b.guid, MailboxState::Played)
        .unwrap();
    store.delete_for(ms[2].id, b.guid).unwrap();
    assert_eq!(
        store.list_counts(b.guid).unwrap(),
        ListCounts {
            inbox: 4,
            unplayed: 3,
            sent: 0
        }
    );
    store.delete_for(ms[3].id, a.guid).unwrap();
    assert_eq!(store.list_counts(a.guid).unwrap().sent, 4);
}

#[test]
fn receipts_of_several_recipients_are_one_batch() {
    let dir = tempfile::tempdir().unwrap();
    let store = open(dir.path());
    let (a, b, c, d) = (
        add_user(&store, "alice", "101"),
        add_user(&store, "bob", "102"),
        add_user(&store, "carol", "103"),
        add_user(&store, "dave", "104"),
    );
    let m = msg(&store, &a, &[&b, &c], 1);
    store.advance(m.id, c.guid, MailboxState::Played).unwrap();
    let got = store
        .advance_receipts(&[
            (b.guid, m.id, MailboxState::Played),
            (c.guid, m.id, MailboxState::Played),
            (d.guid, m.id, MailboxState::Played),
        ])
        .unwrap();
    assert_eq!(
        got,
        [
            Advanced::Done {
                sender: a.guid,
                changed: true
            },
            Advanced::Done {
                sender: a.guid,
                changed: false
            },
            Advanced::NotFound,
        ]
    );
    assert_eq!(
        store.mailbox_state(m.id, b.guid).unwrap(),
        Some(MailboxState::Played)
    );
    assert_eq!(store.mailbox_state(m.id, d.guid).unwrap(), None);
}

#[test]
fn a_batch_of_receipts_is_one_commit_answered_in_order() {
    let dir = tempfile::tempdir().unwrap();
    let store = open(dir.path());
    let (a, b, c) = (
        add_user(&store, "alice", "101"),
        add_user(&store, "bob", "102"),
        add_user(&store, "carol", "103"),
    );
    let m1 = msg(&store, &a, &[&b], 1);
    let m2 = msg(&store, &c, &[&b], 2);
    let not_bobs = msg(&store, &a, &[&c], 3);
    store.advance(m2.id, b.guid, MailboxState::Played).unwrap();
    let got = store
        .advance_many(
            b.guid,
            &[
                (m1.id, MailboxState::Delivered),
                (m2.id, MailboxState::Delivered),
                (not_bobs.id, MailboxState::Delivered),
                (Guid::new_v4(), MailboxState::Played),
                (m1.id, MailboxState::Played),
            ],
        )
        .unwrap();
    assert_eq!(
        got,
        [
            Advanced::Done {
                sender: a.guid,
                changed: true
            },
            Advanced::Done {
                sender: c.guid,
                changed: false
            },
            Advanced::NotFound,
            Advanced::NotFound,
            Advanced::Done {
                sender: a.guid,
                changed: true
            },
        ]
    );
    assert_eq!(
        store.mailbox_state(m1.id, b.guid).unwrap(),
        Some(MailboxState::Played)
    );
    assert_eq!(
        store.mailbox_state(not_bobs.id, c.guid).unwrap(),
        Some(MailboxState::Queued)
    );
    // Retried: done, nothing moves.
    let again = store
        .advance_many(b.guid, &[(m1.id, MailboxState::Played)])
        .unwrap();
    assert_eq!(
        again,
        [Advanced::Done {
            sender: a.guid,
            changed: false
        }]
    );
    // `deleted` is not a receipt: refused whole, nothing changed.
    let m3 = msg(&store, &a, &[&b], 4);
    let bad = store.advance_many(
        b.guid,
        &[
            (m3.id, MailboxState::Delivered),
            (m3.id, MailboxState::Deleted),
        ],
    );
    assert!(matches!(bad, Err(StoreError::Invalid(_))), "{bad:?}");
    assert_eq!(
        store.mailbox_state(m3.id, b.guid).unwrap(),
        Some(MailboxState::Queued)
    );
}
