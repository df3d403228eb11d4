//! Connecting to the cluster and creating what the global tier stores there.
//!
//! Streams and buckets are created by the services (idempotently, by whichever instance
//! starts first), never by boxes, whose permissions do not allow it.

use std::time::Duration;

use async_nats::jetstream::{self, kv, stream};
use ivm_wire::Guid;

use crate::config::{ConfigError, LinkConfig};
use crate::envelope::MAX_ENVELOPE;
use crate::subject;

/// How long JetStream keeps message ids for de-duplication: longer than any reconnect backoff,
/// so a publish retried after a lost ack is recognised.
pub const DUPLICATE_WINDOW: Duration = Duration::from_secs(3600);
/// The bytes each stream may hold; when full, publishes are refused (the sender keeps its
/// copy) rather than old messages dropped.
pub const STREAM_MAX_BYTES: i64 = 1 << 30;
/// How long a connection attempt may take.
pub const CONNECT_TIMEOUT: Duration = Duration::from_secs(5);

/// Why the cluster could not be reached or prepared.
#[derive(Debug, thiserror::Error)]
pub enum NatsError {
    /// The config is unusable.
    #[error(transparent)]
    Config(#[from] ConfigError),
    /// The seed file could not be read or holds no user seed.
    #[error("NKey seed file {0}: {1}")]
    Seed(String, String),
    /// The connection failed.
    #[error("connecting to the cluster: {0}")]
    Connect(#[from] async_nats::ConnectError),
    /// A stream could not be created.
    #[error("creating stream: {0}")]
    Stream(#[from] jetstream::context::CreateStreamError),
    /// A bucket could not be created.
    #[error("creating bucket: {0}")]
    Bucket(#[from] jetstream::context::CreateKeyValueError),
}

/// Connects with `config`'s CA and seed; `box_id` sets the reply-inbox prefix a box's
/// permissions require (services pass `None`).
pub async fn connect(
    config: &LinkConfig,
    name: &str,
    box_id: Option<Guid>,
) -> Result<async_nats::Client, NatsError> {
    config.check()?;
    let (Some(seed_file), Some(ca_file)) = (&config.seed_file, &config.ca_file) else {
        return Err(ConfigError::Missing("ca_file and seed_file").into());
    };
    let path = seed_file.clone();
    let seed = tokio::task::spawn_blocking(move || read_seed(&path))
        .await
        .map_err(|e| NatsError::Seed(seed_file.display().to_string(), e.to_string()))??;
    let mut options = async_nats::ConnectOptions::with_nkey(seed.trim().to_string())
        .add_root_certificates(ca_file.clone())
        .require_tls(true)
        .name(name)
        .connection_timeout(CONNECT_TIMEOUT);
    if let Some(id) = box_id {
        options = options.custom_inbox_prefix(subject::inbox_prefix(id));
    }
    Ok(options.connect(config.urls.clone()).await?)
}

/// Reads an NKey user seed from `path`, refusing a file that others than its owner can read
/// or write (like `ssh` with a private key: a seed that leaked is an identity anyone can use)
/// or that holds no user seed.
pub fn read_seed(path: &std::path::Path) -> Result<String, NatsError> {
    use std::os::unix::fs::PermissionsExt as _;
    let fail = |why: String| NatsError::Seed(path.display().to_string(), why);
    let mode = std::fs::metadata(path)
        .map_err(|e| fail(e.to_string()))?
        .permissions()
        .mode();
    if mode & 0o077 != 0 {
        return Err(fail(format!(
            "readable or writable by others (mode {:o}); chmod 600 it",
            mode & 0o777
        )));
    }
    let seed = std::fs::read_to_string(path).map_err(|e| fail(e.to_string()))?;
    if crate::perms::public_key_of(&seed).is_none() {
        return Err(fail("not an NKey user seed".into()));
    }
    Ok(seed)
}

/// Creates (or finds) the streams and buckets with `replicas` copies each (3 in a cluster).
///
/// One attempt: right after a cluster starts JetStream may have no meta leader yet, and two
/// instances starting together race to create the same bucket (the loser's create fails
/// although the bucket is there). The services retry their whole preparation until it
/// succeeds (`ivm_global_services::until_ready`), so a failure here is never final.
pub async fn ensure_storage(js: &jetstream::Context, replicas: usize) -> Result<(), NatsError> {
    for (name, subjects) in [
        (subject::OUT_STREAM, subject::OUT_SUBJECTS),
        (subject::IN_STREAM, subject::IN_SUBJECTS),
    ] {
        js.get_or_create_stream(stream::Config {
            name: name.into(),
            subjects: vec![subjects.into()],
            retention: stream::RetentionPolicy::WorkQueue,
            storage: stream::StorageType::File,
            num_replicas: replicas,
            duplicate_window: DUPLICATE_WINDOW,
            max_message_size: MAX_ENVELOPE as i32,
            max_bytes: STREAM_MAX_BYTES,
            discard: stream::DiscardPolicy::New,
            ..Default::default()
        })
        .await?;
    }
    for bucket in [subject::USERS_BUCKET, subject::BOXES_BUCKET] {
        if js.get_key_value(bucket).await.is_err() {
            js.create_key_value(kv::Config {
                bucket: bucket.into(),
                history: 1,
                max_value_size: 4096,
                max_bytes: 64 << 20,
                storage: stream::StorageType::File,
                num_replicas: replicas,
                ..Default::default()
            })
            .await?;
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::PermissionsExt as _;

    #[test]
    fn a_seed_readable_by_others_is_refused() {
        let dir = std::env::temp_dir().join(format!("ivm-seed-{}", std::process::id()));
        std::fs::create_dir_all(&dir).expect("dir");
        let path = dir.join("box.nk");
        let (seed, _) = crate::perms::new_user_key();
        std::fs::write(&path, &seed).expect("write");
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o644)).expect("chmod");
        assert!(matches!(read_seed(&path), Err(NatsError::Seed(_, why)) if why.contains("644")));
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o600)).expect("chmod");
        assert_eq!(read_seed(&path).expect("seed"), seed);
        std::fs::write(&path, "not a seed").expect("write");
        assert!(read_seed(&path).is_err());
        let _ = std::fs::remove_dir_all(&dir);
    }
}
