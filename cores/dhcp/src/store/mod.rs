//! [`LeaseStore`](crate::LeaseStore) implementations: in memory for tests, JSON lines on
//! disk for the box.

mod file;
mod memory;

pub use file::FileStore;
pub use memory::MemoryStore;
