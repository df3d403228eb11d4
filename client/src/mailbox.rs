//! The local message database (the seed's client keeps recorded and received messages, with
//! their attachments, under unique ids): one folder per message, keyed by its id.
//!
//! ```text
//! <dir>/<id>/meta.json            the MessageInfo as the server sent it
//! <dir>/<id>/audio.opus           the Ogg Opus audio
//! <dir>/<id>/attachments/<name>   each attachment, under a sanitised name
//! ```
//!
//! Every file is written to a temp name in the same folder, fsynced and renamed, and the folder
//! is fsynced after, so a crash leaves either the old file or the new one, never half of one.
//! `meta.json` is written last: a folder without it is an unfinished save, and saving the same
//! message again (the server re-sends what it has no `delivered` for) simply completes or
//! rewrites it. Only after [`Mailbox::save`] returns does `ivm watch` send `delivered`.

use std::collections::HashSet;
use std::fs;
use std::io::Write;
use std::path::{Path, PathBuf};

use ivm_wire::rest::{AttachmentInfo, MessageInfo};
use ivm_wire::Guid;

/// Longest attachment file name kept, in bytes (most file systems allow 255).
const MAX_NAME: usize = 200;

/// Why a message could not be stored.
#[derive(Debug, thiserror::Error)]
pub enum MailboxError {
    /// A file or folder could not be written.
    #[error("cannot write {path}: {source}")]
    Io {
        /// The file or folder.
        path: PathBuf,
        /// What the OS said.
        source: std::io::Error,
    },
    /// The attachments given do not match the message's list.
    #[error("message {id} lists {expected} attachments but {got} were given")]
    AttachmentCount {
        /// The message.
        id: Guid,
        /// In `MessageInfo`.
        expected: usize,
        /// Given to `save`.
        got: usize,
    },
}

/// The message database rooted at one folder.
#[derive(Debug, Clone)]
pub struct Mailbox {
    root: PathBuf,
}

impl Mailbox {
    /// A database in `root` (created on the first save).
    pub fn new(root: impl Into<PathBuf>) -> Self {
        Mailbox { root: root.into() }
    }

    /// The root folder.
    pub fn root(&self) -> &Path {
        &self.root
    }

    /// The folder of message `id`.
    pub fn dir_of(&self, id: Guid) -> PathBuf {
        self.root.join(id.to_string())
    }

    /// Whether message `id` was stored completely (its `meta.json` exists).
    pub fn is_complete(&self, id: Guid) -> bool {
        self.dir_of(id).join("meta.json").is_file()
    }

    /// Stores a message: `attachments[i]` holds the bytes of `info.attachments[i]`.
    /// Returns the message's folder. Saving the same message twice gives the same files.
    pub fn save(
        &self,
        info: &MessageInfo,
        audio: &[u8],
        attachments: &[Vec<u8>],
    ) -> Result<PathBuf, MailboxError> {
        if attachments.len() != info.attachments.len() {
            return Err(MailboxError::AttachmentCount {
                id: info.id,
                expected: info.attachments.len(),
                got: attachments.len(),
            });
        }
        let dir = self.dir_of(info.id);
        let io = |path: &Path| {
            let path = path.to_owned();
            move |source| MailboxError::Io { path, source }
        };
        fs::create_dir_all(&dir).map_err(io(&dir))?;
        if !attachments.is_empty() {
            let adir = dir.join("attachments");
            fs::create_dir_all(&adir).map_err(io(&adir))?;
            for (name, bytes) in attachment_names(&info.attachments).iter().zip(attachments) {
                let path = adir.join(name);
                write_atomic(&path, bytes).map_err(io(&path))?;
            }
            sync_dir(&adir).map_err(io(&adir))?;
        }
        let audio_path = dir.join("audio.opus");
        write_atomic(&audio_path, audio).map_err(io(&audio_path))?;
        let meta_path = dir.join("meta.json");
        let meta = serde_json::to_vec_pretty(info).unwrap_or_default();
        write_atomic(&meta_path, &meta).map_err(io(&meta_path))?;
        sync_dir(&dir).map_err(io(&dir))?;
        sync_dir(&self.root).map_err(io(&self.root))?;
        Ok(dir)
    }
}

/// Writes `bytes` to `path` through a temp file in the same folder: write, fsync, rename.
/// The caller fsyncs the folder once it has renamed everything it writes there.
pub fn write_atomic(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    let dir = path
        .parent()
        .filter(|d| !d.as_os_str().is_empty())
        .unwrap_or(Path::new("."));
    let file_name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    let tmp = dir.join(format!(".{file_name}.tmp-{}", std::process::id()));
    let result = (|| {
        let mut f = fs::File::create(&tmp)?;
        f.write_all(bytes)?;
        f.sync_all()?;
        fs::rename(&tmp, path)
    })();
    if result.is_err() {
        let _ = fs::remove_file(&tmp);
    }
    result
}

/// fsync a folder so the renames in it survive a power cut.
pub fn sync_dir(dir: &Path) -> std::io::Result<()> {
    #[cfg(unix)]
    {
        fs::File::open(dir)?.sync_all()
    }
    #[cfg(not(unix))]
    {
        let _ = dir;
        Ok(())
    }
}

/// A server-given attachment name made safe to use as one file name in one folder: no path
/// separators, no `..` anywhere, no leading dot (hidden files, and our temp names), no control
/// characters, at most 200 bytes. The server checks names too; this does not trust it.
pub fn sanitize_name(name: &str, index: u32) -> String {
    let cleaned: String = name
        .chars()
        .map(|c| match c {
            '/' | '\\' | ':' | '\0' => '_',
            c if c.is_control() => '_',
            c => c,
        })
        .collect();
    let mut cleaned = cleaned;
    while cleaned.contains("..") {
        cleaned = cleaned.replace("..", "_");
    }
    let cleaned = cleaned.trim().trim_start_matches('.').trim();
    let mut out = String::new();
    for c in cleaned.chars() {
        if out.len() + c.len_utf8() > MAX_NAME {
            break;
        }
        out.push(c);
    }
    if out.is_empty() || out.chars().all(|c| c == '.' || c == '_') {
        return format!("attachment-{index}");
    }
    out
}

/// Safe, distinct file names for a message's attachments, in order: a name already taken gets
/// its index in front (`2-report.pdf`).
pub fn attachment_names(attachments: &[AttachmentInfo]) -> Vec<String> {
    let mut taken = HashSet::new();
    attachments
        .iter()
        .map(|a| {
            let mut name = sanitize_name(&a.name, a.index);
            if taken.contains(&name) {
                name = sanitize_name(&format!("{}-{name}", a.index), a.index);
            }
            while taken.contains(&name) {
                name = format!("_{name}");
            }
            taken.insert(name.clone());
            name
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use ivm_wire::MailboxState;

    fn info(attachments: &[&str]) -> MessageInfo {
        MessageInfo {
            id: Guid::new_v4(),
            sender: Guid::new_v4(),
            sender_name: "amy".into(),
            sender_display_name: "Amy".into(),
            recipients: vec![],
            created_at: 1_700_000_000_000,
            duration_ms: 1500,
            peaks: vec![1, 2, 3],
            audio_bytes: 4,
            attachments: attachments
                .iter()
                .enumerate()
                .map(|(i, n)| AttachmentInfo {
                    index: i as u32,
                    name: (*n).into(),
                    content_type: "text/plain".into(),
                    size: 1,
                })
                .collect(),
            state: Some(MailboxState::Queued),
            partial: false,
            urgent: false,
        }
    }

    fn listing(dir: &Path) -> Vec<String> {
        let mut out = Vec::new();
        let mut stack = vec![dir.to_owned()];
        while let Some(d) = stack.pop() {
            for e in fs::read_dir(&d).expect("lists").flatten() {
                let p = e.path();
                if p.is_dir() {
                    stack.push(p.clone());
                }
                out.push(
                    p.strip_prefix(dir)
                        .expect("inside")
                        .to_string_lossy()
                        .into_owned(),
                );
            }
        }
        out.sort();
        out
    }

    #[test]
    fn names_cannot_escape_the_folder() {
        assert_eq!(sanitize_name("report.pdf", 0), "report.pdf");
        assert_eq!(sanitize_name("../../etc/passwd", 0), "____etc_passwd");
        assert_eq!(sanitize_name("v1..2.txt", 0), "v1_2.txt");
        assert_eq!(sanitize_name("..", 3), "attachment-3");
        assert_eq!(sanitize_name(".", 3), "attachment-3");
        assert_eq!(sanitize_name("", 1), "attachment-1");
        assert_eq!(sanitize_name("/", 1), "attachment-1");
        assert_eq!(sanitize_name(".bashrc", 0), "bashrc");
        assert_eq!(sanitize_name("C:\\Users\\x.doc", 0), "C__Users_x.doc");
        assert_eq!(sanitize_name("a\nb\0c", 0), "a_b_c");
        let long = "é".repeat(300);
        let cut = sanitize_name(&long, 0);
        assert!(cut.len() <= MAX_NAME && cut.chars().all(|c| c == 'é'));
        for n in ["..", "../x", "a/../b", "x/..", "\\..\\"] {
            let s = sanitize_name(n, 0);
            assert!(
                !s.contains('/') && !s.contains('\\') && s != ".." && s != ".",
                "{n} -> {s}"
            );
        }
    }

    #[test]
    fn repeated_names_get_distinct_files() {
        let i = info(&["a.txt", "a.txt", "../a.txt", "1-a.txt"]);
        let names = attachment_names(&i.attachments);
        assert_eq!(names, ["a.txt", "1-a.txt", "__a.txt", "3-1-a.txt"]);
    }

    #[test]
    fn save_writes_the_layout_and_no_temp_files() {
        let dir = tempfile::tempdir().expect("tempdir");
        let mb = Mailbox::new(dir.path().join("messages"));
        let i = info(&["notes.txt", "../evil"]);
        assert!(!mb.is_complete(i.id));
        let at = mb
            .save(&i, b"OggS", &[b"hello".to_vec(), b"x".to_vec()])
            .expect("saves");
        assert_eq!(at, mb.dir_of(i.id));
        assert!(mb.is_complete(i.id));
        assert_eq!(
            listing(&at),
            [
                "attachments",
                "attachments/__evil",
                "attachments/notes.txt",
                "audio.opus",
                "meta.json"
            ]
        );
        assert_eq!(fs::read(at.join("audio.opus")).expect("reads"), b"OggS");
        assert_eq!(
            fs::read(at.join("attachments/notes.txt")).expect("reads"),
            b"hello"
        );
        let back: MessageInfo =
            serde_json::from_slice(&fs::read(at.join("meta.json")).expect("reads")).expect("json");
        assert_eq!(back, i);
    }

    #[test]
    fn saving_again_is_idempotent() {
        let dir = tempfile::tempdir().expect("tempdir");
        let mb = Mailbox::new(dir.path());
        let i = info(&["a.txt"]);
        let first = mb.save(&i, b"OggS1", &[b"a".to_vec()]).expect("saves");
        let before = listing(dir.path());
        let meta = fs::read(first.join("meta.json")).expect("reads");
        let second = mb
            .save(&i, b"OggS1", &[b"a".to_vec()])
            .expect("saves again");
        assert_eq!(first, second);
        assert_eq!(listing(dir.path()), before);
        assert_eq!(fs::read(second.join("meta.json")).expect("reads"), meta);
        assert_eq!(
            fs::read(second.join("audio.opus")).expect("reads"),
            b"OggS1"
        );
    }

    #[test]
    fn an_unfinished_save_is_completed_by_the_next() {
        let dir = tempfile::tempdir().expect("tempdir");
        let mb = Mailbox::new(dir.path());
        let i = info(&[]);
        // A crash after the audio but before meta.json: a leftover temp and no meta.
        let d = mb.dir_of(i.id);
        fs::create_dir_all(&d).expect("mkdir");
        fs::write(d.join("audio.opus"), b"Og").expect("writes");
        assert!(!mb.is_complete(i.id));
        mb.save(&i, b"OggS", &[]).expect("saves");
        assert!(mb.is_complete(i.id));
        assert_eq!(fs::read(d.join("audio.opus")).expect("reads"), b"OggS");
    }

    #[test]
    fn attachment_count_must_match() {
        let dir = tempfile::tempdir().expect("tempdir");
        let mb = Mailbox::new(dir.path());
        let i = info(&["a", "b"]);
        assert!(matches!(
            mb.save(&i, b"", &[b"a".to_vec()]),
            Err(MailboxError::AttachmentCount { .. })
        ));
    }

    #[test]
    fn write_atomic_replaces_whole_files() {
        let dir = tempfile::tempdir().expect("tempdir");
        let p = dir.path().join("f");
        write_atomic(&p, b"one").expect("writes");
        write_atomic(&p, b"two!").expect("writes");
        assert_eq!(fs::read(&p).expect("reads"), b"two!");
        assert_eq!(listing(dir.path()), ["f"]);
    }
}
