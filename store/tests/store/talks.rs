//! Pending talks: the journal's records survive a reopen, a torn last record is dropped, the
//! row goes with the message's commit, orphan files are swept.

use std::fs;
use std::io::Write;

use ivm_store::{CommitRules, StoredMessage};
use ivm_wire::Guid;

use super::{add_user, open};

fn journal_path(dir: &std::path::Path, id: Guid) -> std::path::PathBuf {
    dir.join("talks").join(id.simple().to_string())
}

#[test]
fn appended_records_survive_a_reopen_in_order() {
    let dir = tempfile::tempdir().unwrap();
    let (id, speaker, to) = {
        let store = open(dir.path());
        let (a, b) = (
            add_user(&store, "ann", "201"),
            add_user(&store, "bob", "202"),
        );
        let mut j = store.open_talk(a.guid, &[b.guid], 1234).unwrap();
        for i in 0..5u8 {
            store.append_talk(&mut j, &[i; 300]).unwrap();
        }
        store.append_talk(&mut j, &[]).unwrap();
        assert_eq!(j.bytes(), 1500);
        (j.id(), a.guid, b.guid)
        // Dropped without an end: what a crash leaves.
    };
    let store = open(dir.path());
    let pending = store.pending_talks().unwrap();
    assert_eq!(pending.len(), 1);
    let t = &pending[0];
    assert_eq!(
        (t.id, t.speaker, t.recipients.clone(), t.started_at),
        (id, speaker, vec![to], 1234)
    );
    let data = store.read_talk(t).unwrap();
    let want: Vec<u8> = (0..5u8).flat_map(|i| [i; 300]).collect();
    assert_eq!(data, want);
    // Encrypted at rest: the plaintext is nowhere in the file.
    let raw = fs::read(journal_path(dir.path(), id)).unwrap();
    assert!(!raw.windows(300).any(|w| w == [3u8; 300]));
}

#[test]
fn a_torn_last_record_is_dropped_and_the_rest_kept() {
    let dir = tempfile::tempdir().unwrap();
    let store = open(dir.path());
    let (a, b) = (
        add_user(&store, "ann", "201"),
        add_user(&store, "bob", "202"),
    );
    let mut j = store.open_talk(a.guid, &[b.guid], 1).unwrap();
    store.append_talk(&mut j, b"first").unwrap();
    store.append_talk(&mut j, b"second").unwrap();
    let path = journal_path(dir.path(), j.id());
    let full = fs::read(&path).unwrap();
    let t = store.pending_talks().unwrap().remove(0);
    // The second record is 4 + 6 + 16 bytes; cut anywhere inside it.
    for keep in 1..(4 + 6 + 16) {
        fs::write(&path, &full[..full.len() - keep]).unwrap();
        assert_eq!(store.read_talk(&t).unwrap(), b"first", "cut {keep}");
    }
    // A flipped bit in the last record fails its tag: dropped the same way.
    let mut bad = full.clone();
    let last = bad.len() - 1;
    bad[last] ^= 1;
    fs::write(&path, &bad).unwrap();
    assert_eq!(store.read_talk(&t).unwrap(), b"first");
    // Garbage after whole records (a torn length) ends the read too.
    let mut f = fs::OpenOptions::new().append(true).open(&path).unwrap();
    fs::write(&path, &full).unwrap();
    f.write_all(&[0xff, 0xff]).unwrap();
    assert_eq!(store.read_talk(&t).unwrap(), b"firstsecond");
    // The header alone, or less: nothing was said.
    fs::write(&path, &full[..16]).unwrap();
    assert_eq!(store.read_talk(&t).unwrap(), b"");
    fs::write(&path, &full[..7]).unwrap();
    assert_eq!(store.read_talk(&t).unwrap(), b"");
}

#[test]
fn the_message_commit_removes_the_row_and_end_talk_removes_both() {
    let dir = tempfile::tempdir().unwrap();
    let store = open(dir.path());
    let (a, b) = (
        add_user(&store, "ann", "201"),
        add_user(&store, "bob", "202"),
    );
    let j = store.open_talk(a.guid, &[b.guid], 1).unwrap();
    let other = store.open_talk(b.guid, &[a.guid], 1).unwrap();
    let msg = StoredMessage {
        id: Guid::new_v4(),
        sender: a.guid,
        recipients: vec![b.guid],
        created_at: 1,
        duration_ms: 1000,
        peaks: vec![1],
        audio: store.put_blob(b"ogg").unwrap(),
        attachments: Vec::new(),
        idempotency_key: None,
        partial: true,
        urgent: false,
    };
    let rules = CommitRules {
        talk: Some(j.id()),
        ..CommitRules::default()
    };
    store.commit_message_with(&msg, &rules).unwrap();
    let ids: Vec<Guid> = store
        .pending_talks()
        .unwrap()
        .iter()
        .map(|t| t.id)
        .collect();
    assert_eq!(ids, vec![other.id()]);
    // The file stays until the caller removes it; the sweep at start-up would too.
    assert!(journal_path(dir.path(), j.id()).exists());
    assert_eq!(store.remove_orphan_talks().unwrap(), 1);
    assert!(!journal_path(dir.path(), j.id()).exists());
    assert!(journal_path(dir.path(), other.id()).exists());
    store.end_talk(other.id()).unwrap();
    assert!(store.pending_talks().unwrap().is_empty());
    assert!(!journal_path(dir.path(), other.id()).exists());
    assert_eq!(store.remove_orphan_talks().unwrap(), 0);
}
