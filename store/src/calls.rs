//! Call history: each user's calls between extensions, placed, received and missed, the
//! latest [`MAX_CALL_HISTORY`] per user. One call writes both users' entries in one commit.
//!
//! Rows are keyed by user ‖ a box-wide sequence number (big-endian), so one user's rows are
//! one key range in the order they were written and the newest is the last.

use ivm_wire::rest::{CallKind, CallRecord, MAX_CALL_HISTORY};
use ivm_wire::Guid;
use redb::{ReadableDatabase, ReadableTable, TableDefinition, WriteTransaction};

use crate::tables::{decode, encode, guid_key, META, USERS};
use crate::users::get_record;
use crate::{Store, StoreError};

/// user GUID ‖ sequence (u64 big-endian) → JSON [`CallRecord`].
pub(crate) const CALLS: TableDefinition<[u8; 24], &[u8]> = TableDefinition::new("calls");

/// `meta` key: the last sequence number given to a call history row.
const CALL_SEQ: &str = "call_seq";

fn row_key(user: Guid, seq: u64) -> [u8; 24] {
    let mut k = [0u8; 24];
    k[..16].copy_from_slice(&guid_key(user));
    k[16..].copy_from_slice(&seq.to_be_bytes());
    k
}

/// Drops `user`'s own history, in the commit that deletes them (others keep their entries
/// about the user, with the name and extension as they were).
pub(crate) fn forget_user(txn: &WriteTransaction, user: Guid) -> Result<(), StoreError> {
    let mut calls = txn.open_table(CALLS)?;
    calls.retain_in(row_key(user, 0)..=row_key(user, u64::MAX), |_, _| false)?;
    Ok(())
}

impl Store {
    /// Records a call from `caller` to `callee` (the user who answered, or the one it was for
    /// when nobody did): placed for the caller, received or missed for the callee. A user
    /// gone since is skipped; each user keeps their latest [`MAX_CALL_HISTORY`] entries.
    pub fn log_call(
        &self,
        caller: Guid,
        callee: Guid,
        answered: bool,
        at_ms: u64,
    ) -> Result<(), StoreError> {
        let txn = self.db.begin_write()?;
        {
            let users = txn.open_table(USERS)?;
            let (Some(from), Some(to)) = (get_record(&users, caller)?, get_record(&users, callee)?)
            else {
                return Ok(());
            };
            let entry = |kind, peer: &crate::User| CallRecord {
                at: at_ms,
                kind,
                answered,
                peer: peer.guid,
                peer_name: peer.name.clone(),
                peer_extension: peer.extension.clone(),
            };
            let rows = [
                (caller, entry(CallKind::Placed, &to.user)),
                (
                    callee,
                    entry(
                        if answered {
                            CallKind::Received
                        } else {
                            CallKind::Missed
                        },
                        &from.user,
                    ),
                ),
            ];
            let mut meta = txn.open_table(META)?;
            let mut seq = meta.get(CALL_SEQ)?.map_or(0, |v| v.value());
            let mut calls = txn.open_table(CALLS)?;
            for (user, rec) in rows {
                seq += 1;
                calls.insert(row_key(user, seq), encode(&rec)?.as_slice())?;
                let old: Vec<[u8; 24]> = calls
                    .range(row_key(user, 0)..=row_key(user, u64::MAX))?
                    .rev()
                    .skip(MAX_CALL_HISTORY)
                    .map(|r| r.map(|(k, _)| k.value()))
                    .collect::<Result<_, _>>()?;
                for k in old {
                    calls.remove(k)?;
                }
            }
            meta.insert(CALL_SEQ, seq)?;
        }
        txn.commit()?;
        Ok(())
    }

    /// `user`'s call history, newest first.
    pub fn calls(&self, user: Guid) -> Result<Vec<CallRecord>, StoreError> {
        let txn = self.db.begin_read()?;
        let calls = txn.open_table(CALLS)?;
        calls
            .range(row_key(user, 0)..=row_key(user, u64::MAX))?
            .rev()
            .map(|r| {
                let (_, v) = r?;
                decode("call", v.value())
            })
            .collect()
    }
}
