//! An administrator at every start: the first start's admin, and a new one whenever the box
//! finds itself without any, created with a random one-time password, which is handed to
//! the installer without ever being written to a log.
//!
//! "No administrator" rather than "no users": `ivmd user add` before the first `ivmd run`
//! used to leave a box with users and no admin, which nobody could manage from the web or
//! the API. If the name `admin` is taken by someone who is not an administrator, the new
//! one is `ivm-admin` (then `ivm-admin2`...), and the box says so. The store refuses to
//! remove or demote the last administrator, so once made, one stays.
//!
//! Under systemd, standard output is the journal: anything printed there is kept, readable by
//! whoever may read logs, and shipped wherever the journal goes. So the password is printed
//! only when standard output is a terminal (someone ran `ivmd run` by hand); it is always
//! written to `<data>/first-start-password` (mode 0600, only the box's own user reads it)
//! and shown on the front panel's idle screen. The file goes away once the admin's password
//! is no longer that one (changed by the admin, or reset from the panel or by another
//! admin), and stays across restarts until then, so a first start that failed after making
//! the admin (a port in use) does not lose the password.
//!
//! The file holds the password, the store's [`Store::password_stamp`] of it and the admin's
//! login name, so telling whether it is still current costs a record read, not an argon2
//! run.

use std::io::IsTerminal as _;
use std::path::{Path, PathBuf};

use ivm_store::{NewUser, Store, StoreError};

/// Name of the file that holds the first-start password, inside the data folder.
pub const PASSWORD_FILE: &str = "first-start-password";

/// Where the password file of `data` is.
pub fn password_file(data: &Path) -> PathBuf {
    data.join(PASSWORD_FILE)
}

/// The login name of the admin the box makes: `admin`, unless someone who is not an
/// administrator has it.
pub const ADMIN_NAME: &str = "admin";

/// Names tried, in order, when [`ADMIN_NAME`] is taken.
fn alternatives() -> impl Iterator<Item = String> {
    std::iter::once("ivm-admin".to_owned()).chain((2..=9).map(|i| format!("ivm-admin{i}")))
}

/// A free login name for the admin, and whether `admin` itself was taken.
fn free_name(store: &Store) -> anyhow::Result<(String, bool)> {
    if store.user_by_name(ADMIN_NAME)?.is_none() {
        return Ok((ADMIN_NAME.to_owned(), false));
    }
    for n in alternatives() {
        if store.user_by_name(&n)?.is_none() {
            return Ok((n, true));
        }
    }
    anyhow::bail!("no free name for an administrator (admin, ivm-admin, ivm-admin2..9 are taken)")
}

/// The first free extension from 100 (the first start's admin gets 100).
fn free_extension(store: &Store) -> anyhow::Result<String> {
    for n in (100..=999u32).chain(1000..=9999) {
        let e = n.to_string();
        if store.user_by_extension(&e)?.is_none() {
            return Ok(e);
        }
    }
    anyhow::bail!("no free extension for an administrator (100-9999 are taken)")
}

/// When the box has no administrator (its first start, or users added before it ever ran),
/// creates one with a random one-time password, writes it to [`PASSWORD_FILE`] and says
/// where it is. Otherwise, while that password has not been replaced, says so again.
pub fn ensure_admin(store: &Store) -> anyhow::Result<()> {
    let file = password_file(store.data_dir());
    if store.admin_count()? == 0 {
        let first = store.user_count()? == 0;
        let (name, admin_taken) = free_name(store)?;
        let extension = free_extension(store)?;
        let password = ivm_store::generate_password();
        // The password is written down before the admin exists: a crash between the two
        // leaves a file for nobody (replaced at the next start), never an admin whose
        // password was lost. Then again with the stamp that marks it current.
        crate::tls::write_atomic(&file, format!("{password}\n\n{name}\n").as_bytes())?;
        let admin = store.create_user_one_time(NewUser {
            name: name.clone(),
            extension: extension.clone(),
            display_name: Some("Administrator".into()),
            password: password.clone(),
            admin: true,
        })?;
        let stamp = store
            .password_stamp(admin.guid)?
            .map(hex)
            .unwrap_or_default();
        crate::tls::write_atomic(&file, format!("{password}\n{stamp}\n{name}\n").as_bytes())?;
        let what = if first {
            format!("first start: created user \"{name}\" (extension {extension})")
        } else {
            format!(
                "the box had no administrator: created user \"{name}\" (extension {extension}){}",
                if admin_taken {
                    " (the name \"admin\" belongs to a user who is not an administrator)"
                } else {
                    ""
                }
            )
        };
        announce(&file, &password, &what);
        return Ok(());
    }
    if let Some((name, password)) = pending_admin(store)? {
        // Not "first start": this start made nothing; it reminds of what one made.
        let what = format!("the administrator \"{name}\" has not chosen a password yet");
        announce(&file, &password, &what);
    }
    Ok(())
}

/// Tells the person starting the box where the password is: on a terminal the password
/// itself, otherwise (a service, its output in the journal) only where to read it.
fn announce(file: &Path, password: &str, what: &str) {
    if std::io::stdout().is_terminal() {
        println!("ivmd: {what}; its one-time password: {password}");
    } else {
        println!(
            "ivmd: {what}; its one-time password is in {} (readable by this user only) and on the front panel",
            file.display()
        );
    }
    println!("ivmd: this password works for one login: choose your own then (the web client asks; `ivm passwd`)");
}

/// The password the box made for its admin while it is still that admin's, read from its
/// file; removes the file (and answers `None`) once the password changed or the admin is
/// gone. Cheap (a file read and a record read): the front panel asks every few seconds.
pub fn pending(store: &Store) -> Result<Option<String>, StoreError> {
    Ok(pending_admin(store)?.map(|(_, p)| p))
}

/// [`pending`], with the admin's login name.
pub fn pending_admin(store: &Store) -> Result<Option<(String, String)>, StoreError> {
    let file = password_file(store.data_dir());
    let text = match std::fs::read_to_string(&file) {
        Ok(t) => t,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(e.into()),
    };
    let mut lines = text.lines();
    let (password, stamp) = (lines.next().unwrap_or_default(), lines.next());
    // Files written before the name was kept are for `admin`.
    let name = lines
        .next()
        .map(str::trim)
        .filter(|n| !n.is_empty())
        .unwrap_or(ADMIN_NAME)
        .to_owned();
    let current = match store.user_by_name(&name)? {
        Some(u) => store.password_stamp(u.guid)?.map(hex),
        None => None,
    };
    if stamp.is_none_or(str::is_empty) || stamp.map(str::to_owned) != current {
        match std::fs::remove_file(&file) {
            Ok(()) => {
                tracing::info!(file = %file.display(), "the first-start password is no longer the admin's: file removed")
            }
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
            Err(e) => return Err(e.into()),
        }
        return Ok(None);
    }
    Ok(Some(password.trim().to_owned())
        .filter(|p| !p.is_empty())
        .map(|p| (name, p)))
}

fn hex(bytes: [u8; 32]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn user(store: &Store, name: &str, ext: &str, admin: bool) {
        store
            .create_user(NewUser {
                name: name.into(),
                extension: ext.into(),
                display_name: None,
                password: "a-password-1".into(),
                admin,
            })
            .expect("user");
    }

    #[test]
    fn an_administrator_is_made_whenever_there_is_none() {
        let d = tempfile::tempdir().expect("tempdir");
        let store = Store::open(&d.path().join("data")).expect("store");
        // Users added before the first run; `admin` is one of them and no administrator.
        user(&store, "admin", "100", false);
        user(&store, "ann", "101", false);
        ensure_admin(&store).expect("ensure");
        let made = store
            .user_by_name("ivm-admin")
            .expect("read")
            .expect("made");
        assert!(made.admin && made.must_change_password);
        assert_eq!(made.extension, "102", "the first free extension from 100");
        let (name, password) = pending_admin(&store).expect("read").expect("pending");
        assert_eq!(name, "ivm-admin");
        assert_eq!(
            store
                .verify_password("ivm-admin", &password)
                .expect("verify")
                .map(|u| u.name),
            Some("ivm-admin".to_owned())
        );
        // With an administrator, nothing more is made.
        ensure_admin(&store).expect("again");
        assert_eq!(store.admin_count().expect("count"), 1);
        assert_eq!(store.user_count().expect("count"), 3);
        // Once that password is replaced the file goes.
        store
            .set_password(made.guid, "chosen-by-the-admin")
            .expect("passwd");
        assert_eq!(pending(&store).expect("read"), None);
        assert!(!password_file(store.data_dir()).exists());
    }

    #[test]
    fn a_file_from_before_the_name_was_kept_is_the_admins() {
        let d = tempfile::tempdir().expect("tempdir");
        let store = Store::open(&d.path().join("data")).expect("store");
        ensure_admin(&store).expect("first start");
        let text = std::fs::read_to_string(password_file(store.data_dir())).expect("file");
        let lines: Vec<&str> = text.lines().collect();
        assert_eq!(lines.len(), 3);
        assert_eq!(lines[2], "admin");
        // The older two-line file.
        std::fs::write(
            password_file(store.data_dir()),
            format!("{}\n{}\n", lines[0], lines[1]),
        )
        .expect("write");
        assert_eq!(
            pending_admin(&store).expect("read"),
            Some(("admin".to_owned(), lines[0].to_owned()))
        );
    }
}
